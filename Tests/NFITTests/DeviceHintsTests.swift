import Testing
@testable import NFIT
import TestSupport

/// `NFITTable.deviceHints(decoding:)` lists what a full decode holds: one entry per handle,
/// in table order, the first structure for a handle winning.
@Suite struct DeviceHintsTests {
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

    /// A table with two flush hint structures for one handle: only the first counts.
    @Test func firstStructureForAHandleWins() throws {
        var table = try Support.compiledFixture("template")
        // The template's flush hint structure is at 0x150, 0x20 bytes: append a second one
        // for the same handle with other addresses, then fix length and checksum.
        var second = Array(table[0x150..<0x170])
        second[16] = 0x40
        table += second
        Support.reseal(&table)
        let expected = Self.decoded(table)
        guard case .hints(let hints) = expected else {
            Issue.record("the doubled table does not decode: \(expected)")
            return
        }
        #expect(Self.scanned(table) == expected)
        #expect(hints.count == 1)
    }
}
