import OrderedJSON
import NFIT

// The JSON of `flushctl list` (and of the cache's `topology`): one function per object type, keys and order as ndctl 76's
// util_*_to_json, then flushctl's own keys. `-u` changes how numbers print, not which keys.

/// The whole output, laid out as ndctl's list_display: buses as an array; else, when more than
/// one kind is listed, an object {"dimms", "regions", "namespaces"}; else the one array. An
/// array of one element prints as that element only with `-u`, as in ndctl.
public func listingToJSON(_ listing: Listing) -> JSONValue {
    let o = listing.options
    func display(_ array: [JSONValue]) -> JSONValue {
        (o.human && array.count == 1) ? array[0] : .array(array)
    }
    if let buses = listing.buses {
        return display(buses.map { busEntryToJSON($0, o) })
    }
    let kinds = [listing.dimms != nil, listing.regions != nil, listing.namespaces != nil].filter { $0 }.count
    if kinds > 1 {
        var members: [(String, JSONValue)] = []
        if let d = listing.dimms { members.append(("dimms", .array(d.map { dimmToJSON($0, o) }))) }
        if let r = listing.regions { members.append(("regions", .array(r.map { regionEntryToJSON($0, o) }))) }
        if let n = listing.namespaces, listing.regions == nil {
            members.append(("namespaces", .array(n.map { namespaceToJSON($0, o) })))
        }
        return .object(members)
    }
    if let d = listing.dimms { return display(d.map { dimmToJSON($0, o) }) }
    if let r = listing.regions { return display(r.map { regionEntryToJSON($0, o) }) }
    if let n = listing.namespaces { return display(n.map { namespaceToJSON($0, o) }) }
    return .array([])
}

/// A size: plain bytes, or ndctl's "126.00 GiB (135.29 GB)" with `-u` (from 5000 KiB up).
public func sizeJSON(_ bytes: UInt64, _ o: ListOptions) -> JSONValue {
    if o.human, let text = NdctlFormat.humanSize(bytes) { return .string(text) }
    return .integer(bytes)
}

/// A number ndctl shows in hex with `-u` (handles, offsets, cookies), decimal otherwise.
public func hexableJSON(_ value: UInt64, _ o: ListOptions) -> JSONValue {
    o.human ? .string(NdctlFormat.hex(value)) : .integer(value)
}

public func busEntryToJSON(_ entry: Listing.BusEntry, _ o: ListOptions) -> JSONValue {
    guard case .object(var members) = busToJSON(entry.bus, o) else { return .null }
    if let d = entry.dimms { members.append(("dimms", .array(d.map { dimmToJSON($0, o) }))) }
    if let r = entry.regions { members.append(("regions", .array(r.map { regionEntryToJSON($0, o) }))) }
    if let n = entry.namespaces { members.append(("namespaces", .array(n.map { namespaceToJSON($0, o) }))) }
    return .object(members)
}

public func busToJSON(_ bus: Bus, _ o: ListOptions) -> JSONValue {
    var m: [(String, JSONValue)] = [("provider", .string(bus.provider)), ("dev", .string(bus.dev))]
    if let active = bus.scrubActive { m.append(("scrub_state", .string(active ? "active" : "idle"))) }
    return .object(m)
}

public func dimmToJSON(_ dimm: DIMM, _ o: ListOptions) -> JSONValue {
    var m: [(String, JSONValue)] = [("dev", .string(dimm.dev))]
    if let id = dimm.uniqueID { m.append(("id", .string(id))) }
    if let handle = dimm.handle { m.append(("handle", hexableJSON(UInt64(handle), o))) }
    if let phys = dimm.physID { m.append(("phys_id", hexableJSON(UInt64(phys), o))) }
    if !dimm.enabled { m.append(("state", .string("disabled"))) }
    let flagKeys: [(DIMMFlags, String)] = [
        (.failedMap, "flag_failed_map"), (.failedSave, "flag_failed_save"), (.failedArm, "flag_failed_arm"),
        (.failedRestore, "flag_failed_restore"), (.failedFlush, "flag_failed_flush"), (.smartEvent, "flag_smart_event"),
    ]
    for (flag, key) in flagKeys where dimm.flags.contains(flag) { m.append((key, .bool(true))) }
    if let security = dimm.security { m.append(("security", .string(security.rawValue))) }
    if dimm.securityFrozen { m.append(("security_frozen", .bool(true))) }
    if let hints = dimm.flushHints { m.append(("flush_hints", .array(hints.map { .hex($0) }))) }
    return .object(m)
}

public func regionEntryToJSON(_ entry: Listing.RegionEntry, _ o: ListOptions) -> JSONValue {
    let r = entry.region
    var m: [(String, JSONValue)] = [("dev", .string(r.dev)), ("size", sizeJSON(r.size, o))]
    if let align = r.align { m.append(("align", sizeJSON(align, o))) }
    m.append(("available_size", sizeJSON(r.availableSize, o)))
    if let extent = r.maxAvailableExtent { m.append(("max_available_extent", sizeJSON(extent, o))) }
    // ndctl fails the region when its type is neither pmem nor blk; flushctl shows "unknown".
    m.append(("type", .string(r.type?.rawValue ?? "unknown")))
    if o.verbose > 0, let numa = r.numaNode { m.append(("numa_node", .integer(numa))) }
    if o.verbose > 0, let target = r.targetNode { m.append(("target_node", .integer(target))) }
    if let cookie = r.interleaveSetCookie { m.append(("iset_id", hexableJSON(cookie, o))) }
    if let mappings = entry.mappings { m.append(("mappings", .array(mappings.map { mappingToJSON($0, o) }))) }
    if !r.enabled { m.append(("state", .string("disabled"))) }
    if r.badblockCount > 0 { m.append(("badblock_count", .integer(r.badblockCount))) }
    m.append(("persistence_domain", .string(r.persistenceDomain.rawValue)))
    if let resource = r.resource { m.append(("resource", .hex(resource))) }
    if let deep = r.deepFlush { m.append(("deep_flush", .integer(deep))) }
    if let pages = r.flushHintPages { m.append(("flush_hint_pages", .array(pages.map { flushHintPageToJSON($0, o) }))) }
    if let namespaces = entry.namespaces { m.append(("namespaces", .array(namespaces.map { namespaceToJSON($0, o) }))) }
    return .object(m)
}

public func mappingToJSON(_ mapping: Mapping, _ o: ListOptions) -> JSONValue {
    var m: [(String, JSONValue)] = [
        ("dimm", .string(mapping.dimm)),
        ("offset", hexableJSON(mapping.offset, o)),
        ("length", hexableJSON(mapping.length, o)),
    ]
    if let position = mapping.position { m.append(("position", .integer(position))) }
    return .object(m)
}

public func flushHintPageToJSON(_ page: FlushHintPage, _ o: ListOptions) -> JSONValue {
    .object([
        ("page", .hex(page.page)),
        ("size", .integer(page.size)),
        ("hints", .array(page.hints.map { .object([("dimm", .string($0.dimm)), ("offset", hexableJSON($0.offset, o))]) })),
        ("shared_with", .array(page.sharedWith.map { .string($0) })),
    ])
}

public func namespaceToJSON(_ ns: Namespace, _ o: ListOptions) -> JSONValue {
    var m: [(String, JSONValue)] = [("dev", .string(ns.dev))]
    if let mode = ns.mode { m.append(("mode", .string(mode.rawValue))) }
    if let map = ns.map { m.append(("map", .string(map.rawValue))) }
    if let size = ns.size { m.append(("size", sizeJSON(size, o))) }
    if let uuid = ns.uuid { m.append(("uuid", .string(uuid))) }
    if o.verbose > 0, let raw = ns.rawUUID { m.append(("raw_uuid", .string(raw))) }
    if o.deviceDax, let region = ns.daxRegion {
        m.append(("daxregion", daxRegionToJSON(region, o)))
    } else if let chardev = ns.chardev {
        m.append(("chardev", .string(chardev)))
    }
    if let sector = ns.sectorSize { m.append(("sector_size", .integer(sector))) }
    if let align = ns.align { m.append(("align", .integer(align))) }
    if let blockdev = ns.blockdev { m.append(("blockdev", .string(blockdev))) }
    if !ns.enabled { m.append(("state", .string("disabled"))) }
    if let name = ns.name { m.append(("name", .string(name))) }
    if o.verbose > 0, let numa = ns.numaNode { m.append(("numa_node", .integer(numa))) }
    if o.verbose > 0, let target = ns.targetNode { m.append(("target_node", .integer(target))) }
    return .object(m)
}

public func daxRegionToJSON(_ region: DaxRegion, _ o: ListOptions) -> JSONValue {
    var m: [(String, JSONValue)] = [("id", .integer(region.id))]
    if let size = region.size { m.append(("size", sizeJSON(size, o))) }
    if region.availableSize > 0 { m.append(("available_size", sizeJSON(region.availableSize, o))) }
    if let align = region.align { m.append(("align", .integer(align))) }
    // Without -i/-c ndctl leaves out instances of size 0 (unconfigured seeds).
    let devices = region.devices.filter { o.idle || o.configured || $0.size > 0 }
    if !devices.isEmpty { m.append(("devices", .array(devices.map { daxDeviceToJSON($0, o) }))) }
    return .object(m)
}

public func daxDeviceToJSON(_ dev: DaxDevice, _ o: ListOptions) -> JSONValue {
    var m: [(String, JSONValue)] = [("chardev", .string(dev.chardev)), ("size", sizeJSON(dev.size, o))]
    if let target = dev.targetNode { m.append(("target_node", .integer(target))) }
    if let align = dev.align { m.append(("align", sizeJSON(align, o))) }
    m.append(("mode", .string(dev.systemRAM ? "system-ram" : "devdax")))
    if !dev.enabled { m.append(("state", .string("disabled"))) }
    return .object(m)
}
