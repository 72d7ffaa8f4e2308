import ArgumentParser
import FlushHint
import OrderedJSON
#if canImport(Glibc)
import Glibc
#endif

/// `flushctl check [REGION]`: can this host map flush-hint pages from /dev/mem, and safely?
struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Check whether a region's flush-hint pages can be mapped from /dev/mem, and safely.",
        discussion: """
            Checks privilege (CAP_SYS_RAWIO), the kernel's /dev/mem restrictions \
            (CONFIG_STRICT_DEVMEM, CONFIG_IO_STRICT_DEVMEM, iomem=relaxed), whether Linux 5.8+ \
            would revoke the mapping when the region is re-bound, and for every hint page its \
            owner in /proc/iomem (an nd bus alone; never System RAM or another device), whether \
            other regions' hints share it, and finally a real mmap of it. Without REGION, every \
            enabled region whose DIMMs have flush hints is checked. Each check is ok, warn, fail \
            or unknown, with a finding and a fix. Exit status: 0 when nothing failed or was \
            unknown, 1 otherwise, 2 for bad input.
            """
    )

    @Argument(help: ArgumentHelp("The region to check (regionN or N); all with hints when omitted.", valueName: "region"))
    var region: String?

    @Flag(name: .customLong("json"), help: "Print the checks as JSON.")
    var json = false

    func run() throws {
        let (topology, note) = try HostPlanning.readTopology()
        var regions: [RegionFacts] = []
        if let region {
            let facts = try HostPlanning.regionFacts(named: region, in: topology)
            guard facts.enabled else { throw PlanError.regionDisabled(facts.name) }
            regions = [facts]
        } else {
            regions = topology.allRegions.map { RegionFacts(region: $0, topology: topology) }
                .filter { $0.enabled && $0.dimms.contains { !($0.hints ?? []).isEmpty } }
                // region0 before region1 (libndctl may enumerate them in any order), as ndctl sorts.
                .sorted { regionNumber($0.name) < regionNumber($1.name) }
        }
        let host = HostFacts.readRunning()
        var results: [(RegionFacts, [Check])] = []
        for facts in regions {
            results.append((facts, HostPlanning.checks(for: facts, host: host)))
        }
        if results.isEmpty {
            // No region to check: the host-wide checks still say whether mapping could work.
            let checks = DevMemChecks.evaluate(facts: host, region: "the region", pages: [])
            results.append((RegionFacts(name: "", enabled: false, persistenceDomain: "", deepFlush: nil, dimms: []), checks))
        }
        if json {
            let value: JSONValue = .array(results.map { facts, checks in
                var members: [(String, JSONValue)] = []
                if !facts.name.isEmpty { members.append(("region", .string(facts.name))) }
                members.append(("checks", .array(checks.map(checkToJSON))))
                if let note { members.append(("note", .string(note))) }
                return .object(members)
            })
            print(value.prettyPrinted())
        } else {
            for (facts, checks) in results {
                print(facts.name.isEmpty ? "no region with flush hints; host checks:" : "\(facts.name):")
                for check in checks { print("  " + checkToText(check)) }
            }
            if let note { print("note: \(note)") }
        }
        let failed = results.contains { $0.1.contains { !$0.verdict.allowsPassthrough } }
        if failed { throw ExitCode(1) }
    }
}

/// The number of `regionN` for ordering (unparsable names last, by name).
private func regionNumber(_ name: String) -> (Int, String) {
    (name.hasPrefix("region") ? Int(name.dropFirst(6)) ?? Int.max : Int.max, name)
}
