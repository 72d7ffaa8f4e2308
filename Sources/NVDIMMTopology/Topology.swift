/// A snapshot of the host's NVDIMM topology as libndctl shows it, plus what flushctl adds
/// (flush-hint addresses from the NFIT, the region's physical start and `deep_flush`).
///
/// Plain values: read once with ``Topology/read(context:)`` (or built by hand in tests),
/// then filtered, joined and printed without touching libndctl again.
///
/// The nesting is libnvdimm's: bus → DIMMs, bus → regions → (mappings, namespaces).
/// Disabled DIMMs, regions and idle namespaces are included with their state, so a caller
/// can show them (`flushctl list -i`) or skip them.
public struct Topology: Sendable, Equatable {
    /// Every libnvdimm bus (`ndbusN`), in libndctl's order.
    public var buses: [Bus]

    /// Whether ``DIMM/flushHints`` and ``Region/flushHintPages`` were filled from an NFIT.
    /// `false` when the NFIT could not be read (see ``attachingFlushHints(_:)``).
    public var hasFlushHints: Bool

    /// A topology made of the given buses, without flush hints.
    public init(buses: [Bus], hasFlushHints: Bool = false) {
        self.buses = buses
        self.hasFlushHints = hasFlushHints
    }

    /// Every DIMM of every bus, in bus order.
    public var allDIMMs: [DIMM] { buses.flatMap { $0.dimms } }
    /// Every region of every bus, in bus order.
    public var allRegions: [Region] { buses.flatMap { $0.regions } }
    /// Every namespace of every region, in bus and region order.
    public var allNamespaces: [Namespace] { buses.flatMap { $0.regions.flatMap { $0.namespaces } } }

    /// The DIMM named `dev` (`nmemN`), in whichever bus.
    public func dimm(named dev: String) -> DIMM? {
        for bus in buses { if let d = bus.dimms.first(where: { $0.dev == dev }) { return d } }
        return nil
    }

    /// The region `name`, in whichever bus.
    public func region(_ name: RegionName) -> Region? {
        for bus in buses { if let r = bus.regions.first(where: { $0.name == name }) { return r } }
        return nil
    }

    /// The device-dax device `name` (`daxX.Y`) and its dax region, as libdaxctl lists them.
    public func daxDevice(named name: String) -> (device: DaxDevice, region: DaxRegion)? {
        for namespace in allNamespaces {
            guard let daxRegion = namespace.daxRegion else { continue }
            if let device = daxRegion.devices.first(where: { $0.chardev == name }) { return (device, daxRegion) }
        }
        return nil
    }
}

/// A libnvdimm bus: one per NVDIMM provider (`ACPI.NFIT`, `e820`, `nfit_test.0`, …).
public struct Bus: Sendable, Equatable {
    /// The bus number N of `ndbusN`.
    public var id: UInt32
    /// The provider name (`ndctl_bus_get_provider`), e.g. `"ACPI.NFIT"`.
    public var provider: String
    /// The device name, e.g. `"ndbus0"`.
    public var dev: String
    /// Address-range scrub state: `true` while a scrub runs; `nil` when the bus has no scrub attribute.
    public var scrubActive: Bool?
    /// The bus's DIMMs (`nmemN`), in libndctl's order.
    public var dimms: [DIMM]
    /// The bus's regions (`regionN`), in libndctl's order.
    public var regions: [Region]

    /// A bus with the given members.
    public init(id: UInt32, provider: String, dev: String, scrubActive: Bool? = nil,
                dimms: [DIMM] = [], regions: [Region] = []) {
        self.id = id; self.provider = provider; self.dev = dev; self.scrubActive = scrubActive
        self.dimms = dimms; self.regions = regions
    }
}

/// One NVDIMM (`nmemN`).
public struct DIMM: Sendable, Equatable {
    /// The number N of `nmemN`.
    public var id: UInt32
    /// The device name, e.g. `"nmem0"`.
    public var dev: String
    /// The NFIT device handle (ACPI 6.x "NFIT Device Handle": node, socket, memory
    /// controller, channel, DIMM number); `nil` when libndctl does not know it.
    public var handle: UInt32?
    /// The SMBIOS Type 17 handle (`phys_id`); `nil` when unknown.
    public var physID: UInt16?
    /// The vendor unique id (`ndctl_dimm_get_unique_id`), e.g. `"8680-56341200"`; `nil` when absent.
    public var uniqueID: String?
    /// Whether the DIMM is bound to its driver.
    public var enabled: Bool
    /// The NFIT state flags the kernel reports for the DIMM.
    public var flags: DIMMFlags
    /// The security state, when the DIMM reports one.
    public var security: SecurityState?
    /// Whether security is frozen until the next reset.
    public var securityFrozen: Bool
    /// The DIMM's Flush Hint Addresses (physical), in NFIT order: `[]` when the NFIT lists
    /// none for this handle; `nil` when the NFIT could not be read.
    public var flushHints: [UInt64]?

    /// A DIMM with the given properties.
    public init(id: UInt32, dev: String, handle: UInt32?, physID: UInt16? = nil, uniqueID: String? = nil,
                enabled: Bool = true, flags: DIMMFlags = [], security: SecurityState? = nil,
                securityFrozen: Bool = false, flushHints: [UInt64]? = nil) {
        self.id = id; self.dev = dev; self.handle = handle; self.physID = physID
        self.uniqueID = uniqueID; self.enabled = enabled; self.flags = flags
        self.security = security; self.securityFrozen = securityFrozen; self.flushHints = flushHints
    }
}

/// The NFIT memory-device state flags, as the kernel exports them in `nmemN/nfit/flags`.
public struct DIMMFlags: OptionSet, Sendable, Hashable {
    /// The raw bits (this type's own numbering, not the NFIT's).
    public var rawValue: UInt8
    /// Creates flags from raw bits.
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    /// The DIMM's address is not mapped (`flag_failed_map`).
    public static let failedMap = DIMMFlags(rawValue: 1 << 0)
    /// The last save to persistent media failed (`flag_failed_save`).
    public static let failedSave = DIMMFlags(rawValue: 1 << 1)
    /// The DIMM is not armed for the next save (`flag_failed_arm`).
    public static let failedArm = DIMMFlags(rawValue: 1 << 2)
    /// The last restore failed (`flag_failed_restore`).
    public static let failedRestore = DIMMFlags(rawValue: 1 << 3)
    /// The platform flush failed to reach the DIMM (`flag_failed_flush`).
    public static let failedFlush = DIMMFlags(rawValue: 1 << 4)
    /// A SMART event is pending (`flag_smart_event`).
    public static let smartEvent = DIMMFlags(rawValue: 1 << 5)
}

/// A DIMM's security state (`ndctl_dimm_get_security`).
public enum SecurityState: String, Sendable, Equatable {
    /// Security is supported but not enabled.
    case disabled
    /// A passphrase is set and the DIMM is unlocked.
    case unlocked
    /// The DIMM is locked.
    case locked
    /// Security commands are frozen until reset.
    case frozen
    /// An overwrite is in progress.
    case overwrite
}

/// The kind of region.
public enum RegionType: String, Sendable, Equatable {
    /// Persistent memory mapped into the physical address space (`ND_DEVICE_REGION_PMEM`).
    case pmem
    /// Block-window aperture region (`ND_DEVICE_REGION_BLK`, removed from recent kernels).
    case blk
}

/// Which failure the platform's persistence domain survives (`ndctl_region_get_persistence_domain`).
public enum PersistenceDomain: String, Sendable, Equatable {
    /// CPU caches are flushed on power loss (eADR): a store is durable once globally visible.
    case cpuCache = "cpu_cache"
    /// Writes are durable once accepted by the memory controller (ADR): caches must be flushed.
    case memoryController = "memory_controller"
    /// No persistence is promised.
    case none
    /// The kernel did not say.
    case unknown
}

/// One interleaved (or not) range of persistent memory (`regionN`).
public struct Region: Sendable, Equatable {
    /// The number N of `regionN`.
    public var id: UInt32
    /// The device name, e.g. `"region0"`.
    public var dev: String
    /// `pmem` or `blk`; `nil` for a type libndctl does not name.
    public var type: RegionType?
    /// Total capacity in bytes.
    public var size: UInt64
    /// Bytes not yet allocated to namespaces.
    public var availableSize: UInt64
    /// The largest contiguous free extent; `nil` when the kernel does not report it.
    public var maxAvailableExtent: UInt64?
    /// The namespace allocation alignment; `nil` when the kernel does not report it.
    public var align: UInt64?
    /// The physical start address (`resource`); `nil` when unknown (e.g. unprivileged
    /// on kernels that hide it, where libndctl returns `ULLONG_MAX`).
    public var resource: UInt64?
    /// The NUMA node of the region's CPU side, when known.
    public var numaNode: Int32?
    /// The NUMA node the memory would be onlined to, when known.
    public var targetNode: Int32?
    /// The NFIT interleave-set cookie (`iset_id`), for labelled regions.
    public var interleaveSetCookie: UInt64?
    /// The number of DIMMs interleaved.
    public var interleaveWays: UInt32
    /// Each DIMM's share of the region, in the kernel's mapping order: those libndctl resolved
    /// to a DIMM, which may be fewer than ``interleaveWays``.
    public var mappings: [Mapping]
    /// The DIMMs (`nmemN`, or `mappingK` when even sysfs does not say) of mappings libndctl
    /// could not resolve; empty when every mapping was read.
    public var unresolvedMappings: [String] = []
    /// What the platform promises on power loss.
    public var persistenceDomain: PersistenceDomain
    /// `/sys/bus/nd/devices/regionN/deep_flush` read as an integer (1: the region has flush
    /// hints to write, 0: none); `nil` when the attribute is absent or unreadable.
    public var deepFlush: Int?
    /// Whether the region is bound to its driver.
    public var enabled: Bool
    /// The total length, in 512-byte sectors, of the region's known bad blocks.
    public var badblockCount: UInt64
    /// The namespaces, including idle seeds and disabled ones.
    public var namespaces: [Namespace]
    /// The 4 KiB pages holding the flush hints of this region's DIMMs, ascending by address;
    /// `nil` when the NFIT could not be read. Filled by ``Topology/attachingFlushHints(_:)``.
    public var flushHintPages: [FlushHintPage]?

    /// The region's name as a value (`regionN` is `dev`; `id` is N).
    public var name: RegionName { RegionName(number: id) }

    /// A region with the given properties.
    public init(id: UInt32, dev: String, type: RegionType? = .pmem, size: UInt64, availableSize: UInt64 = 0,
                maxAvailableExtent: UInt64? = nil, align: UInt64? = nil, resource: UInt64? = nil,
                numaNode: Int32? = nil, targetNode: Int32? = nil, interleaveSetCookie: UInt64? = nil,
                interleaveWays: UInt32? = nil, mappings: [Mapping] = [],
                persistenceDomain: PersistenceDomain = .memoryController, deepFlush: Int? = nil,
                enabled: Bool = true, badblockCount: UInt64 = 0, namespaces: [Namespace] = [],
                flushHintPages: [FlushHintPage]? = nil) {
        self.id = id; self.dev = dev; self.type = type; self.size = size
        self.availableSize = availableSize; self.maxAvailableExtent = maxAvailableExtent
        self.align = align; self.resource = resource; self.numaNode = numaNode
        self.targetNode = targetNode; self.interleaveSetCookie = interleaveSetCookie
        self.interleaveWays = interleaveWays ?? UInt32(mappings.count); self.mappings = mappings
        self.persistenceDomain = persistenceDomain; self.deepFlush = deepFlush
        self.enabled = enabled; self.badblockCount = badblockCount
        self.namespaces = namespaces; self.flushHintPages = flushHintPages
    }
}

/// One DIMM's extent in a region (`ndctl_mapping`).
public struct Mapping: Sendable, Equatable {
    /// The DIMM's device name (`nmemN`).
    public var dimm: String
    /// Byte offset of the extent in the DIMM's DPA space.
    public var offset: UInt64
    /// Length of the extent in bytes.
    public var length: UInt64
    /// The DIMM's position in the interleave set, when the kernel reports it.
    public var position: Int32?

    /// A mapping with the given properties.
    public init(dimm: String, offset: UInt64, length: UInt64, position: Int32? = nil) {
        self.dimm = dimm; self.offset = offset; self.length = length; self.position = position
    }
}

/// How a namespace presents its capacity (`ndctl_namespace_get_mode`).
public enum NamespaceMode: String, Sendable, Equatable {
    /// A block device supporting DAX (`pmemN`), optionally with a struct-page map.
    case fsdax
    /// A device-dax character device (`/dev/daxX.Y`).
    case devdax
    /// A block device with BTT sector atomicity (`pmemNs`).
    case sector
    /// A plain block device without DAX.
    case raw
}

/// Where a namespace's struct-page map lives (`map` in `ndctl list`).
public enum PageMapLocation: String, Sendable, Equatable {
    /// No page map.
    case none
    /// In system RAM.
    case mem
    /// On the device itself.
    case dev
}

/// One namespace (`namespaceX.Y`).
public struct Namespace: Sendable, Equatable {
    /// The number Y of `namespaceX.Y`.
    public var id: UInt32
    /// The device name, e.g. `"namespace0.0"`.
    public var dev: String
    /// `nil` when libndctl reports a mode flushctl does not know.
    public var mode: NamespaceMode?
    /// Where the page map lives; `nil` for sector and raw namespaces (ndctl prints no `map` for them).
    public var map: PageMapLocation?
    /// The usable size in the namespace's mode (after the pfn/dax/btt info block), as
    /// `ndctl list` reports it; `nil` when unknown.
    public var size: UInt64?
    /// The raw size of the namespace (`ndctl_namespace_get_size`), before any info block.
    public var rawSize: UInt64?
    /// The physical start of the namespace, when the kernel reports it.
    public var resource: UInt64?
    /// The uuid `ndctl list` prints: the btt/pfn/dax personality's, else the namespace label's.
    public var uuid: String?
    /// The namespace label's own uuid, when a personality (btt/pfn/dax) has its own.
    public var rawUUID: String?
    /// Logical sector size; `nil` for devdax.
    public var sectorSize: UInt32?
    /// The pfn or dax alignment; `nil` when none.
    public var align: UInt64?
    /// The block device name (`pmem0`, `pmem0s`), when there is one.
    public var blockdev: String?
    /// The device-dax character device name (`dax0.0`), when there is one.
    public var chardev: String?
    /// The device-dax region behind a devdax namespace, when enabled.
    public var daxRegion: DaxRegion?
    /// Whether the namespace is active (bound, directly or through its personality).
    public var enabled: Bool
    /// The label's alternate name, when set.
    public var name: String?
    /// The NUMA node, when known.
    public var numaNode: Int32?
    /// The target NUMA node, when known.
    public var targetNode: Int32?

    /// A namespace with the given properties.
    public init(id: UInt32, dev: String, mode: NamespaceMode?, map: PageMapLocation? = nil,
                size: UInt64?, rawSize: UInt64? = nil, resource: UInt64? = nil, uuid: String? = nil,
                rawUUID: String? = nil, sectorSize: UInt32? = nil, align: UInt64? = nil,
                blockdev: String? = nil, chardev: String? = nil, daxRegion: DaxRegion? = nil,
                enabled: Bool = true, name: String? = nil, numaNode: Int32? = nil, targetNode: Int32? = nil) {
        self.id = id; self.dev = dev; self.mode = mode; self.map = map; self.size = size
        self.rawSize = rawSize ?? size; self.resource = resource; self.uuid = uuid; self.rawUUID = rawUUID
        self.sectorSize = sectorSize; self.align = align; self.blockdev = blockdev
        self.chardev = chardev; self.daxRegion = daxRegion; self.enabled = enabled
        self.name = name; self.numaNode = numaNode; self.targetNode = targetNode
    }
}

/// A libdaxctl region (`daxregionN`) behind a devdax namespace.
public struct DaxRegion: Sendable, Equatable {
    /// The dax region id.
    public var id: Int32
    /// Size in bytes, when known.
    public var size: UInt64?
    /// Bytes not yet given to a device; 0 when none.
    public var availableSize: UInt64
    /// Alignment, when known.
    public var align: UInt64?
    /// The region's device-dax instances.
    public var devices: [DaxDevice]

    /// A dax region with the given properties.
    public init(id: Int32, size: UInt64?, availableSize: UInt64 = 0, align: UInt64?, devices: [DaxDevice] = []) {
        self.id = id; self.size = size; self.availableSize = availableSize; self.align = align; self.devices = devices
    }
}

/// A device-dax instance (`daxX.Y`).
public struct DaxDevice: Sendable, Equatable {
    /// The character device name, e.g. `"dax0.0"`.
    public var chardev: String
    /// Size in bytes.
    public var size: UInt64
    /// Target NUMA node, when known.
    public var targetNode: Int32?
    /// Alignment, when non-zero.
    public var align: UInt64?
    /// `true` when the device is onlined as system RAM through kmem (mode `system-ram`).
    public var systemRAM: Bool
    /// Whether the device is enabled.
    public var enabled: Bool

    /// A dax device with the given properties.
    public init(chardev: String, size: UInt64, targetNode: Int32? = nil, align: UInt64? = nil,
                systemRAM: Bool = false, enabled: Bool = true) {
        self.chardev = chardev; self.size = size; self.targetNode = targetNode; self.align = align
        self.systemRAM = systemRAM; self.enabled = enabled
    }
}

/// One 4 KiB page of physical address space holding flush hints of a region's DIMMs: the one
/// hint-page type, used by `list`, the /dev/mem checks and the plan's passthrough ranges.
///
/// A VMM maps whole pages, so what matters is which hints (of which DIMMs, of which
/// regions) share a page: mapping the page to a guest exposes every hint in it.
public struct FlushHintPage: Sendable, Equatable {
    /// The page size flushctl groups by and a VMM maps: x86-64 base pages.
    public static let pageSize: UInt64 = 4096

    /// The page holding `address`: the address rounded down to ``pageSize``.
    @inline(__always)
    public static func page(of address: UInt64) -> UInt64 { address & ~(pageSize - 1) }

    /// The page's physical address (hint address rounded down to ``pageSize``).
    public var page: UInt64
    /// Always ``pageSize``.
    public var size: UInt64
    /// This region's hints in the page, in the order of the DIMMs the page was built from,
    /// then each DIMM's NFIT order.
    public var hints: [Hint]
    /// The other regions (`regionN`) whose DIMMs have hints in this page, sorted by region id.
    public var sharedWith: [String]

    /// One hint in the page.
    public struct Hint: Sendable, Equatable {
        /// The DIMM (`nmemN`) whose hint this is.
        public var dimm: String
        /// The DIMM's NFIT device handle; `nil` when libndctl does not know it.
        public var handle: UInt32?
        /// The hint's byte offset within the page.
        public var offset: UInt64
        /// A hint at `offset` in the page, belonging to `dimm`.
        public init(dimm: String, handle: UInt32? = nil, offset: UInt64) {
            self.dimm = dimm; self.handle = handle; self.offset = offset
        }
    }

    /// A page with the given contents.
    public init(page: UInt64, size: UInt64 = FlushHintPage.pageSize, hints: [Hint], sharedWith: [String] = []) {
        self.page = page; self.size = size; self.hints = hints; self.sharedWith = sharedWith
    }

    /// The DIMMs (`nmemN`) with hints in the page, each once, in hint order.
    public var dimms: [String] {
        var names: [String] = []
        for hint in hints where !names.contains(hint.dimm) { names.append(hint.dimm) }
        return names
    }

    /// How many hints of each DIMM of a region Linux uses: 2^ilog2(n), n the smallest non-zero
    /// hint count among the region's `dimms` (so one rotating index selects a hint on every
    /// DIMM); 0 when none has hints. Facts from drivers/nvdimm/region_devs.c: the region claims
    /// (`request_mem_region` under the bus's name) and maps uncached only these hints' pages, so
    /// a later hint's page is nobody's: mapping it would give a VMM write-back memory.
    public static func usableHintCount(_ dimms: [DIMM]) -> Int {
        var smallest = Int.max
        for dimm in dimms {
            let n = dimm.flushHints?.count ?? 0
            if n > 0 { smallest = min(smallest, n) }
        }
        guard smallest != Int.max else { return 0 }
        // The largest power of two not above the smallest count.
        return 1 << (Int.bitWidth - 1 - smallest.leadingZeroBitCount)
    }

    /// The pages holding the hints the kernel uses (``usableHintCount(_:)``) of a region's `dimms`
    /// (each DIMM once, in the order given), ascending by address; within a page, hints in DIMM
    /// order then NFIT order. Unknown hints count as none. ``sharedWith`` is left empty.
    public static func pages(of dimms: [DIMM]) -> [FlushHintPage] {
        let usable = usableHintCount(dimms)
        var pages: [FlushHintPage] = []
        var seen: [String] = []
        for dimm in dimms where !seen.contains(dimm.dev) {
            seen.append(dimm.dev)
            for address in (dimm.flushHints ?? []).prefix(usable) {
                let page = FlushHintPage.page(of: address)
                let hint = Hint(dimm: dimm.dev, handle: dimm.handle, offset: address - page)
                if let i = pages.firstIndex(where: { $0.page == page }) {
                    pages[i].hints.append(hint)
                } else {
                    pages.append(FlushHintPage(page: page, hints: [hint]))
                }
            }
        }
        // Page addresses are distinct, so the order of equal keys cannot matter.
        pages.sort { $0.page < $1.page }
        return pages
    }
}

/// A region's name, `regionN`: the one parser for the forms commands accept (`regionN` or `N`).
public struct RegionName: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The number N.
    public var number: UInt32

    /// The region numbered `number`.
    public init(number: UInt32) { self.number = number }

    /// Parses `regionN`, or `N` alone when `allowBareNumber`; `nil` for anything else.
    public init?(parsing text: String, allowBareNumber: Bool = true) {
        var digits = Substring(text)
        if digits.hasPrefix("region") { digits = digits.dropFirst(6) } else if !allowBareNumber { return nil }
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }), let n = UInt32(digits) else { return nil }
        self.number = n
    }

    /// `regionN`.
    public var dev: String { "region\(number)" }
    /// `regionN`.
    public var description: String { dev }
    /// The sysfs directory of the region.
    public var sysfsDirectory: String { Topology.ndDevicesDirectory + "/" + dev }
    /// The sysfs file whose write of "1" makes the kernel flush the region (`nvdimm_flush`).
    public var deepFlushPath: String { sysfsDirectory + "/deep_flush" }

    /// Orders by number, as ndctl sorts regions.
    public static func < (a: RegionName, b: RegionName) -> Bool { a.number < b.number }
}
