import Foundation
import Testing
@testable import NFIT
import TestSupport

/// Truncated and corrupted copies of iasl-compiled tables: each validation case gives the
/// expected error or warning, naming the subtable index, byte offset and field.
///
/// The iasl template's layout: subtable 0 SPA range at 0x28, 1 memory map at 0x60,
/// 2 interleave at 0x90, 3 SMBIOS at 0xb0, 4 control region at 0xd8, 5 block data window
/// at 0x128, 6 flush hint at 0x150 (2 hints), 7 platform capabilities at 0x170; 0x180 bytes.
@Suite struct DecodeErrorTests {
    static func template() throws -> [UInt8] { try Support.compiledFixture("template") }

    /// The template changed by `edit`, then resealed: a field made wrong on purpose, not a
    /// checksum or length the change broke by the way.
    static func template(_ edit: (inout [UInt8]) -> Void) throws -> [UInt8] {
        var b = try template()
        edit(&b)
        Support.reseal(&b)
        return b
    }

    static func decodeError(_ b: [UInt8]) -> NFITDecodeError? {
        do { _ = try NFITTable.decode(b); return nil } catch { return error }
    }

    @Test func templateLayoutIsAsDocumented() throws {
        let t = try NFITTable.decode(Self.template()).table
        #expect(t.subtableOffsets == [0x28, 0x60, 0x90, 0xb0, 0xd8, 0x128, 0x150, 0x170])
    }

    @Test func truncatedTable() throws {
        let b = Array(try Self.template().prefix(300))
        let e = try #require(Self.decodeError(b))
        #expect(e.kind == .truncated)
        #expect(e.location == .header(offset: 4, field: "length"))
        #expect(e.description == #"table header at byte 0x4: field "length" = 0x180 but only 0x12c bytes were read (truncated table)"#)
    }

    @Test(arguments: [0, 3, 4, 20, 35])
    func truncatedInsideTheHeader(_ n: Int) throws {
        let e = try #require(Self.decodeError(Array(try Self.template().prefix(n))))
        #expect(e.kind == .truncated)
        #expect(e.description.contains("truncated table"))
    }

    @Test func notAnNFIT() throws {
        var b = try Self.template()
        b[0] = UInt8(ascii: "S"); b[1] = UInt8(ascii: "S"); b[2] = UInt8(ascii: "D"); b[3] = UInt8(ascii: "T")
        let e = try #require(Self.decodeError(b))
        #expect(e.kind == .notAnNFIT)
        #expect(e.description == #"table header at byte 0x0: field "signature" = "SSDT": not an NFIT (expected "NFIT")"#)
    }

    @Test func headerLengthTooSmall() throws {
        var b = try Self.template()
        Support.put32(&b, 4, 36)
        let e = try #require(Self.decodeError(b))
        #expect(e.kind == .badHeaderLength)
        #expect(e.location.field == "length" && e.location.offset == 4)
    }

    @Test func subtableLengthZero() throws {
        let b = try Self.template { b in Support.put16(&b, 0x60 + 2, 0) }
        let e = try #require(Self.decodeError(b))
        #expect(e.kind == .zeroLength)
        #expect(e.description.hasPrefix(#"subtable 1 (memory device to SPA range map) at byte 0x60: field "length" = 0"#))
    }

    @Test(arguments: [
        (0x28, 0, 55, "SPA range", 56),
        (0x60, 1, 47, "memory device to SPA range map", 48),
        (0x90, 2, 12, "interleave", 16),
        (0xb0, 3, 4, "SMBIOS management information", 8),
        (0xd8, 4, 31, "NVDIMM control region", 32),
        (0x128, 5, 39, "NVDIMM block data window region", 40),
        (0x150, 6, 8, "flush hint address", 16),
        (0x170, 7, 15, "platform capabilities", 16),
    ])
    func subtableShorterThanItsTypeMinimum(_ offset: Int, _ index: Int, _ length: Int, _ name: String, _ minimum: Int) throws {
        let b = try Self.template { b in Support.put16(&b, offset + 2, UInt16(length)) }
        let e = try #require(Self.decodeError(b))
        #expect(e.kind == .shorterThanMinimum)
        #expect(e.location == .subtable(index, type: b[offset] == 0 ? 0 : UInt16(b[offset]), offset: offset, field: "length"))
        #expect(e.description == "subtable \(index) (\(name)) at byte 0x\(String(offset, radix: 16)): field \"length\" = \(length) is shorter than the \(minimum) bytes a \(name) structure needs")
    }

    @Test func subtableRunningPastTheTable() throws {
        var b = try Self.template()
        Support.put16(&b, 0x170 + 2, 0x20)
        b[9] = 0; b[9] = 0 &- b.reduce(UInt8(0), &+)
        let e = try #require(Self.decodeError(b))
        #expect(e.kind == .pastEndOfTable)
        #expect(e.description == #"subtable 7 (platform capabilities) at byte 0x170: field "length" = 32 runs past the end of the table (16 bytes left, table length 0x180)"#)
    }

    @Test func partialSubtableHeaderAtTheEnd() throws {
        let b = try Self.template { b in b += [0x06, 0x00] }
        let e = try #require(Self.decodeError(b))
        #expect(e.kind == .pastEndOfTable)
        #expect(e.location.subtableIndex == 8 && e.location.offset == 0x180)
    }

    @Test func flushHintCountThatDoesNotFit() throws {
        let b = try Self.template { b in Support.put16(&b, 0x150 + 8, 9) }
        let e = try #require(Self.decodeError(b))
        #expect(e.kind == .countDoesNotFit)
        #expect(e.description == #"subtable 6 (flush hint address) at byte 0x150: field "hint_count" = 9 needs 88 bytes but the structure length is 32"#)
    }

    @Test func interleaveLineCountThatDoesNotFit() throws {
        let b = try Self.template { b in Support.put32(&b, 0x90 + 8, 0x4000_0000) }
        let e = try #require(Self.decodeError(b))
        #expect(e.kind == .countDoesNotFit)
        #expect(e.description.hasPrefix(#"subtable 2 (interleave) at byte 0x90: field "line_count" = 1073741824 needs 4294967312 bytes"#))
    }

    @Test func controlRegionWindowsWithoutTheirFields() throws {
        let table = NFITTable(subtables: [.controlRegion(NFITControlRegion(regionIndex: 1, vendorID: 1, deviceID: 2,
                                                                           serialNumber: 3, formatInterfaceCode: 0x201))])
        var b = try table.encode()
        #expect(b.count == 40 + 32)
        Support.put16(&b, 40 + 30, 2)
        Support.reseal(&b)
        let e = try #require(Self.decodeError(b))
        #expect(e.kind == .countDoesNotFit)
        #expect(e.location == .subtable(0, type: 4, offset: 0x28, field: "window_count"))
        // The encoder refuses the same inconsistency.
        var bad = table
        if case .controlRegion(var d) = bad.subtables[0] { d.windowCount = 2; bad.subtables[0] = .controlRegion(d) }
        #expect(throws: NFITEncodeError.self) { try bad.encode() }
    }

    // MARK: warnings

    static func warnings(_ b: [UInt8]) throws -> [NFITDecodeWarning] { try NFITTable.decode(b).warnings }

    @Test func badChecksumIsAWarning() throws {
        var b = try Self.template()
        b[0x24] ^= 0x5a  // the NFIT's reserved bytes
        let result = try NFITTable.decode(b)
        #expect(result.warnings.map(\.kind) == [.badChecksum])
        let w = try #require(result.warnings.first)
        #expect(w.location == .header(offset: 9, field: "checksum"))
        #expect(w.description.contains("should be"))
        #expect(result.table.reserved == 0x5a)
        // Encoding repairs it.
        #expect(try NFITTable.decode(result.table.encode()).warnings.isEmpty)
    }

    @Test func bytesAfterTheTableAreAWarning() throws {
        let original = try Self.template()
        let result = try NFITTable.decode(original + [0, 0, 0, 0])
        #expect(result.warnings.map(\.kind) == [.bytesAfterTable])
        #expect(result.warnings.first?.description == #"table header at byte 0x4: field "length" = 0x180 but 0x184 bytes were read; the 4 bytes after the table are ignored"#)
        #expect(try result.table.encode() == original)
    }

    @Test func duplicateSPARangeIndex() throws {
        let spa = NFITSPARange(rangeIndex: 1, rangeType: .persistentMemory, base: 0, length: 4096)
        let b = try NFITTable(subtables: [.spaRange(spa), .spaRange(spa)]).encode()
        let w = try Self.warnings(b)
        #expect(w.map(\.kind) == [.duplicateSPARangeIndex])
        #expect(w.first?.description == #"subtable 1 (SPA range) at byte 0x60: field "range_index" = 1 is used by an earlier SPA range structure too"#)
    }

    @Test func memdevPointingAtAMissingSPARange() throws {
        let b = try Self.template { b in Support.put16(&b, 0x60 + 12, 5) }
        let w = try Self.warnings(b)
        #expect(w.map(\.kind) == [.missingSPARange])
        #expect(w.first?.description == #"subtable 1 (memory device to SPA range map) at byte 0x60: field "range_index" = 5 names no SPA range structure (device handle 0x1)"#)
    }

    @Test func memdevWithRangeIndexZeroIsAnUnmappedDIMM() throws {
        let b = try Self.template { b in Support.put16(&b, 0x60 + 12, 0) }
        #expect(try Self.warnings(b).isEmpty)
    }

    @Test func memdevPointingAtAMissingControlRegion() throws {
        let b = try Self.template { b in Support.put16(&b, 0x60 + 14, 3) }
        let w = try Self.warnings(b)
        #expect(w.map(\.kind) == [.missingControlRegion])
        #expect(w.first?.location == .subtable(1, type: 1, offset: 0x60, field: "control_region_index"))
    }

    @Test func hintAddressNotEightByteAligned() throws {
        let b = try Self.template { b in Support.put64(&b, 0x150 + 16 + 8, 0x6_1800_0004) }
        let result = try NFITTable.decode(b)
        #expect(result.warnings.map(\.kind) == [.unalignedHintAddress])
        #expect(result.warnings.first?.description == #"subtable 6 (flush hint address) at byte 0x150: field "hint_address[1]" = 0x618000004 is not 8-byte aligned (the kernel writes 8 bytes there)"#)
        // The value is still reported exactly.
        #expect(result.table.flushHintAddresses[1] == [0x4_1800_0000, 0x6_1800_0004])
    }

    @Test func structuresOlderKernelsRejectAreFlagged() throws {
        let table = NFITTable(subtables: [
            .flushHintAddress(NFITFlushHintAddress(deviceHandle: .init(rawValue: 1), hintAddresses: [])),
            .flushHintAddress(NFITFlushHintAddress(deviceHandle: .init(rawValue: 2), hintAddresses: [0x1000])),
            .interleave(NFITInterleave(interleaveIndex: 1, lineSize: 4096, lineOffsets: [])),
            .interleave(NFITInterleave(interleaveIndex: 2, lineSize: 4096, lineOffsets: [0])),
        ])
        let w = try NFITTable.decode(table.encode()).warnings
        #expect(w.map(\.kind) == [.shortForOlderKernels, .shortForOlderKernels])
        #expect(w.map(\.location) == [.subtable(0, type: 6, offset: 0x28, field: "hint_count"),
                                      .subtable(2, type: 2, offset: 0x50, field: "line_count")])
    }

    @Test func secondFlushHintStructureForAHandle() throws {
        let table = NFITTable(subtables: [
            .flushHintAddress(NFITFlushHintAddress(deviceHandle: .init(rawValue: 7), hintAddresses: [0x1000])),
            .flushHintAddress(NFITFlushHintAddress(deviceHandle: .init(rawValue: 7), hintAddresses: [0x2000])),
        ])
        let result = try NFITTable.decode(table.encode())
        #expect(result.warnings.map(\.kind) == [.duplicateFlushHintStructure])
        #expect(result.warnings.first?.location == .subtable(1, type: 6, offset: 0x40, field: "device_handle"))
        // Like the kernel, the first structure is the one that counts.
        #expect(result.table.flushHintAddresses == [7: [0x1000]])
    }

    @Test func unknownTypeAndExtraBytesAreKept() throws {
        let table = NFITTable(subtables: [
            .unknown(NFITUnknownSubtable(type: 8, body: [1, 2, 3, 4, 5])),
            .flushHintAddress(NFITFlushHintAddress(deviceHandle: .init(rawValue: 1), hintAddresses: [0x1000], trailing: [9, 9, 9, 9])),
            .spaRange(NFITSPARange(rangeIndex: 1, flags: [.locationCookieValid], rangeType: .unknown(NFITGUID(bytes: Array(1...16))),
                                   base: 0, length: 1, locationCookie: 0xc00c1e)),
            .spaRange(NFITSPARange(rangeIndex: 2, flags: [.locationCookieValid], rangeType: .volatileMemory, base: 0, length: 1)),
            .spaRange(NFITSPARange(rangeIndex: 3, flags: [], rangeType: .volatileMemory, base: 0, length: 1, locationCookie: 5)),
        ])
        let bytes = try table.encode()
        let result = try NFITTable.decode(bytes)
        #expect(result.warnings.map(\.kind) == [.unknownSubtableType, .extraBytesInSubtable, .locationCookieMissing,
                                                 .locationCookieNotFlagged])
        #expect(result.table == (try table.sealed()))
        #expect(try result.table.encode() == bytes)
        #expect(result.table.subtableOffsets == [0x28, 0x31, 0x4d, 0x8d, 0xc5])
    }

    // MARK: never crash

    /// Every prefix and every single-bit flip of every compiled fixture either decodes (and then
    /// round-trips) or fails with an error; nothing traps.
    @Test(arguments: Support.fixtureNames)
    func everyPrefixAndBitFlipIsHandled(_ name: String) throws {
        let original = try Support.compiledFixture(name)
        var decoded = 0, failed = 0
        func check(_ b: [UInt8]) {
            do {
                let r = try NFITTable.decode(b)
                decoded += 1
                let again = try NFITTable.decode(try r.table.encode())
                #expect(again.table == (try r.table.sealed()))
                let valid = !r.warnings.contains { $0.kind == .badChecksum || $0.kind == .bytesAfterTable }
                if valid { #expect(try r.table.encode() == b) }
            } catch let error as NFITDecodeError {
                failed += 1
                #expect(!error.description.isEmpty)
            } catch {
                Issue.record("unexpected error \(error)")
            }
        }
        for n in 0...original.count { check(Array(original.prefix(n))) }
        for i in original.indices {
            for bit in 0..<8 {
                var b = original
                b[i] ^= UInt8(1) << UInt8(bit)
                check(b)
            }
        }
        #expect(decoded > 0 && failed > 0)
    }
}
