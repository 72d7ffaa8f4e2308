import ArgumentParser
import FlushHint
import Testing
@testable import flushctl

/// `ListFastPath` parses `flushctl list` command lines without ArgumentParser. It must never
/// accept a command line ArgumentParser refuses, nor read one differently: these tests hold it
/// to ArgumentParser over a generated corpus of argument vectors.
@Suite struct ListFastPathTests {
    /// The argument groups the corpus is built from: every option alone in each spelling,
    /// bundles, `=` forms, attached values, missing, empty and dash-led values, and things
    /// that are not list options at all.
    static let groups: [[String]] = {
        var groups: [[String]] = []
        let flags: [(short: String?, long: String)] = [
            ("B", "buses"), ("D", "dimms"), ("R", "regions"), ("N", "namespaces"), ("X", "device-dax"),
            ("i", "idle"), ("c", "configured"), ("u", "human"), ("v", "verbose"), (nil, "json"), (nil, "cached"),
        ]
        for flag in flags {
            if let short = flag.short { groups.append(["-" + short]) }
            groups.append(["--" + flag.long])
            groups.append(["--" + flag.long + "=1"])
        }
        let options: [(short: String?, long: String, value: String)] = [
            ("b", "bus", "ndbus0"), ("r", "region", "region0"), ("d", "dimm", "nmem1"),
            ("n", "namespace", "0.0"), ("m", "mode", "fsdax"), ("t", "type", "pmem"), (nil, "cache", "/tmp/c.json"),
        ]
        for option in options {
            if let short = option.short {
                groups.append(["-" + short, option.value])
                groups.append(["-" + short + option.value])
                groups.append(["-" + short + "=" + option.value])
                groups.append(["-" + short])
                groups.append(["-" + short, ""])
                groups.append(["-" + short, "-B"])
                groups.append(["-" + short, "all"])
                groups.append(["-" + short, "1 2"])
            }
            groups.append(["--" + option.long, option.value])
            groups.append(["--" + option.long + "=" + option.value])
            groups.append(["--" + option.long + "="])
            groups.append(["--" + option.long])
            groups.append(["--" + option.long, "--json"])
            groups.append(["--" + option.long + "=a=b"])
            groups.append(["--" + option.long, "é ü"])
        }
        groups += [
            ["-BDRN"], ["-DR"], ["-vv"], ["-vvv"], ["-BDRNXicuvvv"], ["-BB"], ["-Bb"], ["-bB"], ["-Bbndbus0"],
            ["-uD"], ["-Xv"], ["-BDRNq"],
            ["--help"], ["-h"], ["help"], ["--version"], ["--"], ["-"], ["foo"], ["list"], ["--nosuch"], ["-Z"],
            ["--BUSES"], ["-json"], ["---json"], ["--bus-id", "x"], ["--verbose", "--verbose"],
            ["-b", "x", "-b", "y"], ["--json", "--json"], ["-B", "-B"], ["--cache", "x", "--cache", "y"],
            ["--cached", "--cache", "/x"], ["-m", "dax"], ["-t", "blk"], ["-t", "bogus"], ["-n", "namespace0.0"],
        ]
        return groups
    }()

    /// Every group alone, every ordered pair, and a fixed pseudo-random sample of triples.
    static let corpus: [[String]] = {
        var corpus: [[String]] = [[]]
        for g in groups { corpus.append(g) }
        for a in groups { for b in groups { corpus.append(a + b) } }
        var rng = SplitMix64(seed: 0x5EED)
        for _ in 0..<600 {
            var argv: [String] = []
            for _ in 0..<3 { argv += groups[Int(rng.next() % UInt64(groups.count))] }
            corpus.append(argv)
        }
        return corpus
    }()

    /// What ArgumentParser makes of `flushctl list ARGS`, as `flushctl` runs it (from the root
    /// command); `nil` when it refuses or picks something other than `list`.
    static func argumentParser(_ arguments: [String]) -> ListRequest? {
        guard let command = try? Flushctl.parseAsRoot(["list"] + arguments) as? ListCommand else { return nil }
        // The subcommand's own parse must agree with the root's.
        guard let direct = try? ListCommand.parse(arguments), direct.request == command.request else {
            Issue.record("ListCommand.parse and Flushctl.parseAsRoot disagree on \(arguments)")
            return nil
        }
        return command.request
    }

    @Test func acceptsOnlyWhatArgumentParserAcceptsAndReadsItTheSame() {
        var accepted = 0
        for arguments in Self.corpus {
            let fast = ListFastPath.parse((["flushctl", "list"] + arguments).dropFirst())
            guard let fast else { continue }
            accepted += 1
            let reference = Self.argumentParser(arguments)
            #expect(reference != nil, "the fast path accepts \(arguments), ArgumentParser refuses it")
            if let reference { #expect(fast == reference, "\(arguments): fast path \(fast), ArgumentParser \(reference)") }
        }
        // The comparison means something only if the fast path accepts a good part of the corpus.
        #expect(accepted > 1000, "the fast path accepted only \(accepted) of \(Self.corpus.count) command lines")
    }

    /// The common forms must take the fast path (else it saves nothing), and read as ArgumentParser reads them.
    @Test(arguments: [
        [], ["-BDRN", "--json"], ["-BDRN"], ["-DR"], ["-B", "-D", "-R", "-N"], ["--buses", "--dimms", "--regions"],
        ["-u"], ["-v"], ["-vvv"], ["-v", "--verbose"], ["-b", "ndbus0"], ["--bus", "ndbus0"], ["--bus=ndbus0"],
        ["-r", "region0", "-D"], ["-n", "0.0"], ["-m", "fsdax"], ["-t", "pmem"], ["-i"], ["-c"], ["-X"],
        ["--cached"], ["--cache", "/tmp/c.json"], ["--cache=/tmp/c.json", "--cached", "-DR"], ["--json"],
    ])
    func commonFormsTakeTheFastPath(_ arguments: [String]) throws {
        let fast = try #require(ListFastPath.parse((["flushctl", "list"] + arguments).dropFirst()))
        let reference = try #require(Self.argumentParser(arguments))
        #expect(fast == reference)
    }

    /// Help, version, errors and other verbs stay ArgumentParser's.
    @Test(arguments: [
        ["list", "--help"], ["list", "-h"], ["help", "list"], ["--version"], ["list", "--version"], ["list", "-b"],
        ["list", "--nosuch"], ["list", "extra"], ["list", "--"], ["plan"], ["check", "-B"], [], ["List"], ["list", "-b", "x", "-b", "y"],
    ])
    func everythingElseGoesToArgumentParser(_ arguments: [String]) {
        #expect(ListFastPath.parse((["flushctl"] + arguments).dropFirst()) == nil)
    }

    /// The fast path prints errors as `flushctl list: error: …`, the prefix `Flushctl.main`
    /// derives for ListCommand.
    @Test func errorPrefixMatchesTheCommandPath() {
        #expect(commandPath(to: ListCommand.self) == ["flushctl", "list"])
    }

    @Test func valuesAndCachePolicy() throws {
        let request = try #require(ListFastPath.parse(["list", "-b", "ndbus0", "--cache=/x", "--cached", "-vv", "-u"][...]))
        var expected = ListOptions()
        expected.bus = "ndbus0"; expected.verbose = 2; expected.human = true
        #expect(request.options == expected)
        #expect(request.cache == .always(path: "/x"))
        #expect(request.json == false)
        let plain = try #require(ListFastPath.parse(["list"][...]))
        #expect(plain.cache == .whenNFITUnreadable(path: TopologyCache.defaultPath))
    }
}

/// A small deterministic generator, so the sampled corpus is the same on every run.
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
