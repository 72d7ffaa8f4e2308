import CNdctl
import SystemPackage

/// A libndctl library context (`struct ndctl_ctx`), owning its reference.
///
/// Every bus, DIMM, region and namespace handle libndctl gives out lives inside the context
/// that produced it, so the typed handles below are only used while this object is alive
/// (inside ``Topology/read(context:)``); what leaves that walk is a plain ``Topology`` value.
public final class NdctlContext {
    /// The `struct ndctl_ctx *`; valid until `deinit`.
    internal let pointer: OpaquePointer

    /// Opens a context (`ndctl_new`). This reads nothing yet: libndctl scans
    /// `/sys/bus/nd` lazily, when the buses are first asked for.
    ///
    /// - Throws: the `Errno` libndctl returned (for example `ENOMEM`).
    public init() throws(Errno) {
        var ctx: OpaquePointer?
        try ndctlCheck(ndctl_new(&ctx))
        guard let ctx else { throw Errno.noMemory }
        pointer = ctx
    }

    deinit {
        ndctl_unref(pointer)
    }

    /// The buses (`ndctl_bus_foreach`); empty on a host without libnvdimm buses.
    internal var buses: [NdctlBus] {
        NdctlList(first: ndctl_bus_get_first(pointer), next: { ndctl_bus_get_next($0) })
            .map(NdctlBus.init)
    }
}

/// `struct ndctl_bus *`, valid while its ``NdctlContext`` lives.
internal struct NdctlBus {
    let pointer: OpaquePointer

    var id: UInt32 { ndctl_bus_get_id(pointer) }
    var provider: String { ndctlString(ndctl_bus_get_provider(pointer)) ?? "" }
    var devname: String { ndctlString(ndctl_bus_get_devname(pointer)) ?? "" }
    /// `ndctl_bus_get_scrub_state`: negative when the bus has no scrub attribute.
    var scrubState: CInt { ndctl_bus_get_scrub_state(pointer) }

    var dimms: [NdctlDimm] {
        NdctlList(first: ndctl_dimm_get_first(pointer), next: { ndctl_dimm_get_next($0) })
            .map(NdctlDimm.init)
    }
    var regions: [NdctlRegion] {
        NdctlList(first: ndctl_region_get_first(pointer), next: { ndctl_region_get_next($0) })
            .map(NdctlRegion.init)
    }
}

/// `struct ndctl_dimm *`.
internal struct NdctlDimm {
    let pointer: OpaquePointer

    var id: UInt32 { ndctl_dimm_get_id(pointer) }
    var devname: String { ndctlString(ndctl_dimm_get_devname(pointer)) ?? "" }
    /// The NFIT device handle; `UINT_MAX` when unknown.
    var handle: UInt32 { ndctl_dimm_get_handle(pointer) }
    /// The SMBIOS physical id; `USHRT_MAX` when unknown.
    var physID: UInt16 { ndctl_dimm_get_phys_id(pointer) }
    var uniqueID: String? { ndctlString(ndctl_dimm_get_unique_id(pointer)) }
    var isEnabled: Bool { ndctl_dimm_is_enabled(pointer) != 0 }
    var failedMap: Bool { ndctl_dimm_failed_map(pointer) != 0 }
    var failedSave: Bool { ndctl_dimm_failed_save(pointer) != 0 }
    var failedArm: Bool { ndctl_dimm_failed_arm(pointer) != 0 }
    var failedRestore: Bool { ndctl_dimm_failed_restore(pointer) != 0 }
    var failedFlush: Bool { ndctl_dimm_failed_flush(pointer) != 0 }
    var smartPending: Bool { ndctl_dimm_smart_pending(pointer) != 0 }
    var security: ndctl_security_state { ndctl_dimm_get_security(pointer) }
    var securityIsFrozen: Bool { ndctl_dimm_security_is_frozen(pointer) }
}

/// `struct ndctl_region *`.
internal struct NdctlRegion {
    let pointer: OpaquePointer

    var id: UInt32 { ndctl_region_get_id(pointer) }
    var devname: String { ndctlString(ndctl_region_get_devname(pointer)) ?? "" }
    var size: UInt64 { UInt64(ndctl_region_get_size(pointer)) }
    var availableSize: UInt64 { UInt64(ndctl_region_get_available_size(pointer)) }
    var maxAvailableExtent: UInt64 { UInt64(ndctl_region_get_max_available_extent(pointer)) }
    var align: UInt64 { UInt64(ndctl_region_get_align(pointer)) }
    var resource: UInt64 { UInt64(ndctl_region_get_resource(pointer)) }
    var type: UInt32 { ndctl_region_get_type(pointer) }
    var numaNode: CInt { ndctl_region_get_numa_node(pointer) }
    var targetNode: CInt { ndctl_region_get_target_node(pointer) }
    var interleaveWays: UInt32 { ndctl_region_get_interleave_ways(pointer) }
    var isEnabled: Bool { ndctl_region_is_enabled(pointer) != 0 }
    var persistenceDomain: ndctl_persistence_domain { ndctl_region_get_persistence_domain(pointer) }
    /// The interleave-set cookie, when the region has an interleave set.
    var interleaveSetCookie: UInt64? {
        guard let iset = ndctl_region_get_interleave_set(pointer) else { return nil }
        return UInt64(ndctl_interleave_set_get_cookie(iset))
    }
    var mappings: [NdctlMapping] {
        NdctlList(first: ndctl_mapping_get_first(pointer), next: { ndctl_mapping_get_next($0) })
            .map(NdctlMapping.init)
    }
    var namespaces: [NdctlNamespace] {
        NdctlList(first: ndctl_namespace_get_first(pointer), next: { ndctl_namespace_get_next($0) })
            .map(NdctlNamespace.init)
    }
    /// The sum of the lengths of the region's known bad blocks (in 512-byte sectors).
    var badblockCount: UInt64 {
        var total: UInt64 = 0
        var bb = ndctl_region_get_first_badblock(pointer)
        while let record = bb {
            total &+= UInt64(record.pointee.len)
            bb = ndctl_region_get_next_badblock(pointer)
        }
        return total
    }
}

/// `struct ndctl_mapping *`: one DIMM's extent in a region.
internal struct NdctlMapping {
    let pointer: OpaquePointer

    var dimm: NdctlDimm? { ndctl_mapping_get_dimm(pointer).map(NdctlDimm.init) }
    var offset: UInt64 { UInt64(ndctl_mapping_get_offset(pointer)) }
    var length: UInt64 { UInt64(ndctl_mapping_get_length(pointer)) }
    /// Negative when the kernel did not report a position.
    var position: CInt { ndctl_mapping_get_position(pointer) }
}

/// `struct ndctl_namespace *`.
internal struct NdctlNamespace {
    let pointer: OpaquePointer

    var id: UInt32 { ndctl_namespace_get_id(pointer) }
    var devname: String { ndctlString(ndctl_namespace_get_devname(pointer)) ?? "" }
    var type: UInt32 { ndctl_namespace_get_type(pointer) }
    var mode: ndctl_namespace_mode { ndctl_namespace_get_mode(pointer) }
    var size: UInt64 { UInt64(ndctl_namespace_get_size(pointer)) }
    var resource: UInt64 { UInt64(ndctl_namespace_get_resource(pointer)) }
    var sectorSize: UInt32 { ndctl_namespace_get_sector_size(pointer) }
    var blockDevice: String? { ndctlString(ndctl_namespace_get_block_device(pointer)) }
    var altName: String? { ndctlString(ndctl_namespace_get_alt_name(pointer)) }
    var isActive: Bool { ndctl_namespace_is_active(pointer) }
    var numaNode: CInt { ndctl_namespace_get_numa_node(pointer) }
    var targetNode: CInt { ndctl_namespace_get_target_node(pointer) }
    var uuid: NdctlUUID { NdctlUUID { ndctl_namespace_get_uuid(pointer, $0) } }
    var btt: NdctlBTT? { ndctl_namespace_get_btt(pointer).map(NdctlBTT.init) }
    var pfn: NdctlPFN? { ndctl_namespace_get_pfn(pointer).map(NdctlPFN.init) }
    var dax: NdctlDAX? { ndctl_namespace_get_dax(pointer).map(NdctlDAX.init) }
}

/// `struct ndctl_btt *` (sector mode).
internal struct NdctlBTT {
    let pointer: OpaquePointer
    var size: UInt64 { UInt64(ndctl_btt_get_size(pointer)) }
    var sectorSize: UInt32 { ndctl_btt_get_sector_size(pointer) }
    var blockDevice: String? { ndctlString(ndctl_btt_get_block_device(pointer)) }
    var uuid: NdctlUUID { NdctlUUID { ndctl_btt_get_uuid(pointer, $0) } }
}

/// `struct ndctl_pfn *` (fsdax mode with a page map).
internal struct NdctlPFN {
    let pointer: OpaquePointer
    var size: UInt64 { UInt64(ndctl_pfn_get_size(pointer)) }
    var align: UInt64 { UInt64(ndctl_pfn_get_align(pointer)) }
    var location: ndctl_pfn_loc { ndctl_pfn_get_location(pointer) }
    var blockDevice: String? { ndctlString(ndctl_pfn_get_block_device(pointer)) }
    var uuid: NdctlUUID { NdctlUUID { ndctl_pfn_get_uuid(pointer, $0) } }
}

/// `struct ndctl_dax *` (devdax mode).
internal struct NdctlDAX {
    let pointer: OpaquePointer
    var size: UInt64 { UInt64(ndctl_dax_get_size(pointer)) }
    var align: UInt64 { UInt64(ndctl_dax_get_align(pointer)) }
    var location: ndctl_pfn_loc { ndctl_dax_get_location(pointer) }
    var uuid: NdctlUUID { NdctlUUID { ndctl_dax_get_uuid(pointer, $0) } }
    /// The libdaxctl region behind this namespace, present while it is enabled.
    var daxctlRegion: DaxctlRegion? { ndctl_dax_get_daxctl_region(pointer).map(DaxctlRegion.init) }
}

/// `struct daxctl_region *`.
internal struct DaxctlRegion {
    let pointer: OpaquePointer
    var id: CInt { daxctl_region_get_id(pointer) }
    var size: UInt64 { UInt64(daxctl_region_get_size(pointer)) }
    var availableSize: UInt64 { UInt64(daxctl_region_get_available_size(pointer)) }
    var align: UInt64 { UInt64(daxctl_region_get_align(pointer)) }
    var devices: [DaxctlDevice] {
        NdctlList(first: daxctl_dev_get_first(pointer), next: { daxctl_dev_get_next($0) })
            .map(DaxctlDevice.init)
    }
}

/// `struct daxctl_dev *`: a device-dax character device (`/dev/daxX.Y`).
internal struct DaxctlDevice {
    let pointer: OpaquePointer
    var devname: String? { ndctlString(daxctl_dev_get_devname(pointer)) }
    var size: UInt64 { UInt64(daxctl_dev_get_size(pointer)) }
    var align: UInt64 { UInt64(daxctl_dev_get_align(pointer)) }
    var targetNode: CInt { daxctl_dev_get_target_node(pointer) }
    var isEnabled: Bool { daxctl_dev_is_enabled(pointer) != 0 }
    var resource: UInt64 { UInt64(daxctl_dev_get_resource(pointer)) }
    /// Present when the device is bound to the kmem driver (mode `system-ram`).
    var memory: OpaquePointer? { daxctl_dev_get_memory(pointer) }
}

/// The 16 bytes of a `uuid_t`, filled by one libndctl getter.
internal struct NdctlUUID {
    var bytes: [UInt8]

    init(_ fill: (UnsafeMutablePointer<UInt8>) -> Void) {
        var buffer = [UInt8](repeating: 0, count: 16)
        buffer.withUnsafeMutableBufferPointer { fill($0.baseAddress!) }
        bytes = buffer
    }

    var isNull: Bool { bytes.allSatisfy { $0 == 0 } }

    /// Lower-case `8-4-4-4-12` form, as `uuid_unparse` prints it.
    var string: String {
        let digits: StaticString = "0123456789abcdef"
        var out: [UInt8] = []
        out.reserveCapacity(36)
        for (i, byte) in bytes.enumerated() {
            if i == 4 || i == 6 || i == 8 || i == 10 { out.append(UInt8(ascii: "-")) }
            out.append(digits.utf8Start[Int(byte >> 4)])
            out.append(digits.utf8Start[Int(byte & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
