import Foundation
import OrderedJSON
import Testing
@testable import NFIT

@Suite struct LayoutTests {
    /// Layouts used here and, disassembled by iasl, in IaslTests.
    static let sampleLayouts: [NFITLayout] = [
        // Two DIMMs interleaved: one with two hints, one with a structure holding none.
        NFITLayout(oemID: "FLUSHC", regions: [
            .init(base: 0x3000_0000, size: 0x200_0000, rangeIndex: 1, proximityDomain: 0, dimms: [
                .init(handle: 0x0001, hints: [0x37ff_f000, 0x37ff_f040]),
                .init(handle: 0x0101, hints: []),
            ]),
        ]),
        // One DIMM in two regions (pmem, then volatile), one DIMM alone, one with no hints key.
        NFITLayout(oemID: "TEST", oemTableID: "TWOREGNS", oemRevision: 3, revision: 1, regions: [
            .init(base: 0x1_0000_0000, size: 0x4000_0000, dimms: [
                .init(handle: 0x0001, hints: [0xfee0_0000, 0xfee0_0040, 0xfee0_0080]),
                .init(handle: 0x0011, hints: [0xfee0_1000]),
            ]),
            .init(base: 0x2_0000_0000, size: 0x1000_0000, type: .volatile, rangeIndex: 7, proximityDomain: 1, dimms: [
                .init(handle: 0x0001, hints: [0xfee0_0000, 0xfee0_0040, 0xfee0_0080]),
            ]),
            .init(base: 0x3_0000_0000, size: 0x1000_0000, dimms: [.init(handle: 0x1_0101)]),
        ], platformCapabilities: [.memoryControllerFlushOnPowerLoss, .memoryMirroring]),
    ]

    @Test func exampleLayoutFromTheSpec() throws {
        let json = """
            {
              "oem_id": "FLUSHC",
              "regions": [
                {
                  "base": "0x30000000",
                  "size": "0x3000000",
                  "type": "pmem",
                  "range_index": 1,
                  "proximity_domain": 0,
                  "dimms": [
                    { "handle": "0x0001", "hints": ["0x37fff000", "0x37fff040"] },
                    { "handle": "0x0101", "hints": [] },
                    { "handle": "0x1001" }
                  ]
                }
              ]
            }
            """
        let layout = try NFITLayout.parse(json: Array(json.utf8))
        // Written back by its own encoder, it reads the same.
        #expect(try NFITLayout.parse(json: Array(layout.json.prettyPrinted().utf8)) == layout)
        let table = try layout.makeTable()
        #expect(table.header.oemID.bytes == Array("FLUSHC".utf8))
        #expect(table.header.oemTableID.bytes == Array("FLUSHCTL".utf8))
        let bytes = try table.encode()
        #expect(Int(table.header.length) == bytes.count)
        #expect(bytes.reduce(UInt8(0), &+) == 0)
        let decoded = try NFITTable.decode(bytes)
        // The "hints": [] DIMM's 16-byte structure is flagged for older kernels, nothing else.
        #expect(decoded.warnings.map(\.kind) == [.shortForOlderKernels])
        #expect(decoded.table == table)

        #expect(table.spaRanges.count == 1)
        let spa = try #require(table.spaRanges.first)
        #expect(spa.rangeType == .persistentMemory && spa.base == 0x3000_0000 && spa.length == 0x300_0000)
        #expect(spa.rangeIndex == 1 && spa.flags.contains(.proximityDomainValid) && spa.memoryMappingAttribute == 0x8008)

        let maps = table.memoryDeviceMaps
        #expect(maps.map(\.deviceHandle.rawValue) == [0x0001, 0x0101, 0x1001])
        #expect(maps.allSatisfy { $0.regionSize == 0x100_0000 && $0.interleaveWays == 3 && $0.rangeIndex == 1 })
        #expect(maps.map(\.regionOffset) == [0, 0x1000, 0x2000])
        #expect(maps.map(\.address) == [0, 0, 0])
        #expect(maps.map(\.controlRegionIndex) == [1, 2, 3])
        #expect(maps.allSatisfy { $0.interleaveIndex == 1 })
        #expect(table.interleaves == [NFITInterleave(interleaveIndex: 1, lineSize: 4096, lineOffsets: [0])])

        let dcrs = table.controlRegions
        #expect(dcrs.map(\.regionIndex) == [1, 2, 3])
        #expect(Set(dcrs.map(\.serialNumber)).count == 3)
        #expect(dcrs.allSatisfy { $0.vendorID == 0x8086 && $0.formatInterfaceCode == 0x0301 && $0.blockControl != nil })

        // 0x1001 has no "hints" key: no structure; 0x0101 has "hints": []: a structure with none.
        #expect(table.flushHintAddresses == [0x0001: [0x37ff_f000, 0x37ff_f040], 0x0101: []])
        #expect(table.flushHintStructures.count == 2)
    }

    @Test func dimmInSeveralRegionsContinuesItsDPAAndGetsOneHintStructure() throws {
        let table = try Self.sampleLayouts[1].makeTable()
        let maps = table.memoryDeviceMaps
        #expect(maps.count == 4)
        // DIMM 0x1: region 1 (half of 1 GiB) then region 2 (256 MiB alone, after the first share).
        let dimm1 = maps.filter { $0.deviceHandle.rawValue == 0x1 }
        #expect(dimm1.map(\.address) == [0, 0x2000_0000])
        #expect(dimm1.map(\.regionID) == [0, 1])
        #expect(dimm1.map(\.rangeIndex) == [1, 7])
        #expect(dimm1.map(\.interleaveWays) == [2, 1])
        #expect(dimm1.map(\.interleaveIndex) == [1, 0])
        #expect(Set(dimm1.map(\.controlRegionIndex)).count == 1)
        #expect(table.spaRanges.map(\.rangeIndex) == [1, 7, 3])
        #expect(table.spaRanges.map(\.rangeType) == [.persistentMemory, .volatileMemory, .persistentMemory])
        #expect(table.spaRanges[1].proximityDomain == 1)
        #expect(table.controlRegions.count == 3)
        #expect(table.flushHintStructures.map(\.deviceHandle.rawValue) == [0x1, 0x11])
        #expect(table.flushHintAddresses[0x1] == [0xfee0_0000, 0xfee0_0040, 0xfee0_0080])
        #expect(table.flushHintAddresses[0x1_0101] == nil)
        #expect(table.header.oemRevision == 3)
        let caps = try #require(table.platformCapabilities)
        #expect(caps.highestCapability == 2 && caps.capabilities == [.memoryControllerFlushOnPowerLoss, .memoryMirroring])
        #expect(table.subtables.last?.type == 7)
        #expect(try Self.sampleLayouts[0].makeTable().platformCapabilities == nil)
        #expect(try NFITTable.decode(table.encode()).warnings.isEmpty)
    }

    static func layoutError(_ json: String) -> NFITLayoutError? {
        do {
            _ = try NFITLayout.parse(json: Array(json.utf8)).makeTable()
            return nil
        } catch {
            return error
        }
    }

    @Test(arguments: [
        // (JSON, expected path, a word the message must contain)
        (#"{"regions": []}"#, "regions", "empty"),
        (#"{}"#, "regions", "missing"),
        (#"{"regions": [{"base": 0, "size": "0x3001", "dimms": [{"handle": 1}, {"handle": 2}]}]}"#, "regions[0].size", "divisible"),
        (#"{"regions": [{"base": 0, "size": 0, "dimms": [{"handle": 1}]}]}"#, "regions[0].size", "0"),
        (#"{"regions": [{"base": 0, "size": 4096, "dimms": []}]}"#, "regions[0].dimms", "empty"),
        (#"{"regions": [{"base": 0, "size": 4096, "dimms": [{"handle": 1}]}, {"base": 8192, "size": 4096, "dimms": [{"handle": 2, "hints": [8, 16, "0x1c"]}]}]}"#,
         "regions[1].dimms[0].hints[2]", "aligned"),
        (#"{"regions": [{"base": 0, "size": 4096, "dimms": [{"handle": 1, "hints": [8]}]}, {"base": 8192, "size": 4096, "dimms": [{"handle": 1, "hints": [16]}]}]}"#,
         "regions[1].dimms[0].hints", "0x1"),
        (#"{"regions": [{"base": 0, "size": 4096, "range_index": 70000, "dimms": [{"handle": 1}]}]}"#, "regions[0].range_index", "0xffff"),
        (#"{"regions": [{"base": 0, "size": 4096, "dimms": [{"handle": "0x100000000"}]}]}"#, "regions[0].dimms[0].handle", "0xffffffff"),
        (#"{"regions": [{"base": 0, "size": 4096, "dimms": [{"handle": 1, "hint": []}]}]}"#, "regions[0].dimms[0].hint", "unknown key"),
        (#"{"regions": [{"base": "0xffffffffffffff00", "size": 4096, "dimms": [{"handle": 1}]}]}"#, "regions[0].size", "address space"),
        (#"{"regions": [{"base": 0, "size": 4096, "dimms": [{"handle": 1}, {"handle": 1}]}]}"#, "regions[0].dimms[1].handle", "twice"),
        (#"{"regions": [{"base": 0, "size": 4096, "dimms": [{"handle": 1}]}, {"base": 8192, "size": 4096, "range_index": 1, "dimms": [{"handle": 2}]}]}"#,
         "regions[1].range_index", "regions[0]"),
        (#"{"regions": [{"base": 0, "size": 4096, "dimms": [{"handle": 1}]}], }"#, "", "invalid JSON"),
        (#"{"oem_id": "TOOLONG", "regions": [{"base": 0, "size": 4096, "dimms": [{"handle": 1}]}]}"#, "oem_id", "6"),
        (#"{"regions": [{"base": 0, "size": 4096, "type": "nvme", "dimms": [{"handle": 1}]}]}"#, "regions[0].type", "pmem"),
        (#"{"platform_capabilities": ["memory_controller_flush_on_power_loss", "adr"], "regions": [{"base": 0, "size": 4096, "dimms": [{"handle": 1}]}]}"#,
         "platform_capabilities[1]", "memory_mirroring"),
        (#"{"regions": [{"base": -1, "size": 4096, "dimms": [{"handle": 1}]}]}"#, "regions[0].base", "integer"),
        (#"{"regions": [{"base": 1.5, "size": 4096, "dimms": [{"handle": 1}]}]}"#, "regions[0].base", "integer"),
        (#"{"regions": [{"base": "0xZZ", "size": 4096, "dimms": [{"handle": 1}]}]}"#, "regions[0].base", "integer"),
    ])
    func badLayoutsNameTheJSONPath(_ json: String, _ path: String, _ word: String) throws {
        let error = try #require(Self.layoutError(json), "no error for \(json)")
        #expect(error.path == path, "\(error)")
        #expect(error.description.contains(word), "\(error)")
    }

    @Test func tooManyHintsForTheStructure() throws {
        let hints = (0..<8200).map { UInt64($0) * 8 }
        let layout = NFITLayout(regions: [.init(base: 0, size: 4096, dimms: [.init(handle: 1, hints: hints)])])
        #expect(throws: NFITLayoutError.self) { try layout.makeTable() }
        do { _ = try layout.makeTable() } catch {
            #expect(error.path == "regions[0].dimms[0].hints" && error.message.contains("at most 8189"))
        }
    }

    @Test func numbersMayBeIntegersOrHexStrings() throws {
        let a = try NFITLayout.parse(json: Array(#"{"regions":[{"base":805306368,"size":"33554432","dimms":[{"handle":257,"hints":[939520000]}]}]}"#.utf8))
        let b = try NFITLayout.parse(json: Array(#"{"regions":[{"base":"0x30000000","size":"0x2000000","dimms":[{"handle":"0x101","hints":["0x37fff000"]}]}]}"#.utf8))
        #expect(a == b)
        #expect(try a.makeTable().encode() == b.makeTable().encode())
    }

    @Test func encodedLayoutDecodesBack() throws {
        for layout in Self.sampleLayouts {
            #expect(try NFITLayout.parse(json: Array(layout.json.prettyPrinted().utf8)) == layout)
        }
        var full = Self.sampleLayouts[1]
        full.oemID = "ABCDEF"; full.oemTableID = "TABLE"; full.oemRevision = 7; full.revision = 2
        full.regions[0].type = .volatile; full.regions[0].rangeIndex = 3; full.regions[0].proximityDomain = 1
        full.platformCapabilities = [.cpuCacheFlushOnPowerLoss]
        #expect(try NFITLayout.parse(json: Array(full.json.prettyPrinted().utf8)) == full)
    }
}
