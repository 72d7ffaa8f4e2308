import ArgumentParser
import FlushBench
import Foundation
import Testing
import TestSupport
@testable import flushctl
import FlushPlanning
import NVDIMMTopology

/// Option values parse when the arguments are parsed (Arguments.swift), and bad ones still read
/// as all bad input does: one line `flushctl VERB: error: …` on stderr, exit status 2, the
/// same lines as when each verb's `run()` parsed its strings (issue 21 item 5).
@Suite struct ArgumentTests {
    /// `IMG` stands for a 4 MiB file, `OUT` for a directory that does not exist yet.
    @Test(arguments: [
        (["qemu", "IMG", "--out", "OUT", "--machine", "isapc"], "flushctl qemu: error: --machine 'isapc' is not pc or q35"),
        (["qemu", "IMG", "--out", "OUT", "--guest-ram", "lots"],
         "flushctl qemu: error: --guest-ram 'lots' is not a size (a number with K, M, G or T; a bare number is MiB)"),
        (["qemu", "IMG", "--out", "OUT", "--guest-base", "zero"], "flushctl qemu: error: --guest-base 'zero' is not a number (use 0x… or decimal)"),
        (["qemu", "IMG", "--out", "OUT", "--guest-pmem-base", "0x"], "flushctl qemu: error: --guest-pmem-base '0x' is not a number (use 0x… or decimal)"),
        (["qemu", "IMG", "--out", ""], "flushctl qemu: error: --out is empty; give the directory to write the tables to"),
        (["qemu", "IMG", "--out", "/sys"], "flushctl qemu: error: --out /sys: refusing to write under /sys/"),
        (["plan", "IMG", "--guest-base", "zero"], "flushctl plan: error: --guest-base 'zero' is not a number (use 0x… or decimal)"),
        (["plan", "IMG", "--guest-region", "1:x", "--guest-base", "0x1000"],
         "flushctl plan: error: --guest-region '1:x' is not BASE:SIZE (0x… or decimal numbers)"),
        (["plan", "IMG", "--guest-region", "1:2"], "flushctl plan: error: --guest-region needs --guest-base (where the hint pages go)"),
        (["list", "-t", "nvme"], #"flushctl list: error: unknown region type "nvme": must be "pmem" or "blk""#),
        (["list", "--mode", "bogus"], #"flushctl list: error: invalid namespace mode "bogus": must be fsdax, sector, devdax or raw"#),
        (["bench", "--dirty", "4X"], "flushctl bench: error: size '4X' has an unknown suffix 'X' (use K, M or G)"),
        (["bench", "--dirty", "9999999999999G"], "flushctl bench: error: size '9999999999999G' is too large"),
        (["bench", "--dirty", "0"], "flushctl bench: error: --dirty 0 is out of range (1 byte to 1G)"),
        (["bench", "--duration", "0"], "flushctl bench: error: --duration 0.0 is out of range (more than 0, at most 3600 seconds)"),
    ])
    func badInputIsOneLineAndExitTwo(arguments: [String], line: String) throws {
        let dir = try Support.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let image = dir.appendingPathComponent("pmem.img")
        try Data(count: 4 << 20).write(to: image)
        let out = dir.appendingPathComponent("out").path
        let r = try Support.run(try Support.flushctl(), arguments.map { $0 == "IMG" ? image.path : $0 == "OUT" ? out : $0 })
        #expect(r.status == 2, "\(arguments): exit \(r.status)")
        #expect(r.stdout.isEmpty, "\(arguments): \(r.stdout)")
        #expect(r.stderr == line + "\n", "\(arguments)")
        #expect(!FileManager.default.fileExists(atPath: out), "\(arguments): wrote \(out)")
    }

    /// `--help` wins over options that do not go together (`validate()`), as before.
    @Test func helpWinsOverValidation() throws {
        let r = try Support.run(try Support.flushctl(), ["plan", "/dev/null", "--guest-region", "1:2", "--help"])
        #expect(r.status == 0 && r.stdout.hasPrefix("OVERVIEW: "), "exit \(r.status): \(r.stderr)")
    }

    /// argument-parser does not show the default of an option with a transform; the help
    /// text does, as argument-parser shows the others'.
    @Test(arguments: [
        (["qemu", "--help"], ["K, M, G or T (a bare number is MiB, as for -m).\n                          (default: 1G)", "pc or q35. (default: pc)"]),
        (["bench", "--help"], ["(K, M, G suffixes). (default: 4K)"]),
    ])
    func helpShowsDefaults(arguments: [String], texts: [String]) throws {
        let r = try Support.run(try Support.flushctl(), arguments)
        #expect(r.status == 0)
        for text in texts { #expect(r.stdout.contains(text), "\(arguments) lacks \(text)") }
    }

    /// The walk that finds flushctl's error inside argument-parser's, in process: what the
    /// transform threw, and the verb.
    @Test func thrownErrorIsFoundInsideArgumentParsers() throws {
        do {
            _ = try Flushctl.parseAsRoot(["qemu", "x", "--out", "o", "--machine", "isapc"])
            Issue.record("parsed")
        } catch {
            let found = try #require(ArgumentError.thrown(in: error))
            #expect(found.description == "--machine 'isapc' is not pc or q35")
            #expect(found.command == QemuCommand.self)
        }
    }

    /// Each value type alone: what it takes, and its message for what it does not.
    @Test func valuesParseOrSayWhy() throws {
        #expect(try UInt64(argument: "0x1000", option: "--guest-base") == 0x1000)
        #expect(try UInt64(argument: "4096", option: "--guest-base") == 4096)
        #expect(throws: ArgumentError.self) { try UInt64(argument: "18446744073709551616", option: "--guest-base") }
        // As in a layout, a sign is not part of a number.
        #expect(throws: ArgumentError.self) { try UInt64(argument: "+4096", option: "--guest-base") }
        let range = try GuestRange(argument: "0x100000000:0x40000000", option: "--guest-region")
        #expect(range.base == 1 << 32 && range.size == 1 << 30)
        #expect(try GuestRAM(argument: "512", option: "--guest-ram").bytes == 512 << 20)
        #expect(try GuestRAM(argument: "1", option: "--guest-ram").description == "1M")
        #expect(try QemuMachine(argument: "q35", option: "--machine") == .q35)
        #expect(try ByteSize(argument: "2M", option: "--dirty") == ByteSize(bytes: 2 << 20))
        #expect(try NamespaceMode(argument: "memory", option: "--mode") == .fsdax)
        #expect(try RegionType(argument: "blk", option: "--type") == .blk)
        do {
            _ = try RegionType(argument: "PMEM", option: "--type")
            Issue.record("PMEM parsed")
        } catch {
            #expect(error.description == #"unknown region type "PMEM": must be "pmem" or "blk""#)
            #expect(error.command == nil)
        }
    }
}
