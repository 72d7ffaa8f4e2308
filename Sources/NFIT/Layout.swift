import OrderedJSON

/// A description of an NVDIMM host's NFIT: regions, their DIMMs in interleave order, and each
/// DIMM's flush hints. `flushctl nfit build` and VMM planning code turn it into a table with
/// ``makeTable()``. The JSON form is described in docs/nfit.md: ``parse(json:)`` reads it
/// (errors name the JSON path) and ``json`` writes it.
public struct NFITLayout: Sendable, Equatable {
    /// OEM ID, at most 6 ASCII characters (padded with spaces); default `"FLUSHC"`.
    public var oemID: String?
    /// OEM table ID, at most 8 ASCII characters; default `"FLUSHCTL"`.
    public var oemTableID: String?
    /// OEM revision; default 1.
    public var oemRevision: UInt32?
    /// Table revision; default 1.
    public var revision: UInt8?
    /// The regions, one SPA range each.
    public var regions: [Region]
    /// Platform capabilities: `nil` (no `"platform_capabilities"` key) writes no platform
    /// capabilities structure; otherwise one with highest capability 2 and these bits set.
    /// Linux derives a region's persistence domain from them (`memory_controller` for
    /// ``PlatformCapability/memoryControllerFlushOnPowerLoss``, `cpu_cache` for
    /// ``PlatformCapability/cpuCacheFlushOnPowerLoss``; `unknown` without the structure).
    public var platformCapabilities: [PlatformCapability]?

    /// A layout.
    public init(oemID: String? = nil, oemTableID: String? = nil, oemRevision: UInt32? = nil,
                revision: UInt8? = nil, regions: [Region], platformCapabilities: [PlatformCapability]? = nil) {
        self.oemID = oemID; self.oemTableID = oemTableID; self.oemRevision = oemRevision
        self.revision = revision; self.regions = regions; self.platformCapabilities = platformCapabilities
    }

    /// A platform capability bit, named as in `flushctl nfit --json`.
    public enum PlatformCapability: String, Sendable, Equatable, CaseIterable {
        /// Bit 0: CPU caches are flushed on power loss.
        case cpuCacheFlushOnPowerLoss = "cpu_cache_flush_on_power_loss"
        /// Bit 1: memory controller write queues are flushed on power loss.
        case memoryControllerFlushOnPowerLoss = "memory_controller_flush_on_power_loss"
        /// Bit 2: hardware memory mirroring.
        case memoryMirroring = "memory_mirroring"

        /// The named capabilities among `flags`, in bit order: how a host's platform
        /// capabilities structure carries over to a layout (pass its
        /// ``NFITPlatformCapabilities/effectiveCapabilities``, the bits the kernel reads).
        public static func named(in flags: NFITPlatformCapabilityFlags) -> [PlatformCapability] {
            allCases.filter { flags.contains($0.flag) }
        }

        /// The bit in the capabilities field.
        public var flag: NFITPlatformCapabilityFlags {
            switch self {
            case .cpuCacheFlushOnPowerLoss: return .cpuCacheFlushOnPowerLoss
            case .memoryControllerFlushOnPowerLoss: return .memoryControllerFlushOnPowerLoss
            case .memoryMirroring: return .memoryMirroring
            }
        }
    }

    /// The kind of memory a region is.
    public enum RegionType: String, Sendable, Equatable, CaseIterable {
        /// Persistent memory (the default): the persistent-memory SPA GUID, attributes WB|NV.
        case pmem
        /// Volatile memory: the volatile-memory SPA GUID, attribute WB.
        case volatile
    }

    /// A region: one SPA range interleaved across its DIMMs.
    public struct Region: Sendable, Equatable {
        /// System physical address of the range.
        public var base: UInt64
        /// Size in bytes; must be a nonzero multiple of the number of DIMMs.
        public var size: UInt64
        /// Kind; default ``RegionType/pmem``.
        public var type: RegionType?
        /// SPA range index; default the region's position in the list + 1.
        public var rangeIndex: UInt16?
        /// Proximity domain; default 0.
        public var proximityDomain: UInt32?
        /// The DIMMs in interleave position order.
        public var dimms: [DIMM]

        /// A region.
        public init(base: UInt64, size: UInt64, type: RegionType? = nil, rangeIndex: UInt16? = nil,
                    proximityDomain: UInt32? = nil, dimms: [DIMM]) {
            self.base = base; self.size = size; self.type = type; self.rangeIndex = rangeIndex
            self.proximityDomain = proximityDomain; self.dimms = dimms
        }
    }

    /// A DIMM's place in a region.
    public struct DIMM: Sendable, Equatable {
        /// The NFIT device handle (also the `_ADR` of the DIMM's ACPI device).
        public var handle: UInt32
        /// Flush hint addresses, each 8-byte aligned. `nil` (no `"hints"` key): the DIMM gets no
        /// flush hint structure; `[]`: a flush hint structure with no hint.
        public var hints: [UInt64]?

        /// A DIMM.
        public init(handle: UInt32, hints: [UInt64]? = nil) { self.handle = handle; self.hints = hints }
    }

    /// The interleave line size the builder writes (4 KiB): DIMM k of an N-way set starts at
    /// region offset k × 4096.
    public static let interleaveLineSize: UInt32 = 4096
}

/// A layout that cannot be read or built: the JSON path of the value and what is wrong with it.
public struct NFITLayoutError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The JSON path, e.g. `regions[1].dimms[0].hints[2]`; empty for the document as a whole.
    public var path: String
    /// What is wrong.
    public var message: String

    /// A layout error.
    public init(path: String, message: String) { self.path = path; self.message = message }

    /// `PATH: MESSAGE`, or just the message for the whole document.
    public var description: String { path.isEmpty ? message : "\(path): \(message)" }
}

// MARK: - The JSON form

extension NFITLayout {
    /// Parses the layout's JSON form (see docs/nfit.md). Strict: unknown keys, wrong types,
    /// and numbers that do not fit their field are errors naming the JSON path.
    public static func parse(json: [UInt8]) throws(NFITLayoutError) -> NFITLayout {
        let document: JSONValue
        do {
            document = try JSONReader.parse(json)
        } catch {
            throw NFITLayoutError(path: "", message: "invalid JSON at byte \(error.offset): \(error.message)")
        }
        do {
            return try layout(JSONField(document: document))
        } catch {
            throw NFITLayoutError(path: error.path, message: error.message)
        }
    }

    private static func layout(_ top: JSONField) throws(JSONFieldError) -> NFITLayout {
        _ = try top.members(known: ["oem_id", "oem_table_id", "oem_revision", "revision", "regions",
                                    "platform_capabilities"])
        guard top["regions"].isPresent else {
            throw top["regions"].error("is missing: a layout needs at least one region")
        }
        var regions: [Region] = []
        for r in try top["regions"].elements() {
            _ = try r.members(known: ["base", "size", "type", "range_index", "proximity_domain", "dimms"])
            for key in ["base", "size", "dimms"] where !r[key].isPresent { throw r[key].error("is missing") }
            var type: RegionType?
            if let t = r["type"].ifPresent {
                guard case .string(let text)? = t.value, let known = RegionType(rawValue: text) else {
                    throw t.error("must be \"pmem\" or \"volatile\", not \(t.kindName == "a string" ? t.described : t.kindName)")
                }
                type = known
            }
            var dimms: [DIMM] = []
            for d in try r["dimms"].elements() {
                _ = try d.members(known: ["handle", "hints"])
                guard d["handle"].isPresent else { throw d["handle"].error("is missing") }
                let hints = try d["hints"].ifPresent.map { (h) throws(JSONFieldError) in
                    try h.elements().map { (n) throws(JSONFieldError) in try n.unsigned(UInt64.self) }
                }
                dimms.append(DIMM(handle: try d["handle"].unsigned(UInt32.self), hints: hints))
            }
            regions.append(Region(
                base: try r["base"].unsigned(UInt64.self),
                size: try r["size"].unsigned(UInt64.self),
                type: type,
                rangeIndex: try r["range_index"].ifPresent.map { (n) throws(JSONFieldError) in try n.unsigned(UInt16.self) },
                proximityDomain: try r["proximity_domain"].ifPresent.map { (n) throws(JSONFieldError) in try n.unsigned(UInt32.self) },
                dimms: dimms))
        }
        return NFITLayout(
            oemID: try top["oem_id"].ifPresent.map { (n) throws(JSONFieldError) in try n.string() },
            oemTableID: try top["oem_table_id"].ifPresent.map { (n) throws(JSONFieldError) in try n.string() },
            oemRevision: try top["oem_revision"].ifPresent.map { (n) throws(JSONFieldError) in try n.unsigned(UInt32.self) },
            revision: try top["revision"].ifPresent.map { (n) throws(JSONFieldError) in try n.unsigned(UInt8.self) },
            regions: regions,
            platformCapabilities: try top["platform_capabilities"].ifPresent.map { (n) throws(JSONFieldError) in
                try n.elements().map { (c) throws(JSONFieldError) in
                    guard case .string(let text)? = c.value, let cap = PlatformCapability(rawValue: text) else {
                        let names = PlatformCapability.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", ")
                        throw c.error("\(c.kindName == "a string" ? c.described : c.kindName) is not one of \(names)")
                    }
                    return cap
                }
            })
    }

    /// The layout in its JSON form, as `flushctl plan` and `flushctl qemu` print a guest's
    /// (platform capabilities, then regions; handles as 4-digit hex). The OEM fields, a region's
    /// type, range index and proximity domain are written only when set.
    public var json: JSONValue {
        var members: [(String, JSONValue)] = []
        if let oemID { members.append(("oem_id", .string(oemID))) }
        if let oemTableID { members.append(("oem_table_id", .string(oemTableID))) }
        if let oemRevision { members.append(("oem_revision", .integer(oemRevision))) }
        if let revision { members.append(("revision", .integer(revision))) }
        if let platformCapabilities {
            members.append(("platform_capabilities", .array(platformCapabilities.map { .string($0.rawValue) })))
        }
        members.append(("regions", .array(regions.map { region in
            var r: [(String, JSONValue)] = [("base", .hex(region.base)), ("size", .hex(region.size))]
            if let type = region.type { r.append(("type", .string(type.rawValue))) }
            if let index = region.rangeIndex { r.append(("range_index", .integer(index))) }
            if let domain = region.proximityDomain { r.append(("proximity_domain", .integer(domain))) }
            r.append(("dimms", .array(region.dimms.map { dimm in
                let digits = String(dimm.handle, radix: 16)
                var d: [(String, JSONValue)] = [
                    ("handle", .string("0x" + String(repeating: "0", count: max(0, 4 - digits.count)) + digits)),
                ]
                if let hints = dimm.hints { d.append(("hints", .array(hints.map { .hex($0) }))) }
                return .object(d)
            })))
            return .object(r)
        })))
        return .object(members)
    }
}

// MARK: - Building the table

extension NFITLayout {
    /// Builds the table: per region a SPA range; per (region, DIMM) a memory device map (DIMM k of
    /// an N-way set: region size / N bytes at region offset k × ``interleaveLineSize``, DPA after
    /// the DIMM's earlier regions); per region with N > 1 an interleave structure (one 4 KiB line
    /// per DIMM per cycle); per distinct DIMM a control region (vendor 0x8086, device 0x0001,
    /// format 0x0301 as QEMU writes, serial = handle XOR 0xF1C70000); per distinct DIMM with a
    /// `hints` key a flush hint structure; with ``platformCapabilities``, a platform capabilities
    /// structure last. The result is sealed: length and checksum are right.
    ///
    /// Throws, naming the JSON path: no regions, a region without DIMMs, zero size, a size not
    /// divisible by the number of DIMMs, a range that wraps past 2^64, a duplicate range index or
    /// range index 0, a DIMM twice in one region, a hint address not 8-byte aligned, more hints or
    /// DIMMs than the fields hold, differing hint lists for one handle, OEM IDs too long or not ASCII.
    public func makeTable() throws(NFITLayoutError) -> NFITTable {
        if let id = oemID { try checkIdentifier(id, width: 6, path: "oem_id") }
        if let id = oemTableID { try checkIdentifier(id, width: 8, path: "oem_table_id") }
        guard !regions.isEmpty else { throw NFITLayoutError(path: "regions", message: "is empty: a layout needs at least one region") }

        // Distinct DIMMs in first-seen order, and their hint lists.
        var order: [UInt32] = []
        var known = Set<UInt32>()
        var hintsOf: [UInt32: (hints: [UInt64], path: String)] = [:]
        var rangeIndexes: [UInt16: Int] = [:]
        for (i, region) in regions.enumerated() {
            let p = "regions[\(i)]"
            if region.size == 0 { throw NFITLayoutError(path: "\(p).size", message: "is 0: a region needs a nonzero size") }
            if region.base > UInt64.max - (region.size - 1) {
                throw NFITLayoutError(path: "\(p).size", message: "\(hex(region.size)) from base \(hex(region.base)) runs past the end of the address space")
            }
            if region.dimms.isEmpty { throw NFITLayoutError(path: "\(p).dimms", message: "is empty: a region needs at least one DIMM") }
            if region.dimms.count > Int(UInt16.max) {
                throw NFITLayoutError(path: "\(p).dimms", message: "has \(region.dimms.count) DIMMs; interleave ways holds at most 65535")
            }
            if region.size % UInt64(region.dimms.count) != 0 {
                throw NFITLayoutError(path: "\(p).size", message: "\(hex(region.size)) is not divisible by the number of DIMMs (\(region.dimms.count))")
            }
            let rangeIndex = try self.rangeIndex(of: i)
            if rangeIndex == 0 { throw NFITLayoutError(path: "\(p).range_index", message: "is 0, which ACPI reserves") }
            if let earlier = rangeIndexes[rangeIndex] {
                throw NFITLayoutError(path: "\(p).range_index", message: "\(rangeIndex) is also the range index of regions[\(earlier)]")
            }
            rangeIndexes[rangeIndex] = i
            var inRegion = Set<UInt32>()
            for (j, dimm) in region.dimms.enumerated() {
                let dp = "\(p).dimms[\(j)]"
                if !inRegion.insert(dimm.handle).inserted {
                    throw NFITLayoutError(path: "\(dp).handle", message: "\(hex(dimm.handle)) appears twice in this region")
                }
                if known.insert(dimm.handle).inserted { order.append(dimm.handle) }
                guard let hints = dimm.hints else { continue }
                let maxHints = (Int(UInt16.max) - NFITFlushHintAddress.minimumLength) / 8
                if hints.count > maxHints {
                    throw NFITLayoutError(path: "\(dp).hints", message: "has \(hints.count) hints; a flush hint structure holds at most \(maxHints)")
                }
                for (k, h) in hints.enumerated() where h % 8 != 0 {
                    throw NFITLayoutError(path: "\(dp).hints[\(k)]", message: "\(hex(h)) is not 8-byte aligned")
                }
                if let earlier = hintsOf[dimm.handle], earlier.hints != hints {
                    throw NFITLayoutError(path: "\(dp).hints", message: "differ from the hints of the same DIMM (handle \(hex(dimm.handle))) at \(earlier.path)")
                }
                if hintsOf[dimm.handle] == nil { hintsOf[dimm.handle] = (hints, "\(dp).hints") }
            }
        }
        if order.count > Int(UInt16.max) {
            throw NFITLayoutError(path: "regions", message: "name \(order.count) distinct DIMMs; control region indexes hold at most 65535")
        }
        let ordinal = Dictionary(uniqueKeysWithValues: order.enumerated().map { ($1, $0) })

        var spas: [NFITSubtable] = []
        var maps: [NFITSubtable] = []
        var interleaves: [NFITSubtable] = []
        var dpaUsed: [UInt32: UInt64] = [:]
        var regionsOnDIMM: [UInt32: UInt16] = [:]
        for (i, region) in regions.enumerated() {
            let type = region.type ?? .pmem
            let rangeIndex = try self.rangeIndex(of: i)
            spas.append(.spaRange(NFITSPARange(
                rangeIndex: rangeIndex, flags: [.proximityDomainValid], proximityDomain: region.proximityDomain ?? 0,
                rangeType: type == .pmem ? .persistentMemory : .volatileMemory,
                base: region.base, length: region.size,
                memoryMappingAttribute: type == .pmem ? 0x8008 : 0x8)))  // EFI_MEMORY_WB (| EFI_MEMORY_NV)
            let ways = region.dimms.count
            var interleaveIndex: UInt16 = 0
            if ways > 1 {
                interleaveIndex = UInt16(interleaves.count + 1)
                interleaves.append(.interleave(NFITInterleave(
                    interleaveIndex: interleaveIndex, lineSize: NFITLayout.interleaveLineSize, lineOffsets: [0])))
            }
            let share = region.size / UInt64(ways)
            for (k, dimm) in region.dimms.enumerated() {
                let dpa = dpaUsed[dimm.handle, default: 0]
                let (next, overflow) = dpa.addingReportingOverflow(share)
                if overflow {
                    throw NFITLayoutError(path: "regions[\(i)].dimms[\(k)]", message: "DIMM \(hex(dimm.handle)) would need more than 2^64 bytes")
                }
                dpaUsed[dimm.handle] = next
                let regionID = regionsOnDIMM[dimm.handle, default: 0]
                regionsOnDIMM[dimm.handle] = regionID &+ 1
                let n = UInt16(ordinal[dimm.handle] ?? 0)
                maps.append(.memoryDeviceMap(NFITMemoryDeviceMap(
                    deviceHandle: NFITDeviceHandle(rawValue: dimm.handle), physicalID: n, regionID: regionID,
                    rangeIndex: rangeIndex, controlRegionIndex: n + 1, regionSize: share,
                    regionOffset: ways > 1 ? UInt64(k) * UInt64(NFITLayout.interleaveLineSize) : 0,
                    address: dpa, interleaveIndex: interleaveIndex, interleaveWays: UInt16(ways))))
            }
        }
        var controls: [NFITSubtable] = []
        var flushes: [NFITSubtable] = []
        for (n, handle) in order.enumerated() {
            controls.append(.controlRegion(NFITControlRegion(
                regionIndex: UInt16(n + 1), vendorID: 0x8086, deviceID: 0x0001, revisionID: 0x0001,
                subsystemVendorID: 0x8086, subsystemDeviceID: 0x0001, subsystemRevisionID: 0x0001,
                serialNumber: handle ^ 0xF1C7_0000, formatInterfaceCode: 0x0301,
                windowCount: 0, blockControl: NFITBlockControlWindows())))
            if let hints = hintsOf[handle] {
                flushes.append(.flushHintAddress(NFITFlushHintAddress(
                    deviceHandle: NFITDeviceHandle(rawValue: handle), hintAddresses: hints.hints)))
            }
        }
        let header = ACPITableHeader(
            revision: revision ?? 1, oemID: oemID ?? "FLUSHC", oemTableID: oemTableID ?? "FLUSHCTL",
            oemRevision: oemRevision ?? 1)
        var capabilities: [NFITSubtable] = []
        if let caps = platformCapabilities {
            let flags = caps.reduce(into: NFITPlatformCapabilityFlags()) { $0.insert($1.flag) }
            capabilities.append(.platformCapabilities(NFITPlatformCapabilities(highestCapability: 2, capabilities: flags)))
        }
        let table = NFITTable(header: header, subtables: spas + maps + interleaves + controls + flushes + capabilities)
        do {
            return try table.sealed()
        } catch {
            throw NFITLayoutError(path: "", message: "the table does not fit: \(error)")
        }
    }

    private func rangeIndex(of i: Int) throws(NFITLayoutError) -> UInt16 {
        if let r = regions[i].rangeIndex { return r }
        guard i + 1 <= Int(UInt16.max) else {
            throw NFITLayoutError(path: "regions[\(i)]", message: "needs a range_index: its position does not fit 16 bits")
        }
        return UInt16(i + 1)
    }

    private func checkIdentifier(_ id: String, width: Int, path: String) throws(NFITLayoutError) {
        guard id.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7f }) else {
            throw NFITLayoutError(path: path, message: "\"\(id)\" must be printable ASCII")
        }
        guard id.utf8.count <= width else {
            throw NFITLayoutError(path: path, message: "\"\(id)\" is longer than \(width) characters")
        }
    }
}
