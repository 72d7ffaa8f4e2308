import Foundation
import Synchronization
import Testing
@testable import FlushBench
@testable import FlushPlanning
@testable import HostFiles
@testable import HostIO
@testable import NVDIMMTopology

/// The pure parts of flushctl bench: percentiles, ratios, sizes, bounds, targets, and the
/// scratch file's creation and removal.
@Suite struct BenchTests {
    // MARK: - percentiles

    /// 1…1000 ns: the median and tails land where they should (3 significant digits), are
    /// ordered, and never exceed the exact maximum.
    @Test func percentilesOfKnownDistribution() throws {
        var h = LatencyHistogram()
        for v in (1...1000).reversed() { h.record(nanoseconds: UInt64(v)) }
        let s = try #require(h.summary)
        #expect(s.count == 1000)
        #expect(s.min == 1)
        #expect(s.max == 1000)
        #expect((499...501).contains(s.p50), "p50 \(s.p50)")
        #expect((989...991).contains(s.p99), "p99 \(s.p99)")
        #expect((998...1000).contains(s.p999), "p99.9 \(s.p999)")
        #expect(s.p50 <= s.p99 && s.p99 <= s.p999 && s.p999 <= s.max)
        #expect(abs(s.mean - 500.5) < 1)
    }

    /// A large outlier does not move the median, and the max is the exact sample even where
    /// the histogram's buckets are wider than one nanosecond.
    @Test func outlierAndExactMax() throws {
        var h = LatencyHistogram()
        for _ in 0..<999 { h.record(nanoseconds: 100) }
        h.record(nanoseconds: 123_456_789)
        let s = try #require(h.summary)
        #expect(s.p50 == 100)
        #expect(s.p99 == 100)
        #expect(s.max == 123_456_789)
        #expect(s.p999 <= s.max)
    }

    /// No sample, no summary (never a made-up zero).
    @Test func emptyHasNoSummary() {
        #expect(LatencyHistogram().summary == nil)
    }

    // MARK: - ratios

    @Test func ratiosToFastestMedian() {
        #expect(LatencyRatio.toFastest([]) == [])
        #expect(LatencyRatio.toFastest([50, 100_000, 200]) == [1, 2000, 4])
        // A zero median counts as 1 ns: finite ratios.
        #expect(LatencyRatio.toFastest([0, 10]) == [1, 10])
    }

    /// Report ratios skip rows that were not measured and line up with the rows that were.
    @Test func reportRatiosLineUp() throws {
        func measured(_ p50: UInt64) -> BenchResult.Outcome {
            .measured(LatencySummary(count: 1, min: p50, p50: p50, p99: p50, p999: p50, max: p50, mean: Double(p50)))
        }
        let report = BenchReport(results: [
            BenchResult(method: .mappedHints, target: "region0", outcome: .notApplicable("refused")),
            BenchResult(method: .deepFlush, target: "region0", outcome: measured(3000)),
            BenchResult(method: .fsync, target: "/tmp/x", outcome: .failed("EIO")),
            BenchResult(method: .fdatasync, target: "/tmp/x", outcome: measured(1000)),
        ], scratchFiles: ["/tmp/x"], dirtyBytes: 4096, bounds: .standard, clockOverhead: nil, note: nil)
        #expect(report.ratios == [nil, 3, nil, 1])
        #expect(report.anyFailed)
    }

    // MARK: - sizes and bounds

    @Test func sizes() throws {
        #expect(try ByteSize.parse("4K") == 4096)
        #expect(try ByteSize.parse("2M") == 2 << 20)
        #expect(try ByteSize.parse("2MiB") == 2 << 20)
        #expect(try ByteSize.parse("1g") == 1 << 30)
        #expect(try ByteSize.parse("512") == 512)
        #expect(throws: ByteSize.ParseError.self) { try ByteSize.parse("") }
        #expect(throws: ByteSize.ParseError.self) { try ByteSize.parse("4X") }
        #expect(throws: ByteSize.ParseError.self) { try ByteSize.parse("-4K") }
        #expect(throws: ByteSize.ParseError.self) { try ByteSize.parse("99999999999999999999G") }
        #expect(ByteSize.format(4096) == "4K")
        #expect(ByteSize.format(2 << 20) == "2M")
        #expect(ByteSize.format(1500) == "1500")
    }

    @Test func boundsValidation() throws {
        #expect(try BenchBounds(iterations: nil, duration: nil) == .standard)
        #expect(BenchBounds.standard.iterations == 10_000 && BenchBounds.standard.duration == 2)
        let n = try BenchBounds(iterations: 200, duration: nil)
        #expect(n.iterations == 200 && n.duration == nil, "--iterations alone is exact")
        #expect(throws: BenchBoundsError.iterations(0)) { try BenchBounds(iterations: 0, duration: nil) }
        #expect(throws: BenchBoundsError.iterations(-5)) { try BenchBounds(iterations: -5, duration: nil) }
        #expect(throws: BenchBoundsError.duration(0)) { try BenchBounds(iterations: nil, duration: 0) }
        #expect(throws: BenchBoundsError.self) { try BenchBounds(iterations: nil, duration: .nan) }
        #expect(throws: BenchBoundsError.duration(7200)) { try BenchBounds(iterations: nil, duration: 7200) }
        #expect(throws: BenchBoundsError.dirtyBytes(0)) { try HostBench.Options(bounds: .standard, dirtyBytes: 0, directory: "/tmp") }
        #expect(throws: BenchBoundsError.dirtyBytes((1 << 30) + 1)) {
            try HostBench.Options(bounds: .standard, dirtyBytes: (1 << 30) + 1, directory: "/tmp")
        }
    }

    /// The loop takes exactly --iterations samples, calls prepare untimed before each, and
    /// stops on the first error.
    @Test func loopCountsAndStops() throws {
        var prepared = 0, sampled = 0
        let s = try BenchLoop.measure(label: "t", bounds: try BenchBounds(iterations: 50, duration: nil),
                                      prepare: { prepared += 1 }, sample: { sampled += 1 })
        #expect(s.count == 50)
        #expect(sampled == 50 + BenchLoop.warmup && prepared == sampled)
        struct Boom: Error {}
        var calls = 0
        #expect(throws: Boom.self) {
            _ = try BenchLoop.measure(label: "t", bounds: .standard) {
                calls += 1
                if calls == 10 { throw Boom() }
            }
        }
        #expect(calls == 10)
    }

    // MARK: - targets

    @Test func targetClassification() throws {
        #expect(try BenchTarget.classify("region0") == .region("region0"))
        #expect(try BenchTarget.classify("region12") == .region("region12"))
        let dir = FileManager.default.temporaryDirectory.path
        #expect(try BenchTarget.classify(dir) == .directory(dir))
        let file = dir + "/flushctl-bench-test-\(getpid())"
        #expect(FileManager.default.createFile(atPath: file, contents: Data("keep".utf8)))
        defer { try? FileManager.default.removeItem(atPath: file) }
        #expect(try BenchTarget.classify(file) == .file(path: file, directory: dir))
        #expect(try BenchTarget.classify("/etc") == .directory("/etc"))
        #expect(throws: HostError.self) { try BenchTarget.classify("/no/such/path") }
        #expect(throws: HostError.self) { try BenchTarget.classify("regionX") }
        // /dev/null is a character device on no region.
        #expect(throws: (any Error).self) { try BenchTarget.classify("/dev/null") }
        #expect(throws: HostError.self) { try BenchTarget.classify("") }
    }

    @Test func selection() {
        let all: [RegionName] = ["region0", "region1"]
        let none = BenchTarget.selection([], allRegions: all, defaultDirectory: "/var/tmp")
        #expect(none.regions == all && none.directories == ["/var/tmp"])
        let one = BenchTarget.selection([.region("region1")], allRegions: all, defaultDirectory: "/var/tmp")
        #expect(one.regions == ["region1"] && one.directories == ["/var/tmp"])
        let paths = BenchTarget.selection([.device(path: "/dev/dax0.0", region: "region0"), .directory("/mnt"),
                                           .file(path: "/mnt/f", directory: "/mnt")], allRegions: all, defaultDirectory: "/var/tmp")
        #expect(paths.regions == ["region0"] && paths.directories == ["/mnt"])
    }

    // MARK: - scratch file

    /// Created with a unique name inside the directory, mode 0600; removed by remove() and by
    /// going away; never an existing file.
    @Test func scratchFileLifecycle() throws {
        let dir = FileManager.default.temporaryDirectory.path + "/flushctl-bench-scratch-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: dir) }

        let a = try ScratchFile(directory: dir)
        let b = try ScratchFile(directory: dir + "/")
        #expect(a.path != b.path)
        #expect(a.path.hasPrefix(dir + "/.flushctl-bench."))
        #expect(b.path.hasPrefix(dir + "/.flushctl-bench."))
        let mode = try #require(try FileManager.default.attributesOfItem(atPath: a.path)[.posixPermissions] as? Int)
        #expect(mode == 0o600)
        try [UInt8](repeating: 7, count: 5000).withUnsafeBytes { try a.overwrite($0) }
        #expect(try FileManager.default.attributesOfItem(atPath: a.path)[.size] as? UInt64 == 5000)
        try a.remove()
        try a.remove() // idempotent
        #expect(!FileManager.default.fileExists(atPath: a.path))

        var c: ScratchFile? = try ScratchFile(directory: dir)
        let cPath = try #require(c?.path)
        #expect(FileManager.default.fileExists(atPath: cPath))
        c = nil
        #expect(!FileManager.default.fileExists(atPath: cPath), "deinit removes it")
        _ = b
        #expect(throws: HostError.self) { try ScratchFile(directory: dir + "/missing") }
        // A file is not a directory.
        #expect(throws: HostError.self) { try ScratchFile(directory: "/etc/hostname") }
    }

    /// Several scratch files at once each keep their own entry for the signal handler: removing
    /// one leaves the others registered, and the handler would unlink every live one. (With one
    /// global slot the handler knew only the newest file, and removing any file forgot them all.)
    @Test func everyLiveScratchFileIsRegisteredForSignalCleanup() throws {
        let dir = FileManager.default.temporaryDirectory.path + "/flushctl-bench-slots-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let a = try ScratchFile(directory: dir)
        let b = try ScratchFile(directory: dir)
        let c = try ScratchFile(directory: dir)
        try b.remove()
        let registered = ScratchCleanup.registered
        #expect(registered.contains(a.path), "the first of three live files is not cleaned up on a signal")
        #expect(registered.contains(c.path))
        #expect(!registered.contains(b.path))
        try a.remove()
        try c.remove()
        #expect(!ScratchCleanup.registered.contains { $0.hasPrefix(dir + "/") })
    }

    /// Threads creating and removing scratch files at once: no entry is freed twice or lost.
    @Test func scratchFilesFromManyThreads() throws {
        let dir = FileManager.default.temporaryDirectory.path + "/flushctl-bench-threads-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let errors = Mutex<[String]>([])
        let done = DispatchSemaphore(value: 0)
        for _ in 0..<4 {
            Thread {
                for _ in 0..<300 {
                    do {
                        let file = try ScratchFile(directory: dir)
                        if !ScratchCleanup.registered.contains(file.path) {
                            errors.withLock { $0.append("\(file.path) not registered while it exists") }
                        }
                        try file.remove()
                    } catch {
                        errors.withLock { $0.append("\(error)") }
                    }
                }
                done.signal()
            }.start()
        }
        for _ in 0..<4 { try #require(done.wait(timeout: .now() + 60) == .success) }
        let found = errors.withLock { $0 }
        #expect(found.isEmpty, "\(found.count) problems, first: \(found.first ?? "")")
        #expect(!ScratchCleanup.registered.contains { $0.hasPrefix(dir + "/") })
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).isEmpty)
    }

    /// HostBench.syncMethods measures both syncs and removes its scratch file.
    @Test func syncMethodsLeaveNothing() throws {
        let dir = FileManager.default.temporaryDirectory.path + "/flushctl-bench-sync-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let options = try HostBench.Options(bounds: try BenchBounds(iterations: 20, duration: nil), dirtyBytes: 8192, directory: dir)
        let (rows, path) = try HostBench.syncMethods(directory: dir, options: options, progress: nil)
        #expect(rows.map(\.method) == [.fsync, .fdatasync])
        for row in rows {
            guard case .measured(let s) = row.outcome else { Issue.record("\(row)"); continue }
            #expect(s.count == 20 && s.p50 > 0 && s.p50 <= s.p99 && s.p99 <= s.max)
            #expect(row.target == path)
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).isEmpty, "scratch file removed")
    }

    // MARK: - the mapped-hints sample

    /// What bench times for mapped_hints is RegionFlusher.flush(): with a regular file standing
    /// in for /dev/mem (as PlanningFlushTests does), every sample writes a hint, rotating over
    /// the DIMM's hints, and the loop counts exactly the samples asked for.
    @Test func mappedHintSampleWritesHints() throws {
        let path = FileManager.default.temporaryDirectory.path + "/flushctl-bench-mem-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        #expect(FileManager.default.createFile(atPath: path, contents: Data(count: 8192)))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let facts = RegionFacts(name: "region0", enabled: true, persistenceDomain: "memory_controller", deepFlush: 1,
                                dimms: [DIMM(name: "nmem0", handle: 1, hints: [0x1040, 0x1048])])
        let flusher = try RegionFlusher(schedule: try FlushSchedule(region: facts), path: path)
        var written: [UInt64: Int] = [:]
        let s = try BenchLoop.measure(label: "mapped_hints", bounds: try BenchBounds(iterations: 100, duration: nil)) {
            for address in flusher.schedule.targets(call: flusher.flush()) { written[address, default: 0] += 1 }
        }
        #expect(s.count == 100)
        #expect(written == [0x1040: 52, 0x1048: 51], "103 calls (3 warm-up) alternate between the two hints")
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect(data[0x1040] == 1 && data[0x1048] == 1 && data[0x1050] == 0)
    }
}
