import Foundation
import Testing

/// `Tests/bench/guest-flush.sh` (issue 15) runs: one boot of the emulated host and its KVM guest with a
/// small N, every method reported with all N flushes and its exit counts. No timing is asserted.
@Suite(.serialized) struct GuestFlushBenchTests {
    static let iterations = 50
    static let methods = ["null", "passthrough", "passthrough-deep_flush", "passthrough-fsync", "trapped", "virtio-pmem"]

    /// One table row of the script's output: `| run | method | count | p50 | p99 | p99.9 | max | exits/flush |
    /// MMIO exits/flush | p50 / passthrough |`.
    struct Row { let method: String; let count: Int; let exits: Double?; let mmioExits: Double? }

    static func rows(_ output: String) -> [Row] {
        output.split(separator: "\n").compactMap { line in
            let cells = line.split(separator: "|", omittingEmptySubsequences: false)
                .map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count == 12, cells[1] == "1", let count = Int(cells[3]) else { return nil }
            return Row(method: cells[2], count: count, exits: Double(cells[8]), mmioExits: Double(cells[9]))
        }
    }

    @Test func everyMethodReportsAllFlushesWithExits() throws {
        let flushctl = try EmulatedHost.flushctlBinary.get()
        let script = EmulatedHost.repositoryRoot.appendingPathComponent("Tests/bench/guest-flush.sh").path
        EmulatedHost.bootLock.lock()
        defer { EmulatedHost.bootLock.unlock() }
        let (status, output) = try EmulatedHost.shell(
            "ITERATIONS=\(Self.iterations) RUNS=1 SVG= FLUSHCTL=\(EmulatedHost.shellQuoted(flushctl)) \(EmulatedHost.shellQuoted(script))")
        try #require(status == 0, "guest-flush.sh failed (exit \(status)):\n\(output)")
        let rows = Self.rows(output)
        #expect(rows.map(\.method) == Self.methods, "methods in the table:\n\(output)")
        for row in rows {
            #expect(row.count == Self.iterations, "\(row.method): count \(row.count)")
            #expect(row.exits != nil && row.mmioExits != nil, "\(row.method): no exit counts:\n\(output)")
        }
        // The one figure the emulator does not decide: a trapped store exits to QEMU, a passthrough one does not.
        let byName = Dictionary(uniqueKeysWithValues: rows.map { ($0.method, $0) })
        #expect((byName["trapped"]?.mmioExits ?? 0) >= 1, "trapped: \(String(describing: byName["trapped"]))")
        #expect((byName["passthrough"]?.mmioExits ?? 1) < 1, "passthrough: \(String(describing: byName["passthrough"]))")
        // The host side of the same boot.
        #expect(output.contains("mapped_hints  region0"), "no flushctl bench on the host:\n\(output)")
    }
}
