import CNdctl
import SystemPackage
import HostFiles

extension Topology {
    /// Where the kernel publishes libnvdimm devices; `deep_flush` is read below it.
    public static let ndDevicesDirectory = "/sys/bus/nd/devices"

    /// Reads the whole topology through libndctl, without flush hints.
    ///
    /// Walks bus → DIMMs, and bus → regions → mappings and namespaces → block device or
    /// device-dax. Works unprivileged (libndctl reads world-readable sysfs); on a host
    /// without NVDIMMs the result has no buses.
    ///
    /// - Parameter context: the libndctl context to read through; a new one when `nil`.
    /// - Throws: the `Errno` of `ndctl_new` when no context can be made.
    public static func read(context: NdctlContext? = nil) throws(Errno) -> Topology {
        let ctx: NdctlContext
        if let context { ctx = context } else { ctx = try NdctlContext() }
        return Topology(buses: ctx.buses.map(Bus.init(reading:)))
    }
}

extension Bus {
    init(reading bus: NdctlBus) {
        let scrub = bus.scrubState
        self.init(id: bus.id, provider: bus.provider, dev: bus.devname,
                  scrubActive: scrub < 0 ? nil : scrub != 0,
                  dimms: bus.dimms.map(DIMM.init(reading:)),
                  regions: bus.regions.map(Region.init(reading:)))
    }
}

extension DIMM {
    init(reading dimm: NdctlDimm) {
        var flags: DIMMFlags = []
        if dimm.failedMap { flags.insert(.failedMap) }
        if dimm.failedSave { flags.insert(.failedSave) }
        if dimm.failedArm { flags.insert(.failedArm) }
        if dimm.failedRestore { flags.insert(.failedRestore) }
        if dimm.failedFlush { flags.insert(.failedFlush) }
        if dimm.smartPending { flags.insert(.smartEvent) }
        let security: SecurityState?
        switch dimm.security {
        case NDCTL_SECURITY_DISABLED: security = .disabled
        case NDCTL_SECURITY_UNLOCKED: security = .unlocked
        case NDCTL_SECURITY_LOCKED: security = .locked
        case NDCTL_SECURITY_FROZEN: security = .frozen
        case NDCTL_SECURITY_OVERWRITE: security = .overwrite
        default: security = nil
        }
        let handle = dimm.handle
        let physID = dimm.physID
        self.init(id: dimm.id, dev: dimm.devname,
                  handle: handle == UInt32.max ? nil : handle,
                  physID: physID == UInt16.max ? nil : physID,
                  uniqueID: dimm.uniqueID, enabled: dimm.isEnabled, flags: flags,
                  security: security, securityFrozen: dimm.securityIsFrozen)
    }
}

extension Region {
    init(reading region: NdctlRegion) {
        let type: RegionType?
        switch region.type {
        case NDDeviceType.regionPMEM: type = .pmem
        case NDDeviceType.regionBLK: type = .blk
        default: type = nil
        }
        let domain: PersistenceDomain
        switch region.persistenceDomain {
        case PERSISTENCE_CPU_CACHE: domain = .cpuCache
        case PERSISTENCE_MEM_CTRL: domain = .memoryController
        case PERSISTENCE_NONE: domain = .none
        default: domain = .unknown
        }
        let mappings = region.mappings.compactMap { mapping -> Mapping? in
            guard let dimm = mapping.dimm else { return nil }
            let position = mapping.position
            return Mapping(dimm: dimm.devname, offset: mapping.offset, length: mapping.length,
                           position: position < 0 ? nil : position)
        }
        // libndctl skips a mapping whose DIMM it cannot find; sysfs still names it.
        var unresolved: [String] = []
        if mappings.count < Int(region.interleaveWays) {
            for k in 0..<Int(region.interleaveWays) {
                let text = (try? SmallFile.read(RegionName(number: region.id).sysfsDirectory + "/mapping\(k)", limit: 256))
                    .map { String(decoding: $0, as: UTF8.self) }
                let name = text.flatMap { $0.split(separator: ",").first.map(String.init) } ?? "mapping\(k)"
                if !mappings.contains(where: { $0.dimm == name }) { unresolved.append(name) }
            }
        }
        let extent = region.maxAvailableExtent
        let align = region.align
        let resource = region.resource
        let numa = region.numaNode
        let target = region.targetNode
        let dev = region.devname
        self.init(id: region.id, dev: dev, type: type, size: region.size,
                  availableSize: region.availableSize,
                  maxAvailableExtent: extent == UInt64.max ? nil : extent,
                  align: align == UInt64.max ? nil : align,
                  resource: resource == UInt64.max ? nil : resource,
                  numaNode: numa < 0 ? nil : numa, targetNode: target < 0 ? nil : target,
                  interleaveSetCookie: region.interleaveSetCookie,
                  interleaveWays: region.interleaveWays, mappings: mappings,
                  persistenceDomain: domain,
                  deepFlush: SmallFile.readInteger(RegionName(number: region.id).deepFlushPath),
                  enabled: region.isEnabled, badblockCount: region.badblockCount,
                  namespaces: region.namespaces.map(Namespace.init(reading:)))
        self.unresolvedMappings = unresolved
    }
}

extension Namespace {
    /// Decides size, uuid, block/char device and sector size the way `ndctl list` does:
    /// from the namespace's personality (btt, pfn or dax) when it has one.
    init(reading ns: NdctlNamespace) {
        let btt = ns.btt, pfn = ns.pfn, dax = ns.dax
        var mode: NamespaceMode?
        var size: UInt64 = .max
        var location: ndctl_pfn_loc = NDCTL_PFN_LOC_NONE
        switch ns.mode {
        case NDCTL_NS_MODE_FSDAX:
            mode = .fsdax
            if let pfn { size = pfn.size; location = pfn.location }
            else { size = ns.size; location = NDCTL_PFN_LOC_RAM }
        case NDCTL_NS_MODE_DEVDAX:
            mode = .devdax
            if let dax { size = dax.size; location = dax.location }
        case NDCTL_NS_MODE_SECTOR:
            mode = .sector
            if let btt { size = btt.size }
        case NDCTL_NS_MODE_RAW:
            mode = .raw
            size = ns.size
        default:
            mode = nil
        }
        var map: PageMapLocation?
        if mode != .sector && mode != .raw {
            switch location {
            case NDCTL_PFN_LOC_RAM: map = .mem
            case NDCTL_PFN_LOC_PMEM: map = .dev
            default: map = PageMapLocation.none
            }
        }
        let nsUUID = ns.uuid
        var uuid: String?
        var rawUUID: String?
        var blockdev: String?
        var chardev: String?
        var daxRegion: DaxRegion?
        var align: UInt64 = 0
        if let btt {
            uuid = btt.uuid.string
            rawUUID = nsUUID.isNull ? nil : nsUUID.string
            blockdev = btt.blockDevice
        } else if let pfn {
            align = pfn.align
            uuid = pfn.uuid.string
            rawUUID = nsUUID.isNull ? nil : nsUUID.string
            blockdev = pfn.blockDevice
        } else if let dax {
            align = dax.align
            uuid = dax.uuid.string
            rawUUID = nsUUID.isNull ? nil : nsUUID.string
            if let region = dax.daxctlRegion {
                let devices = region.devices
                // Only an enabled instance has a device node to name.
                chardev = devices.first?.devname
                daxRegion = DaxRegion(reading: region, devices: devices)
            }
        } else {
            if ns.type != NDDeviceType.namespaceIO { uuid = nsUUID.string }
            blockdev = ns.blockDevice
        }
        var sectorSize: UInt32?
        if let btt {
            sectorSize = btt.sectorSize
        } else if dax == nil {
            // The kernel defaults to 512-byte sectors when a namespace has no label (or a pre-1.2 one).
            let s = ns.sectorSize
            sectorSize = (s == 0 || s == UInt32.max) ? 512 : s
        }
        if sectorSize == UInt32.max { sectorSize = nil }
        let rawSize = ns.size
        let resource = ns.resource
        let numa = ns.numaNode, target = ns.targetNode
        let alt = ns.altName
        self.init(id: ns.id, dev: ns.devname, mode: mode, map: map,
                  size: size == .max ? nil : size,
                  rawSize: rawSize == .max ? nil : rawSize,
                  resource: resource == .max ? nil : resource,
                  uuid: uuid, rawUUID: rawUUID, sectorSize: sectorSize,
                  align: align == 0 ? nil : align,
                  blockdev: (blockdev?.isEmpty ?? true) ? nil : blockdev,
                  chardev: chardev, daxRegion: daxRegion, enabled: ns.isActive,
                  name: (alt?.isEmpty ?? true) ? nil : alt,
                  numaNode: numa < 0 ? nil : numa, targetNode: target < 0 ? nil : target)
    }
}

extension DaxRegion {
    init(reading region: DaxctlRegion, devices: [DaxctlDevice]) {
        let size = region.size, align = region.align
        self.init(id: region.id, size: size == .max ? nil : size,
                  availableSize: region.availableSize,
                  align: align == .max ? nil : align,
                  devices: devices.compactMap(DaxDevice.init(reading:)))
    }
}

extension DaxDevice {
    init?(reading dev: DaxctlDevice) {
        guard let name = dev.devname else { return nil }
        let target = dev.targetNode
        let align = dev.align
        self.init(chardev: name, size: dev.size, targetNode: target < 0 ? nil : target,
                  align: align == 0 ? nil : align, systemRAM: dev.memory != nil, enabled: dev.isEnabled)
    }
}
