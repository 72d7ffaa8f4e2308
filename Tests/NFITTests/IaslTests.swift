import Foundation
import Testing
@testable import NFIT
import TestSupport

/// The decoder and encoder checked against ACPICA's iasl: fixtures compiled by iasl decode to
/// exactly the values written in their sources, tables we encode disassemble (iasl -d) to the
/// values we put in, and every compiled fixture round-trips byte for byte.
@Suite struct IaslTests {
    /// Fields iasl fills in itself when compiling, whatever the source says.
    static let setByCompiler: Set<String> = ["Checksum", "Asl Compiler Revision"]

    static func compare(_ actual: [IaslEntry], _ expected: [IaslEntry], skip: Set<String> = [],
                        _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
        let a = actual.filter { !skip.contains($0.name) }
        let b = expected.filter { !skip.contains($0.name) }
        #expect(a.count == b.count, "\(what): \(a.count) fields decoded, \(b.count) expected", sourceLocation: sourceLocation)
        for (i, (x, y)) in zip(a, b).enumerated() where x != y {
            Issue.record("\(what): field \(i): decoded \(x), expected \(y)", sourceLocation: sourceLocation)
        }
    }

    @Test(arguments: Support.fixtureNames)
    func compiledFixtureDecodesToTheSourceValues(_ name: String) throws {
        let source = try String(contentsOf: Support.fixture(name), encoding: .utf8)
        let expected = IaslListing.parse(source)
        #expect(expected.count > 20, "the fixture parser found too few fields in \(name).asl")
        let bytes = try Support.compiledFixture(name)
        let result = try NFITTable.decode(bytes)
        // multi-dimm's unmapped DIMM has a zero-hint flush hint structure (subtable 15).
        let expectedWarnings = name == "multi-dimm" ? [NFITLocation.subtable(15, type: 6, offset: 0x364, field: "hint_count")] : []
        #expect(result.warnings.map(\.location) == expectedWarnings, "\(name): \(result.warnings)")
        #expect(result.warnings.allSatisfy { $0.kind == .shortForOlderKernels })
        Self.compare(IaslListing.render(result.table), expected, skip: Self.setByCompiler, "\(name).asl")
    }

    @Test(arguments: Support.fixtureNames)
    func compiledFixtureDecodesToWhatIaslDisassembles(_ name: String) throws {
        let bytes = try Support.compiledFixture(name)
        let result = try NFITTable.decode(bytes)
        let dsl = IaslListing.parse(try Support.disassemble(bytes))
        // Here nothing is skipped: checksum and creator revision must match iasl's reading too.
        Self.compare(IaslListing.render(result.table), dsl, "\(name) disassembly")
        #expect(result.table.header.checksum == bytes[9])
    }

    @Test(arguments: Support.fixtureNames)
    func compiledFixtureRoundTripsByteForByte(_ name: String) throws {
        let bytes = try Support.compiledFixture(name)
        let table = try NFITTable.decode(bytes).table
        let encoded = try table.encode()
        #expect(encoded == bytes)
        #expect(try NFITTable.decode(encoded).table == table)
        #expect(try table.sealed() == table)
    }

    /// A table with one structure of every type, built with the model types and encoded by us.
    static var everyType: NFITTable {
        NFITTable(
            header: ACPITableHeader(oemID: "FLUSHC", oemTableID: "ALLTYPES", oemRevision: 7,
                                    creatorID: "FLCT", creatorRevision: 0x42),
            subtables: [
                .spaRange(NFITSPARange(rangeIndex: 3, flags: [.addOnlineOnly, .proximityDomainValid], proximityDomain: 5,
                                       rangeType: .persistentVirtualDisk, base: 0x1_2345_6000, length: 0x800_0000,
                                       memoryMappingAttribute: 0x8008)),
                .memoryDeviceMap(NFITMemoryDeviceMap(
                    deviceHandle: NFITDeviceHandle(dimm: 2, channel: 3, controller: 1, socket: 1, node: 0x12),
                    physicalID: 0x33, regionID: 1, rangeIndex: 3, controlRegionIndex: 9, regionSize: 0x400_0000,
                    regionOffset: 0x1000, address: 0x2000_0000, interleaveIndex: 4, interleaveWays: 2,
                    flags: [.saveFailed, .notArmed, .mapFailed])),
                .interleave(NFITInterleave(interleaveIndex: 4, lineSize: 0x1000, lineOffsets: [0, 2, 4])),
                .smbiosManagementInformation(NFITSMBIOSManagementInformation(data: Array(0..<24))),
                .controlRegion(NFITControlRegion(
                    regionIndex: 9, vendorID: 0x8086, deviceID: 0x0979, revisionID: 0x0201, subsystemVendorID: 0x1234,
                    subsystemDeviceID: 0x5678, subsystemRevisionID: 0x9a, validFields: 1, manufacturingLocation: 0x42,
                    manufacturingDate: 0x1926, serialNumber: 0xdeadbeef, formatInterfaceCode: 0x0201, windowCount: 2,
                    blockControl: NFITBlockControlWindows(windowSize: 0x2000, commandOffset: 0x10, commandSize: 8,
                                                          statusOffset: 0x20, statusSize: 4, flags: 1))),
                .blockDataWindowRegion(NFITBlockDataWindowRegion(regionIndex: 9, windowCount: 2, offset: 0x100,
                                                                 size: 0x2000, capacity: 0x1_0000_0000,
                                                                 startAddress: 0x4000_0000)),
                .flushHintAddress(NFITFlushHintAddress(deviceHandle: NFITDeviceHandle(rawValue: 0x12_1132),
                                                       hintAddresses: [0xfee0_0000, 0xfee0_0040, 0xfee0_1000])),
                .flushHintAddress(NFITFlushHintAddress(deviceHandle: NFITDeviceHandle(rawValue: 0x1), hintAddresses: [])),
                .platformCapabilities(NFITPlatformCapabilities(highestCapability: 2,
                                                               capabilities: [.cpuCacheFlushOnPowerLoss, .memoryControllerFlushOnPowerLoss])),
            ])
    }

    @Test func encodedTableOfEveryTypeDisassemblesToTheSameValues() throws {
        let table = try Self.everyType.sealed()
        let bytes = try table.encode()
        let dsl = IaslListing.parse(try Support.disassemble(bytes))
        Self.compare(IaslListing.render(table), dsl, "every-type table")
        let decoded = try NFITTable.decode(bytes)
        #expect(decoded.table == table)
        // Only the zero-hint flush hint structure warns (control region 9 and SPA 3 exist).
        #expect(decoded.warnings.map(\.kind) == [.shortForOlderKernels], "\(decoded.warnings)")
    }

    @Test(arguments: LayoutTests.sampleLayouts.indices)
    func builtTableDisassemblesToTheSameValues(_ index: Int) throws {
        let table = try LayoutTests.sampleLayouts[index].makeTable()
        let bytes = try table.encode()
        let dsl = IaslListing.parse(try Support.disassemble(bytes))
        Self.compare(IaslListing.render(table), dsl, "layout \(index)")
        // And iasl reads the hints we wrote: every handle's addresses, in order.
        var iaslHints: [UInt32: [UInt64]] = [:]
        var handle: UInt32? = nil
        var inFlush = false
        for entry in dsl {
            if entry.name == "Subtable Type" { inFlush = entry.value == "6"; handle = nil }
            if inFlush && entry.name == "Device Handle", let h = UInt32(entry.value, radix: 16) { handle = h; iaslHints[h] = [] }
            if inFlush && entry.name == "Hint Address", let h = handle, let a = UInt64(entry.value, radix: 16) {
                iaslHints[h, default: []].append(a)
            }
        }
        #expect(iaslHints == table.flushHintAddresses)
    }

    @Test func iaslTemplateHasEveryKnownSubtableType() throws {
        let table = try NFITTable.decode(try Support.compiledFixture("template")).table
        #expect(Set(table.subtables.map(\.type)) == Set(0...7))
    }
}
