import NFIT
@testable import NVDIMMTopology

/// Hand-built topologies shaped like the emulated host's scenarios.
enum Fixtures {
    /// Two buses. ndbus0: nmem0 (handle 0x1) and nmem1 (0x101) interleaved in region0,
    /// nmem2 (0x1001, disabled) alone in region1 (disabled); region0 has an active fsdax
    /// namespace and an idle seed. ndbus1 (e820): region2 with a raw namespace, no DIMMs.
    static func topology() -> Topology {
        let ns0 = Namespace(id: 0, dev: "namespace0.0", mode: .fsdax, map: .dev, size: 0x1f000000,
                            rawSize: 0x20000000, uuid: "6e4a0d2e-0000-4000-8000-000000000001",
                            sectorSize: 512, align: 0x200000, blockdev: "pmem0")
        let seed = Namespace(id: 1, dev: "namespace0.1", mode: .raw, size: 0, rawSize: 0,
                             sectorSize: 512, enabled: false)
        let region0 = Region(id: 0, dev: "region0", size: 0x40000000, availableSize: 0x20000000,
                             resource: 0x30000000,
                             mappings: [Mapping(dimm: "nmem0", offset: 0, length: 0x20000000, position: 0),
                                        Mapping(dimm: "nmem1", offset: 0, length: 0x20000000, position: 1)],
                             deepFlush: 1, namespaces: [ns0, seed])
        let region1 = Region(id: 1, dev: "region1", size: 0x2000000, resource: 0x70000000,
                             mappings: [Mapping(dimm: "nmem2", offset: 0, length: 0x2000000)],
                             deepFlush: 0, enabled: false,
                             namespaces: [Namespace(id: 0, dev: "namespace1.0", mode: .raw, size: 0x2000000,
                                                    sectorSize: 512, blockdev: "pmem1", enabled: false)])
        let bus0 = Bus(id: 0, provider: "ACPI.NFIT", dev: "ndbus0", scrubActive: false,
                       dimms: [DIMM(id: 0, dev: "nmem0", handle: 0x1, physID: 0),
                               DIMM(id: 1, dev: "nmem1", handle: 0x101, physID: 1),
                               DIMM(id: 2, dev: "nmem2", handle: 0x1001, physID: 2, enabled: false)],
                       regions: [region0, region1])
        let region2 = Region(id: 2, dev: "region2", size: 0x10000000, resource: 0x100000000,
                             persistenceDomain: .unknown,
                             namespaces: [Namespace(id: 0, dev: "namespace2.0", mode: .raw, size: 0x10000000,
                                                    sectorSize: 512, blockdev: "pmem2")])
        let bus1 = Bus(id: 1, provider: "e820", dev: "ndbus1", regions: [region2])
        return Topology(buses: [bus0, bus1])
    }
}

// Literals for the tests' readability: `"region0"` and `"memory_controller"` where the model
// takes a RegionName or a PersistenceDomain. A literal that does not parse is a broken test.
extension RegionName: ExpressibleByStringLiteral {
    public init(stringLiteral value: String) {
        guard let parsed = RegionName(parsing: value) else { fatalError("test literal \(value) is not a region name") }
        self = parsed
    }
}

extension PersistenceDomain: ExpressibleByStringLiteral {
    public init(stringLiteral value: String) {
        guard let parsed = PersistenceDomain(rawValue: value) else { fatalError("test literal \(value) is not a persistence domain") }
        self = parsed
    }
}

extension DIMM {
    /// A DIMM as the planner sees one: a name, a handle and hints (`nil`: unknown).
    init(name: String, handle: UInt32?, hints: [UInt64]?) {
        self.init(id: UInt32(name.dropFirst(4)) ?? 0, dev: name, handle: handle, flushHints: hints)
    }
}

extension Topology {
    /// The join with hints given by handle, as a table would list them (ascending handles).
    func attachingFlushHints(_ byHandle: [UInt32: [UInt64]]) -> Topology {
        attachingFlushHints(byHandle.keys.sorted().map { NFITDeviceHints(handle: $0, addresses: byHandle[$0] ?? []) })
    }
}
