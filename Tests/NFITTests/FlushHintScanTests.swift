import Testing
@testable import NFIT

/// `NFITTable.deviceHints(decoding:)` must give what a full decode gives: the same hints
/// for every table the decoder accepts, the same error for every table it refuses. Checked on
/// the iasl fixtures and on truncated and byte-corrupted copies of them.
@Suite struct FlushHintScanTests {
    enum Outcome: Equatable {
        case hints([UInt32: [UInt64]])
        case error(NFITDecodeError)
    }

    static func decoded(_ bytes: [UInt8]) -> Outcome {
        do { return .hints(try NFITTable.decode(bytes).table.flushHintAddresses) } catch { return .error(error) }
    }

    static func scanned(_ bytes: [UInt8]) -> Outcome {
        do {
            var byHandle: [UInt32: [UInt64]] = [:]
            let devices = try NFITTable.deviceHints(decoding: bytes)
            for device in devices {
                // One entry per handle.
                if byHandle[device.handle] != nil { Issue.record("handle \(device.handle) listed twice") }
                byHandle[device.handle] = device.addresses
            }
            // In table order: the order of the first structure for each handle.
            if let table = try? NFITTable.decode(bytes).table {
                var order: [UInt32] = []
                for f in table.flushHintStructures where !order.contains(f.deviceHandle.rawValue) {
                    order.append(f.deviceHandle.rawValue)
                }
                if devices.map(\.handle) != order { Issue.record("order \(devices.map(\.handle)), table \(order)") }
            }
            return .hints(byHandle)
        } catch { return .error(error) }
    }

    /// Copies of `table`: every truncation, and every byte set to 0, 0xFF, itself + 1 and
    /// itself - 1, with the length field and checksum as left by the corruption.
    static func mutations(of table: [UInt8]) -> [[UInt8]] {
        var out: [[UInt8]] = [table]
        for n in 0..<table.count { out.append(Array(table[..<n])) }
        for i in table.indices {
            for value in [0, 0xFF, table[i] &+ 1, table[i] &- 1] {
                var copy = table
                copy[i] = value
                out.append(copy)
            }
        }
        return out
    }

    @Test(arguments: Support.fixtureNames)
    func agreesWithTheDecoderOnMutatedFixtures(_ name: String) throws {
        let table = try Support.compiledFixture(name)
        // The untouched fixture decodes, so the comparison covers the success path too.
        guard case .hints = Self.decoded(table) else {
            Issue.record("fixture \(name) does not decode")
            return
        }
        var accepted = 0
        for bytes in Self.mutations(of: table) {
            let expected = Self.decoded(bytes)
            if case .hints = expected { accepted += 1 }
            #expect(Self.scanned(bytes) == expected, "\(name), \(bytes.count) bytes")
            // The walk alone gives up exactly where the decoder throws.
            let walked = NFITTable.scanDeviceHints(bytes)
            if case .hints = expected {
                #expect(walked == (try? NFITTable.deviceHints(decoding: bytes)), "\(name), \(bytes.count) bytes")
            } else {
                #expect(walked == nil, "\(name), \(bytes.count) bytes")
            }
        }
        #expect(accepted > 1)
    }

    /// A table with two flush hint structures for one handle: only the first counts.
    @Test func firstStructureForAHandleWins() throws {
        var table = try Support.compiledFixture("template")
        // The template's flush hint structure is at 0x150, 0x20 bytes: append a second one
        // for the same handle with other addresses, then fix length and checksum.
        var second = Array(table[0x150..<0x170])
        second[16] = 0x40
        table += second
        DecodeErrorTests.reseal(&table)
        let expected = Self.decoded(table)
        guard case .hints(let hints) = expected else {
            Issue.record("the doubled table does not decode: \(expected)")
            return
        }
        #expect(Self.scanned(table) == expected)
        #expect(hints.count == 1)
    }
}
