import Foundation
import Testing

/// `flushctl bench` in the emulated NVDIMM host (device-dax region0 with one DIMM's flush
/// hints) and on this machine, which has no NVDIMM: every method that applies is measured
/// with sane numbers, every one that does not is listed with the reason, and the scratch file
/// is gone afterwards (also after SIGINT).
@Suite(.serialized) struct BenchTests {
    /// The methods of one `bench --json`, by method name (and target when several).
    static func methods(_ result: CommandResult) throws -> [[String: Any]] {
        let object = try PlanJSON.object(result)
        return try #require(object["methods"] as? [[String: Any]], "no methods array: \(result.stdout)")
    }

    static func method(_ methods: [[String: Any]], _ name: String) -> [String: Any]? {
        methods.first { $0["method"] as? String == name }
    }

    /// A measured method: count == iterations, 0 < p50 <= p99 <= p99.9 <= max, ratio >= 1.
    static func expectMeasured(_ m: [String: Any]?, _ name: String, iterations: UInt64,
                               sourceLocation: SourceLocation = #_sourceLocation) {
        guard let m else {
            Issue.record("\(name) missing", sourceLocation: sourceLocation)
            return
        }
        #expect(m["applies"] as? Bool == true, "\(name): \(m)", sourceLocation: sourceLocation)
        let count = PlanJSON.hex(m["count"]), p50 = PlanJSON.hex(m["p50_ns"]), p99 = PlanJSON.hex(m["p99_ns"])
        let p999 = PlanJSON.hex(m["p99_9_ns"]), max = PlanJSON.hex(m["max_ns"])
        #expect(count == iterations, "\(name) count: \(m)", sourceLocation: sourceLocation)
        guard let p50, let p99, let p999, let max else {
            Issue.record("\(name) lacks percentiles: \(m)", sourceLocation: sourceLocation)
            return
        }
        #expect(p50 > 0 && p50 <= p99 && p99 <= p999 && p999 <= max, "\(name) percentiles: \(m)", sourceLocation: sourceLocation)
        let ratio = (m["ratio"] as? NSNumber)?.doubleValue ?? 0
        #expect(ratio >= 1, "\(name) ratio: \(m)", sourceLocation: sourceLocation)
    }

    // MARK: - emulated host, iomem=relaxed: all four methods

    @Test func relaxedMeasuresEveryMethod() throws {
        let r = try EmulatedHost.run(scenario: "devdax", commands: [
            "flushctl bench region0 --dir /tmp --iterations 200 --json",
            "flushctl bench /dev/dax0.0 --dir /tmp --iterations 50",
            "flushctl bench region7 --dir /tmp",
            "flushctl bench region0 --dir /tmp --dirty 0",
            "flushctl bench region0 --dir /no/such/dir --iterations 5",
            "ls -a /tmp",
        ], append: "iomem=relaxed")

        #expect(r[0].status == 0, "\(r[0].stderr)")
        #expect(r[0].stderr.isEmpty, "no progress noise for a short run: \(r[0].stderr)")
        let methods = try Self.methods(r[0])
        #expect(methods.compactMap { $0["method"] as? String } == ["mapped_hints", "deep_flush", "fsync", "fdatasync"])
        for name in ["mapped_hints", "deep_flush", "fsync", "fdatasync"] {
            Self.expectMeasured(Self.method(methods, name), name, iterations: 200)
        }
        #expect(Self.method(methods, "mapped_hints")?["target"] as? String == "region0")
        #expect(Self.method(methods, "deep_flush")?["target"] as? String == "region0")
        let scratch = Self.method(methods, "fsync")?["target"] as? String ?? ""
        #expect(scratch.hasPrefix("/tmp/.flushctl-bench."), "scratch in --dir: \(scratch)")
        let object = try PlanJSON.object(r[0])
        #expect(object["scratch_files"] as? [String] == [scratch])
        #expect(PlanJSON.hex(object["iterations"]) == 200)
        #expect(PlanJSON.hex(object["dirty_bytes"]) == 4096)
        // Exactly one method is the fastest.
        #expect(methods.filter { ($0["ratio"] as? NSNumber)?.doubleValue == 1.0 }.count >= 1)

        // A device names its region; the text table has one row per method and says where the scratch file was.
        #expect(r[1].status == 0, "\(r[1].stderr)")
        let lines = r[1].stdout.split(separator: "\n").map(String.init)
        #expect(lines.first?.hasPrefix("METHOD") == true, "\(r[1].stdout)")
        for name in ["mapped_hints", "deep_flush", "fsync", "fdatasync"] {
            let row = lines.first { $0.hasPrefix(name + " ") }
            #expect(row?.contains(" 50 ") == true, "\(name) row: \(r[1].stdout)")
        }
        #expect(lines.contains { $0.hasPrefix("scratch file: /tmp/.flushctl-bench.") && $0.hasSuffix("(created and removed)") }, "\(r[1].stdout)")

        // Bad input: exit 2, one line.
        PlanJSON.expectOneLineError(r[2], "flushctl bench: error: region7: no such region (regions: region0)")
        PlanJSON.expectOneLineError(r[3], "flushctl bench: error: --dirty 0 is out of range (1 byte to 1G)")
        PlanJSON.expectOneLineError(r[4], "flushctl bench: error: cannot create the scratch file: /no/such/dir: stat: No such file or directory")

        // Nothing left behind.
        #expect(r[5].status == 0)
        #expect(!r[5].stdout.contains("flushctl-bench"), "scratch files left: \(r[5].stdout)")
    }

    // MARK: - emulated host, default command line: mapped hints refused

    @Test func defaultCommandLineOmitsMappedHints() throws {
        let r = try EmulatedHost.run(scenario: "devdax", commands: [
            "flushctl bench region0 --dir /tmp --iterations 100 --json",
            "flushctl bench --dir /tmp --iterations 20",
            "mkdir -m 777 /tmp/nobody",
            "su -s /bin/sh -c 'flushctl bench region0 --dir /tmp/nobody --iterations 10 --json' nobody",
            "ls -a /tmp /tmp/nobody",
        ])
        #expect(r[0].status == 0, "\(r[0].stderr)")
        let methods = try Self.methods(r[0])
        let mapped = try #require(Self.method(methods, "mapped_hints"))
        #expect(mapped["applies"] as? Bool == false)
        #expect(mapped["count"] == nil && mapped["p50_ns"] == nil, "no numbers for a method that did not run: \(mapped)")
        let reason = mapped["reason"] as? String ?? ""
        #expect(reason.contains("devmem_restrictions") && reason.contains("CONFIG_IO_STRICT_DEVMEM")
                && reason.contains("iomem=relaxed"), "reason: \(reason)")
        for name in ["deep_flush", "fsync", "fdatasync"] {
            Self.expectMeasured(Self.method(methods, name), name, iterations: 100)
        }
        // Text, every region with hints: the refusal is printed under the table.
        #expect(r[1].status == 0, "\(r[1].stderr)")
        #expect(r[1].stdout.contains("mapped_hints region0: not applicable: mapping refused: devmem_restrictions"), "\(r[1].stdout)")
        #expect(r[1].stdout.split(separator: "\n").contains { $0.hasPrefix("deep_flush ") && $0.contains(" 20 ") }, "\(r[1].stdout)")

        // Unprivileged: the NFIT (hints) and deep_flush need root, and bench says so; fsync still runs.
        #expect(r[3].status == 0, "\(r[3].stderr)")
        let unprivileged = try Self.methods(r[3])
        let hints = try #require(Self.method(unprivileged, "mapped_hints"))
        #expect(hints["applies"] as? Bool == false)
        #expect((hints["reason"] as? String)?.contains("region0's flush hints are unknown (reading the NFIT needs root)") == true, "\(hints)")
        let deep = try #require(Self.method(unprivileged, "deep_flush"))
        #expect(deep["applies"] as? Bool == false)
        #expect((deep["reason"] as? String)?.contains("Permission denied (writing deep_flush needs root)") == true, "\(deep)")
        Self.expectMeasured(Self.method(unprivileged, "fsync"), "fsync", iterations: 10)
        Self.expectMeasured(Self.method(unprivileged, "fdatasync"), "fdatasync", iterations: 10)
        #expect(!r[4].stdout.contains("flushctl-bench"), "scratch files left: \(r[4].stdout)")
    }

    // MARK: - this machine (no NVDIMM)

    /// A private directory under the system temporary directory.
    static func scratchDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("flushctl-bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: false)
        return url
    }

    static func runFlushctl(_ arguments: [String]) throws -> CommandResult {
        let flushctl = try EmulatedHost.flushctlBinary.get()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: flushctl)
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        // Small outputs: read to the end, then wait.
        let stdout = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return CommandResult(command: arguments.joined(separator: " "), stdout: stdout, stderr: stderr,
                             status: process.terminationStatus)
    }

    @Test func plainMachineMeasuresFsyncOnly() throws {
        let dir = try Self.scratchDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let r = try Self.runFlushctl(["bench", "--dir", dir.path, "--iterations", "100", "--dirty", "64K", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let methods = try Self.methods(r)
        for name in ["mapped_hints", "deep_flush"] {
            let m = try #require(Self.method(methods, name))
            #expect(m["applies"] as? Bool == false)
            #expect((m["reason"] as? String)?.contains("no NVDIMM region") == true, "\(m)")
        }
        Self.expectMeasured(Self.method(methods, "fsync"), "fsync", iterations: 100)
        Self.expectMeasured(Self.method(methods, "fdatasync"), "fdatasync", iterations: 100)
        #expect(PlanJSON.hex(try PlanJSON.object(r)["dirty_bytes"]) == 65536)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty, "scratch file removed")

        // A directory target puts the scratch file there; a file target is never written.
        let keep = dir.appendingPathComponent("keep")
        try Data("unchanged".utf8).write(to: keep)
        let t = try Self.runFlushctl(["bench", keep.path, "--iterations", "10"])
        #expect(t.status == 0, "\(t.stderr)")
        #expect(t.stdout.contains("scratch file: \(dir.path)/.flushctl-bench."), "\(t.stdout)")
        #expect(t.stdout.contains("mapped_hints: not applicable: no region or NVDIMM device among the targets"), "\(t.stdout)")
        #expect(try String(contentsOf: keep, encoding: .utf8) == "unchanged")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["keep"])

        // Bad input: exit 2, one line.
        PlanJSON.expectOneLineError(try Self.runFlushctl(["bench", "--dirty", "4X"]),
                                    "flushctl bench: error: size '4X' has an unknown suffix 'X' (use K, M or G)")
        PlanJSON.expectOneLineError(try Self.runFlushctl(["bench", "--duration", "0"]),
                                    "flushctl bench: error: --duration 0.0 is out of range (more than 0, at most 3600 seconds)")
        PlanJSON.expectOneLineError(try Self.runFlushctl(["bench", "/no/such/path"]),
                                    "flushctl bench: error: /no/such/path: cannot stat: No such file or directory")
        PlanJSON.expectOneLineError(try Self.runFlushctl(["bench", "region3"]),
                                    "flushctl bench: error: region3: no such region (regions: none, no NVDIMM bus)")
    }

    /// SIGINT in the middle of a long fsync run: the process dies of the signal and the
    /// scratch file is gone.
    @Test func interruptRemovesScratchFile() throws {
        let dir = try Self.scratchDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try EmulatedHost.flushctlBinary.get())
        process.arguments = ["bench", dir.path, "--duration", "20"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        var seen = false
        for _ in 0..<200 where !seen {
            usleep(50_000)
            seen = !(try FileManager.default.contentsOfDirectory(atPath: dir.path)).isEmpty
        }
        #expect(seen, "the scratch file never appeared in \(dir.path)")
        process.interrupt()
        process.waitUntilExit()
        #expect(process.terminationReason == .uncaughtSignal && process.terminationStatus == SIGINT,
                "ended by \(process.terminationReason) \(process.terminationStatus)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty, "scratch file left behind")
    }
}
