import ArgumentParser
import OrderedJSON
#if canImport(Glibc)
import Glibc
#endif
import FlushPlanning
import HostIO
import NVDIMMTopology

/// `flushctl check [REGION]`: can this host map flush-hint pages (through the flushhint node or
/// from /dev/mem), and safely?
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
        let snapshot = try HostSnapshot.read()
        var regions: [RegionFacts] = []
        if let region {
            let facts = try snapshot.region(named: region)
            guard facts.enabled else { throw PlanError.regionDisabled(facts.name) }
            regions = [facts]
        } else {
            regions = snapshot.regionsWithHints
        }
        let host = HostFacts.readRunning()
        var results: [(region: RegionName?, checks: [Check])] = []
        for facts in regions {
            results.append((facts.name, HostPlanning.checks(for: facts, host: host)))
        }
        if results.isEmpty {
            // No region to check: the host-wide checks still say whether mapping could work.
            results.append((nil, DevMemChecks.evaluate(facts: host, region: "the region", pages: [])))
        }
        let note = snapshot.note
        if json {
            let value: JSONValue = .array(results.map { checksToJSON(region: $0.region, checks: $0.checks, note: note) })
            print(value.prettyPrinted())
        } else {
            for (region, checks) in results {
                print(region.map { "\($0):" } ?? "no region with flush hints; host checks:")
                for check in checks { print("  " + checkToText(check)) }
            }
            if let note { print("note: \(note)") }
        }
        let failed = results.contains { $0.1.contains { !$0.verdict.allowsPassthrough } }
        if failed { throw ExitCode(1) }
    }
}
