import Foundation
import Testing

/// Issue 13, on the emulated host: flushctl maps only pages the kernel holds. Linux claims (and
/// maps uncached) only the first 2^ilog2(n) hints of each DIMM of a region, n the smallest
/// non-zero count; the pages of later hints are nobody's, and an NFIT whose hint the bus cannot
/// claim leaves the region disabled. Plans, checks, list pages and flushes follow the kernel.
@Suite(.serialized) struct UsableHintsTests {
    /// The scenario's hint pages that ndbus0 claims in /proc/iomem.
    static func claimed(_ result: CommandResult) -> Set<UInt64> {
        Set(result.stdout.split(separator: "\n").compactMap { line -> UInt64? in
            guard line.hasSuffix(": ndbus0") else { return nil }
            return UInt64(line.drop { $0 == " " }.prefix { $0 != "-" }, radix: 16)
        })
    }

    func expectOnlyUsablePages(_ scenarioName: String) throws {
        let scenario = PlanCheckFlushTests.planScenario(scenarioName)
        let layout = try PlanLayout(scenario: scenario)
        let region = layout.regions[0]
        let hints = layout.allHints
        let r = try EmulatedHost.run(scenario: scenario, commands: [
            "cat /proc/iomem",
            "flushctl list -R --json",
            "flushctl check --json",
            "flushctl plan /dev/dax0.0 --json --guest-base 0x100000000",
            PlanHints.zero(hints),
            "flushctl flush region0 --json",
            PlanHints.read(hints),
            "flushctl qemu /dev/dax0.0 --out /tmp/vm --guest-ram 256M --json",
            "flushctl nfit show /tmp/vm/nfit.aml --json",
        ], append: "iomem=relaxed")

        // The kernel claims exactly the pages of the hints it uses; the others are nobody's.
        let usablePages = Set(region.usablePages)
        let allPages = Set(hints.map { $0 & ~0xfff })
        #expect(usablePages.count < allPages.count, "the scenario must have hints Linux does not use")
        #expect(Self.claimed(r[0]) == usablePages, "ndbus0 claims: \(Self.claimed(r[0]).map(PlanHints.hex))")

        // list: the region's pages are those.
        let listed = try PlanJSON.array(r[1]).first?["flush_hint_pages"] as? [[String: Any]] ?? []
        #expect(Set(listed.compactMap { PlanJSON.hex($0["page"]) }) == usablePages, "\(listed)")

        // check: every page checked is claimed and passes; no unclaimed page is checked at all.
        #expect(r[2].status == 0, "\(r[2].stdout)")
        let checks = try #require(try PlanJSON.array(r[2]).first?["checks"] as? [[String: Any]])
        #expect(Set(checks.compactMap { PlanJSON.hex($0["page"]) }) == usablePages)
        #expect(checks.allSatisfy { $0["verdict"] as? String == "ok" }, "\(checks)")

        // plan: passthrough of the claimed pages only; each guest DIMM gets the usable prefix.
        let plan = try PlanJSON.object(r[3])
        #expect(plan["method"] as? String == "passthrough", "\(plan["reason"] ?? "")")
        try PlanJSON.expectRanges(plan, layout: layout, region: 0)
        let guestDIMMs = (plan["guest"] as? [String: Any])?["dimms"] as? [[String: Any]] ?? []
        #expect(guestDIMMs.map { ($0["flush_hints"] as? [Any])?.count ?? 0 } == region.dimms.map { _ in region.usable })

        // flush: one usable hint per DIMM; the unused hints still read 0.
        #expect(PlanHints.values(r[4]) == PlanHints.zeros(hints), "zeroed: \(r[4].stdout)")
        let flushed = try PlanJSON.object(r[5])
        PlanHints.expectOneHintPerDIMM(written: PlanHints.values(r[6]), layout: layout, flushed: [0],
                                       reported: PlanHints.addresses(in: flushed["result"] as? String ?? ""))

        // qemu: the guest's NFIT names only hints in pages the recipe maps, the usable prefix of
        // each DIMM; no guest hint points at an unbacked guest address (its store would exit).
        let recipe = try PlanJSON.object(r[7])
        #expect(recipe["method"] as? String == "passthrough", "\(recipe["reason"] ?? "")")
        let mapped = (recipe["hint_pages"] as? [[String: Any]] ?? []).compactMap { PlanJSON.hex($0["guest_address"]) }
        #expect(mapped.count == usablePages.count, "\(recipe["hint_pages"] ?? "")")
        let subtables = try PlanJSON.object(r[8])["subtables"] as? [[String: Any]] ?? []
        let guestHints = subtables.filter { $0["type"] as? Int == 6 }
            .map { ($0["hint_addresses"] as? [String] ?? []).compactMap { PlanJSON.hex($0) } }
        #expect(guestHints.map(\.count) == region.dimms.map { _ in region.usable }, "guest hints per DIMM: \(guestHints)")
        for hint in guestHints.joined() {
            #expect(mapped.contains { hint >= $0 && hint < $0 + 4096 }, "guest hint \(PlanHints.hex(hint)) in no mapped page \(mapped.map(PlanHints.hex))")
        }
    }

    /// Three hints per DIMM: the third of each, alone in its own page, is never mapped.
    @Test func threeHintsPerDIMM() throws { try expectOnlyUsablePages("three-hints-devdax") }

    /// 2 and 4 hints in one interleave: the first 2 of each; the page of the last two is nobody's.
    @Test func unequalHintCounts() throws { try expectOnlyUsablePages("unequal-hints-devdax") }

    /// A hint in a page another driver holds: the bus cannot claim it, Linux leaves the region
    /// disabled, and flushctl plans nothing on it and writes nowhere.
    @Test func hintOutsideTheBusClaim() throws {
        let scenario = PlanCheckFlushTests.planScenario("hint-outside-claim-devdax")
        let r = try EmulatedHost.run(scenario: scenario, commands: [
            "dmesg | grep 'failed to request'",
            "flushctl list -R -i --json",
            "flushctl check region0",
            "flushctl flush region0",
            "flushctl check --json",
        ], append: "iomem=relaxed")
        #expect(r[0].stdout.contains("0x00000000fed00000"), "the kernel's refusal: \(r[0].stdout)")
        let regions = try PlanJSON.array(r[1])
        #expect(regions.first?["state"] as? String == "disabled", "\(regions)")
        PlanJSON.expectOneLineError(r[2], "flushctl check: error: region0 is disabled; enable it first (ndctl enable-region region0)")
        PlanJSON.expectOneLineError(r[3], "flushctl flush: error: region0 is disabled; enable it first (ndctl enable-region region0)")
        // No region to check: only the host-wide checks, no page.
        let all = try PlanJSON.array(r[4])
        #expect(all.count == 1 && all[0]["region"] == nil)
        #expect((all[0]["checks"] as? [[String: Any]] ?? []).allSatisfy { $0["page"] == nil })
    }
}
