import Foundation
import Testing
@testable import NFIT
import TestSupport

/// Runs the built `flushctl` binary (next to this test bundle, i.e. `.build-*/debug/flushctl`): `nfit`, and bad input to any verb.
@Suite struct CLITests {
    static func write(_ bytes: [UInt8], _ name: String, in dir: URL) throws -> String {
        let url = dir.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return url.path
    }

    /// Options that do not parse are bad input like any other: a message, the usage, exit 2
    /// (not argument-parser's 64); help stays a clean exit.
    @Test(arguments: [
        (["list", "-bX"], "Unknown option '-bX'"),
        (["list", "--bus"], "Missing value for '--bus <bus-id>'"),
        (["nosuchverb"], "Unexpected argument 'nosuchverb'"),
        (["nfit", "build"], "Missing expected argument '<spec.json>'"),
        (["plan"], "Missing expected argument"),
    ])
    func optionsThatDoNotParseExitTwo(arguments: [String], message: String) throws {
        let r = try Support.run(try Support.flushctl(), arguments)
        #expect(r.status == 2, "\(arguments): exit \(r.status): \(r.stderr)")
        #expect(r.stdout.isEmpty)
        #expect(r.stderr.contains("Error: " + message) && r.stderr.contains("Usage: flushctl"), "\(arguments): \(r.stderr)")
    }

    /// Swift's `CommandLine.arguments` repairs invalid UTF-8 with U+FFFD: `plan $'pm\xff'` must
    /// not plan an existing `pm\u{FFFD}`, but exit 2 naming the argument, its bytes escaped.
    @Test func argumentsThatAreNotUTF8ExitTwoAndPlanNothing() throws {
        let dir = try Support.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let repaired = dir.appendingPathComponent("pm\u{FFFD}")
        try Data(count: 16 << 20).write(to: repaired)
        let raw = Array((dir.path + "/pm").utf8) + [0xff]
        let r = try Support.runRaw(try Support.flushctl(), [Array("plan".utf8), raw])
        #expect(r.status == 2, "exit \(r.status): \(r.stdout) \(r.stderr)")
        #expect(r.stdout.isEmpty, "\(r.stdout)")
        #expect(r.stderr.hasPrefix("flushctl: error: argument 2 \"\(dir.path)/pm\\xff\" is not valid UTF-8"), "\(r.stderr)")
        #expect(r.stderr.split(separator: "\n").count == 1 && r.stderr.hasSuffix("\n"))

        // In an option's value too (every argument counts), and before anything is written.
        let out = Array((dir.path + "/out").utf8) + [0xc3]
        let q = try Support.runRaw(try Support.flushctl(), ["qemu", repaired.path, "--out"].map { Array($0.utf8) } + [out])
        #expect(q.status == 2 && q.stderr.hasPrefix("flushctl: error: argument 4 \"\(dir.path)/out\\xc3\""), "\(q.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["pm\u{FFFD}"])

        // The file's real (UTF-8) name is still planned.
        let ok = try Support.runRaw(try Support.flushctl(), [Array("plan".utf8), Array(repaired.path.utf8)])
        #expect(ok.status == 0 && ok.stdout.contains("fsync"), "exit \(ok.status): \(ok.stderr)")
    }

    @Test func helpAndVersionExitZero() throws {
        for arguments in [["--help"], ["list", "--help"], ["--version"]] {
            let r = try Support.run(try Support.flushctl(), arguments)
            #expect(r.status == 0 && !r.stdout.isEmpty, "\(arguments): exit \(r.status): \(r.stderr)")
        }
    }

    @Test func jsonShowsEveryHintStructureWithHandleAndAddresses() throws {
        let dir = try Support.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = try Self.write(try Support.compiledFixture("multi-dimm"), "NFIT", in: dir)
        let r = try Support.run(try Support.flushctl(), ["nfit", path, "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        // The zero-hint structure of DIMM 0x10101 draws the one warning, on stderr.
        #expect(r.stderr == "flushctl nfit: warning: \(path): subtable 15 (flush hint address) at byte 0x364: field \"hint_count\" = 0: a 16-byte flush hint structure is valid ACPI, but Linux kernels that still declare hint_address[1] (e.g. 6.1) need 24 bytes and reject the whole NFIT\n")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        #expect(json["signature"] as? String == "NFIT")
        #expect(json["checksum_valid"] as? Bool == true)
        let subtables = try #require(json["subtables"] as? [[String: Any]])
        #expect(subtables.count == 17)
        let hints = subtables.filter { $0["type"] as? Int == 6 }
        #expect(hints.map { $0["device_handle"] as? String } == ["0x1001", "0x1011", "0x10101"])
        #expect(hints.map { $0["hint_addresses"] as? [String] ?? ["missing"] } == [
            ["0xfee00000", "0xfee00040", "0xfee00080"],
            ["0xfee01000", "0xfee01040", "0xfee01080"],
            [],
        ])
        #expect(hints.map { $0["hint_count"] as? Int } == [3, 3, 0])
        #expect(hints.map { $0["offset"] as? String } == ["0x314", "0x33c", "0x364"])
        let first = try #require(subtables.first { $0["type"] as? Int == 1 })
        #expect(first["device_handle"] as? String == "0x1001")
        let fields = try #require(first["device_handle_fields"] as? [String: Int])
        #expect(fields == ["node_controller": 0, "socket": 1, "memory_controller": 0, "memory_channel": 0, "dimm_number": 1])
        // json-c layout: two-space indent, no space after the colon.
        #expect(r.stdout.hasPrefix("{\n  \"signature\":\"NFIT\",\n"))
    }

    @Test func textShowsEveryStructure() throws {
        let dir = try Support.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = try Self.write(try Support.compiledFixture("template"), "NFIT", in: dir)
        let r = try Support.run(try Support.flushctl(), ["nfit", "show", path])
        #expect(r.status == 0, "\(r.stderr)")
        for title in ["[0] SPA range (type 0) at 0x28", "[6] flush hint address (type 6) at 0x150, 32 bytes",
                      "[7] platform capabilities (type 7) at 0x170"] {
            #expect(r.stdout.contains(title), "missing \(title)")
        }
        #expect(r.stdout.contains("0x418000000\n"))
        #expect(r.stdout.contains("0x618000000\n"))
        #expect(r.stdout.contains("cpu_cache_flush_on_power_loss"))
    }

    @Test func truncatedTableExitsTwoNamingTheOffset() throws {
        let dir = try Support.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = try Self.write(Array(try Support.compiledFixture("template").prefix(0x100)), "NFIT", in: dir)
        let r = try Support.run(try Support.flushctl(), ["nfit", path, "--json"])
        #expect(r.status == 2)
        #expect(r.stdout.isEmpty)
        let lines = r.stderr.split(separator: "\n")
        #expect(lines.count == 1)
        #expect(r.stderr.contains("\(path): table header at byte 0x4: field \"length\" = 0x180 but only 0x100 bytes were read (truncated table)"))
    }

    @Test func corruptedHintCountExitsTwoNamingSubtableOffsetAndField() throws {
        let dir = try Support.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var b = try Support.compiledFixture("template")
        Support.put16(&b, 0x150 + 8, 9)
        Support.reseal(&b)
        let path = try Self.write(b, "NFIT", in: dir)
        let r = try Support.run(try Support.flushctl(), ["nfit", path])
        #expect(r.status == 2)
        #expect(r.stderr.contains(#"subtable 6 (flush hint address) at byte 0x150: field "hint_count" = 9 needs 88 bytes but the structure length is 32"#))
    }

    @Test func warningsGoToStderrAndTheTableIsStillPrinted() throws {
        let dir = try Support.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var b = try Support.compiledFixture("template")
        b[0x24] ^= 1
        let path = try Self.write(b, "NFIT", in: dir)
        let r = try Support.run(try Support.flushctl(), ["nfit", path, "--json"])
        #expect(r.status == 0)
        #expect(r.stderr.contains("warning: \(path): table header at byte 0x9: field \"checksum\""))
        #expect(r.stdout.contains("\"checksum_valid\":false"))
    }

    @Test func missingFileAndNotAnNFIT() throws {
        let dir = try Support.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let missing = try Support.run(try Support.flushctl(), ["nfit", dir.appendingPathComponent("nope").path])
        #expect(missing.status == 2)
        #expect(missing.stderr.contains("no such file"))
        let other = try Self.write(Array("DSDT this is not it, but it is long enough to hold a header".utf8), "DSDT", in: dir)
        let r = try Support.run(try Support.flushctl(), ["nfit", other])
        #expect(r.status == 2)
        #expect(r.stderr.contains("not an NFIT"))
        #expect(r.stderr.split(separator: "\n").count == 1)
    }

    @Test func buildWritesATableThatDecodesAndRefusesToOverwrite() throws {
        let dir = try Support.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let spec = dir.appendingPathComponent("spec.json")
        try Data(#"{"regions":[{"base":"0x30000000","size":"0x2000000","dimms":[{"handle":"0x1","hints":["0x37fff000","0x37fff040"]},{"handle":"0x101","hints":[]}]}]}"#.utf8).write(to: spec)
        let out = dir.appendingPathComponent("nfit.aml").path
        let bin = try Support.flushctl()
        let r = try Support.run(bin, ["nfit", "build", spec.path, "-o", out])
        #expect(r.status == 0, "\(r.stderr)")
        let bytes = try #require(FileManager.default.contents(atPath: out))
        let decoded = try NFITTable.decode([UInt8](bytes))
        #expect(decoded.warnings.map(\.kind) == [.shortForOlderKernels])
        #expect(r.stderr.contains("warning: \(out): subtable 7 (flush hint address) at byte 0x194"))
        #expect(decoded.table.flushHintAddresses == [0x1: [0x37ff_f000, 0x37ff_f040], 0x101: []])
        #expect(try decoded.table == NFITLayout.parse(json: [UInt8](Data(contentsOf: spec))).makeTable())
        // Shown back by flushctl nfit.
        let shown = try Support.run(bin, ["nfit", out, "--json"])
        #expect(shown.status == 0 && shown.stdout.contains("\"0x37fff040\""))
        // An existing file is not replaced without --force; with it, it is.
        let again = try Support.run(bin, ["nfit", "build", spec.path, "-o", out])
        #expect(again.status == 2 && again.stderr.contains("already exists"))
        let forced = try Support.run(bin, ["nfit", "build", spec.path, "-o", out, "--force"])
        #expect(forced.status == 0, "\(forced.stderr)")
        // Devices and directories are refused.
        let device = try Support.run(bin, ["nfit", "build", spec.path, "-o", "/dev/null", "--force"])
        #expect(device.status == 2 && device.stderr.contains("refusing"))
        let directory = try Support.run(bin, ["nfit", "build", spec.path, "-o", dir.path, "--force"])
        #expect(directory.status == 2 && directory.stderr.contains("directory"))
        // No temporary file is left behind.
        let left = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.contains(".tmp.") }
        #expect(left.isEmpty)
    }

    @Test func buildErrorsNameTheJSONPath() throws {
        let dir = try Support.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let spec = dir.appendingPathComponent("spec.json")
        try Data(#"{"regions":[{"base":0,"size":4096,"dimms":[{"handle":1}]},{"base":8192,"size":4096,"dimms":[{"handle":2,"hints":[8,16,"0x1c"]}]}]}"#.utf8).write(to: spec)
        let out = dir.appendingPathComponent("nfit.aml").path
        let r = try Support.run(try Support.flushctl(), ["nfit", "build", spec.path, "-o", out])
        #expect(r.status == 2)
        #expect(r.stderr.contains("\(spec.path): regions[1].dimms[0].hints[2]: 0x1c is not 8-byte aligned"))
        #expect(!FileManager.default.fileExists(atPath: out))
    }

    @Test(arguments: [
        (["nfit", "--help"], ["EXIT STATUS", "SEE ALSO", "show", "build", "/sys/firmware/acpi/tables/NFIT"]),
        (["nfit", "show", "--help"], ["FATAL ERRORS", "WARNINGS", "JSON", "hint_addresses", "--json"]),
        (["nfit", "build", "--help"], ["regions[1].dimms[0].hints[2]", "--force", "fsync", "-o"]),
    ])
    func helpReadsLikeAManPage(_ arguments: [String], _ words: [String]) throws {
        let r = try Support.run(try Support.flushctl(), arguments)
        #expect(r.status == 0, "\(r.stderr)")
        for word in words {
            #expect(r.stdout.contains(word), "\(arguments.joined(separator: " ")) lacks \(word)")
        }
    }
}
