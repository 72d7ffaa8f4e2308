import NFIT
import Testing
@testable import FlushHint

/// `attachingFlushHints(devices:)` (the list `flushctl list` reads, joined without hashing) must
/// give what `attachingFlushHints(_:)` gives for the same hints as a dictionary.
@Suite struct JoinByDeviceListTests {
    static func topology() -> Topology {
        let dimms = [
            DIMM(id: 0, dev: "nmem0", handle: 0x0001), DIMM(id: 1, dev: "nmem1", handle: 0x0101),
            DIMM(id: 2, dev: "nmem2", handle: 0x1001), DIMM(id: 3, dev: "nmem3", handle: nil),
        ]
        let regions = [
            Region(id: 0, dev: "region0", size: 1 << 26, mappings: [
                Mapping(dimm: "nmem0", offset: 0, length: 1 << 25, position: 0),
                Mapping(dimm: "nmem1", offset: 0, length: 1 << 25, position: 1),
            ]),
            Region(id: 1, dev: "region1", size: 1 << 25, mappings: [Mapping(dimm: "nmem2", offset: 0, length: 1 << 25)]),
            Region(id: 2, dev: "region2", size: 1 << 25, mappings: [
                Mapping(dimm: "nmem3", offset: 0, length: 1 << 24), Mapping(dimm: "nmem0", offset: 1 << 25, length: 1 << 24),
            ]),
        ]
        return Topology(buses: [Bus(id: 0, provider: "ACPI.NFIT", dev: "ndbus0", dimms: dimms, regions: regions)])
    }

    @Test(arguments: [
        [NFITDeviceHints](),
        [NFITDeviceHints(handle: 0x0001, addresses: [0x37ffe000, 0x37ffe040]),
         NFITDeviceHints(handle: 0x0101, addresses: [0x37fff000, 0x37fff040])],
        // Shared pages across regions, a handle no DIMM has, an empty hint list.
        [NFITDeviceHints(handle: 0x1001, addresses: [0x37ffe080, 0x40000000]),
         NFITDeviceHints(handle: 0x0001, addresses: [0x37ffe000]),
         NFITDeviceHints(handle: 0x0101, addresses: []),
         NFITDeviceHints(handle: 0x7777, addresses: [0x1000])],
    ])
    func sameAsTheDictionaryJoin(_ devices: [NFITDeviceHints]) {
        var byHandle: [UInt32: [UInt64]] = [:]
        for d in devices { byHandle[d.handle] = d.addresses }
        let topology = Self.topology()
        let viaList = topology.attachingFlushHints(devices: devices)
        #expect(viaList == topology.attachingFlushHints(byHandle))
        #expect(viaList.hasFlushHints)
    }
}
