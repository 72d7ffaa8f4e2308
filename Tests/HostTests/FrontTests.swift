import Foundation
import Testing

/// The installed `flushctl` is the Embedded Swift front (Sources/flushctl-front): it answers
/// `flushctl list` itself and hands everything else to the flushctl program in
/// /usr/libexec/flushctl. In every scenario the two must print the same bytes on stdout and
/// stderr and exit with the same status, whichever of them does the work.
@Suite(.serialized) struct FrontTests {
    static let core = "/usr/libexec/flushctl/flushctl"

    /// Option sets: the common ones the front answers, and ones it must hand over (bad values,
    /// `--cached`, help, unknown options), so both sides of the split are compared.
    static let optionSets = [
        "", "-BDRN", "-BDRN --json", "-BDRNu", "-DR", "-RDi", "-vvv", "-X", "-c", "-Du",
        "-N -r region0", "-D -d nmem0 -R", "-R -n 0.0", "-b nosuchbus", "-R --bus=ACPI.NFIT",
        "-t blk -R", "-t bogus", "-m bogus -N", "--cached -DR", "-bX", "--help", "--nonsense",
    ]

    @Test(arguments: ListMatchesNdctlTests.scenarios)
    func frontAndProgramAgree(scenario: String) throws {
        var commands = ["test -x \(Self.core) && ! cmp -s /usr/bin/flushctl \(Self.core)"]
        var pairs: [(front: String, core: String)] = []
        for options in Self.optionSets {
            pairs.append(("flushctl list \(options)", "\(Self.core) list \(options)"))
        }
        pairs.append((ListMatchesNdctlTests.asNobody("flushctl list -BDRN --json"),
                      ListMatchesNdctlTests.asNobody("\(Self.core) list -BDRN --json")))
        pairs.append(("flushctl --version", "\(Self.core) --version"))
        pairs.append(("flushctl nfit --json", "\(Self.core) nfit --json"))
        for pair in pairs { commands += [pair.front, pair.core] }

        let results = try EmulatedHost.run(scenario: ListMatchesNdctlTests.hostsimArgument(scenario), commands: commands)
        try #require(results.count == commands.count, "expected \(commands.count) results, got \(results.count)")
        try #require(results[0].status == 0, "\(scenario): the guest lacks the front or the flushctl program beside it")
        for (i, pair) in pairs.enumerated() {
            let front = results[1 + 2 * i], core = results[2 + 2 * i]
            let label = "\(scenario): \(pair.front)"
            #expect(front.status == core.status, "\(label): status \(front.status), flushctl program's \(core.status)")
            #expect(front.stdout == core.stdout, "\(label): stdout differs:\n\(front.stdout)\n--- flushctl program:\n\(core.stdout)")
            #expect(front.stderr == core.stderr, "\(label): stderr differs:\n\(front.stderr)\n--- flushctl program:\n\(core.stderr)")
        }
    }

    /// Without the flushctl program the front still lists (it does not hand `list` over), and
    /// anything else fails with a message saying where it looked, status 2.
    @Test func frontListsByItself() throws {
        let results = try EmulatedHost.run(scenario: "interleave", commands: [
            "\(Self.core) list -BDRN --json",
            "mv \(Self.core) /tmp/core && flushctl list -BDRN --json",
            "flushctl --version",
            "mv /tmp/core \(Self.core) && flushctl --version",
        ])
        try #require(results.count == 4)
        #expect(results[0].status == 0 && results[0].stdout.contains("\"flush_hint_pages\""), "\(results[0])")
        #expect(results[1].status == 0, "front without the program: \(results[1].stderr)")
        #expect(results[1].stdout == results[0].stdout, "front without the program listed something else:\n\(results[1].stdout)")
        #expect(results[2].status == 2 && results[2].stdout.isEmpty, "\(results[2])")
        #expect(results[2].stderr.contains("/usr/bin/../libexec/flushctl/flushctl"), "\(results[2].stderr)")
        #expect(results[3].status == 0 && results[3].stdout == "0.1.0\n", "\(results[3])")
    }
}
