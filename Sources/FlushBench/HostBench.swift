import SystemPackage
#if canImport(Glibc)
import Glibc
#endif
import FlushPlanning
import HostFiles
import HostIO
import NVDIMMTopology

/// A flush method flushctl bench measures.
public enum BenchMethod: String, Sendable, Equatable, CaseIterable {
    /// RegionFlusher.flush() on the region's hint pages mapped from /dev/mem: sfence, one
    /// 8-byte store per DIMM, sfence (the guest's cost with passthrough).
    case mappedHints = "mapped_hints"
    /// One write of "1" to the region's `deep_flush` on a descriptor opened once (the kernel's
    /// nvdimm_flush behind a syscall).
    case deepFlush = "deep_flush"
    /// fsync(2) of the scratch file after overwriting `--dirty` bytes of it (untimed).
    case fsync
    /// fdatasync(2) of the scratch file after overwriting `--dirty` bytes of it (untimed).
    case fdatasync
}

/// One row of a bench: a method on a target, measured, not applicable, or failed.
public struct BenchResult: Sendable, Equatable {
    /// What happened.
    public enum Outcome: Sendable, Equatable {
        /// The latencies.
        case measured(LatencySummary)
        /// The method does not apply here, and why.
        case notApplicable(String)
        /// The method failed part way (a flush error is never ignored), and the error.
        case failed(String)
    }
    /// The method.
    public var method: BenchMethod
    /// The region or scratch file (empty when there is no region at all).
    public var target: String
    /// What happened.
    public var outcome: Outcome

    /// Creates a row.
    public init(method: BenchMethod, target: String, outcome: Outcome) {
        self.method = method
        self.target = target
        self.outcome = outcome
    }
}

/// Everything one `flushctl bench` found.
public struct BenchReport: Sendable {
    /// The rows, regions first (mapped hints, deep_flush), then scratch files (fsync, fdatasync).
    public var results: [BenchResult]
    /// The scratch files created and removed.
    public var scratchFiles: [String]
    /// Bytes overwritten before each fsync/fdatasync sample.
    public var dirtyBytes: Int
    /// The bounds per method.
    public var bounds: BenchBounds
    /// Back-to-back clock reads: the floor under every sample.
    public var clockOverhead: LatencySummary?
    /// A note about facts that could not be read (the NFIT without root, for example).
    public var note: String?

    /// For each row, its median over the fastest measured median (nil for unmeasured rows).
    public var ratios: [Double?] {
        let medians = results.compactMap { r -> UInt64? in
            if case .measured(let s) = r.outcome { return s.p50 }
            return nil
        }
        var ratios = LatencyRatio.toFastest(medians).makeIterator()
        return results.map { r in
            if case .measured = r.outcome { return ratios.next() }
            return nil
        }
    }

    /// Whether any method failed part way.
    public var anyFailed: Bool {
        results.contains { if case .failed = $0.outcome { return true } else { return false } }
    }
}

/// What a bench argument names.
public enum BenchTarget: Sendable, Equatable {
    /// A region (`regionN`).
    case region(RegionName)
    /// A device-dax or NVDIMM block device, on `region`.
    case device(path: String, region: RegionName)
    /// A directory for the scratch file.
    case directory(String)
    /// A regular file: never written; the scratch file goes in its directory (same filesystem).
    case file(path: String, directory: String)

    /// Classifies `argument` by name (`regionN`) or by what is at the path.
    public static func classify(_ argument: String) throws -> BenchTarget {
        if let region = RegionName(parsing: argument, allowBareNumber: false) { return .region(region) }
        guard !argument.isEmpty else { throw HostError(message: "empty target (give regionN, a device, a file or a directory)") }
        var st = stat()
        guard stat(argument, &st) == 0 else {
            throw HostError(message: "\(argument): cannot stat: \(Errno.last)")
        }
        switch st.st_mode & S_IFMT {
        case S_IFDIR:
            return .directory(argument)
        case S_IFREG:
            let directory: String
            if let slash = argument.lastIndex(of: "/") {
                directory = slash == argument.startIndex ? "/" : String(argument[..<slash])
            } else {
                directory = "."
            }
            return .file(path: argument, directory: directory)
        case S_IFCHR, S_IFBLK:
            let backend = try BackendProbe.inspect(path: argument).backend
            guard let region = backend.region else {
                throw HostError(message: "\(argument): block device on no NVDIMM region (give a directory for an fsync benchmark)")
            }
            return .device(path: argument, region: region)
        default:
            throw HostError(message: "\(argument): neither a region, a device, a regular file nor a directory")
        }
    }

    /// The regions to measure and the directories for scratch files. With no target, every
    /// enabled region with hints (`allRegions`) and `defaultDirectory`; regions named only by
    /// path add no scratch directory, so `defaultDirectory` is used unless a file or directory
    /// was given.
    public static func selection(_ targets: [BenchTarget], allRegions: [RegionName],
                                 defaultDirectory: String) -> (regions: [RegionName], directories: [String]) {
        var regions: [RegionName] = []
        var directories: [String] = []
        for target in targets {
            switch target {
            case .region(let r), .device(_, let r): if !regions.contains(r) { regions.append(r) }
            case .directory(let d), .file(_, let d): if !directories.contains(d) { directories.append(d) }
            }
        }
        if targets.isEmpty { regions = allRegions }
        if directories.isEmpty { directories = [defaultDirectory] }
        return (regions, directories)
    }
}

/// Runs the measurements on this host.
public enum HostBench {
    /// Parameters of a run.
    public struct Options: Sendable {
        /// Per-method bounds.
        public var bounds: BenchBounds
        /// Bytes overwritten before each fsync/fdatasync sample.
        public var dirtyBytes: Int
        /// Where the scratch file goes when no file or directory target says.
        public var directory: String

        /// Largest accepted `dirtyBytes` (1 GiB: it is held in memory).
        public static let maxDirty = 1 << 30

        /// Validated options.
        public init(bounds: BenchBounds, dirtyBytes: Int, directory: String) throws(BenchBoundsError) {
            guard (1...Self.maxDirty).contains(dirtyBytes) else { throw .dirtyBytes(dirtyBytes) }
            self.bounds = bounds
            self.dirtyBytes = dirtyBytes
            self.directory = directory
        }
    }

    /// Measures every method that applies to `targets` (see ``BenchTarget/selection``).
    public static func run(targets: [BenchTarget], options: Options,
                           progress: ((BenchProgress) -> Void)? = nil) throws -> BenchReport {
        var results: [BenchResult] = []
        var note: String?
        var allRegions: [RegionName] = []
        var snapshot: HostSnapshot?
        do {
            let read = try HostSnapshot.read()
            snapshot = read
            note = read.note
            allRegions = read.regionsWithHints.map(\.name)
        } catch {
            note = "\(error)"
        }
        let topology = snapshot?.topology
        let (regions, directories) = BenchTarget.selection(targets, allRegions: allRegions,
                                                           defaultDirectory: options.directory)
        if regions.isEmpty {
            let why = !targets.isEmpty ? "no region or NVDIMM device among the targets"
                : topology == nil ? "the NVDIMM topology could not be read"
                : topology?.allRegions.isEmpty ?? true ? "no NVDIMM region on this host"
                : note.map { "no region with known flush hints (\($0))" }
                    ?? "no enabled NVDIMM region with flush hints on this host"
            results.append(BenchResult(method: .mappedHints, target: "", outcome: .notApplicable(why)))
            results.append(BenchResult(method: .deepFlush, target: "", outcome: .notApplicable(why)))
        }
        for region in regions {
            guard let snapshot else {
                throw HostError(message: "\(region): \(note ?? "the NVDIMM topology could not be read")")
            }
            let facts = try snapshot.region(region)
            results.append(mappedHints(facts, in: snapshot, bounds: options.bounds, progress: progress))
            results.append(deepFlush(facts, bounds: options.bounds, progress: progress))
        }
        var scratchFiles: [String] = []
        for directory in directories {
            let (rows, path) = try syncMethods(directory: directory, options: options, progress: progress)
            results += rows
            scratchFiles.append(path)
        }
        return BenchReport(results: results, scratchFiles: scratchFiles, dirtyBytes: options.dirtyBytes,
                           bounds: options.bounds, clockOverhead: BenchLoop.clockOverhead(), note: note)
    }

    /// The hint-store flush, when flushctl plan would pass the region's hints through.
    static func mappedHints(_ facts: RegionFacts, in snapshot: HostSnapshot, bounds: BenchBounds,
                            progress: ((BenchProgress) -> Void)?) -> BenchResult {
        let region = facts.name.dev
        guard facts.hasHints else {
            let why = facts.dimms.contains { $0.flushHints == nil } ? "\(region)'s flush hints are unknown (reading the NFIT needs root)"
                : "\(region)'s DIMMs have no flush hints"
            return BenchResult(method: .mappedHints, target: region, outcome: .notApplicable(why))
        }
        let report: PlanReport
        do { report = try HostPlanning.plan(region: facts.name, in: snapshot) } catch {
            return BenchResult(method: .mappedHints, target: region, outcome: .notApplicable("cannot plan \(region): \(error)"))
        }
        // Map only what the checks (hint device or /dev/mem's conditions, page owner, a real mmap) allow.
        guard report.plan.method == .passthrough else {
            let failed = report.checks.filter { !$0.verdict.allowsPassthrough }
                .map { "\($0.id.rawValue): \($0.finding)" + ($0.fix.map { " (fix: \($0))" } ?? "") }
            let why = failed.isEmpty ? report.plan.reason : failed.joined(separator: "; ")
            return BenchResult(method: .mappedHints, target: region, outcome: .notApplicable("mapping refused: \(why)"))
        }
        do {
            let flusher = try RegionFlusher(schedule: try FlushSchedule(region: facts), path: report.plan.hintSource,
                                            firstIndex: UInt(getpid()))
            let summary = try BenchLoop.measure(label: "mapped_hints \(region)", bounds: bounds, progress: progress) {
                flusher.flush()
            }
            return BenchResult(method: .mappedHints, target: region, outcome: .measured(summary))
        } catch {
            return BenchResult(method: .mappedHints, target: region, outcome: .failed("\(error)"))
        }
    }

    /// Writes of "1" to the region's deep_flush, on one descriptor as a VMM would hold it.
    static func deepFlush(_ facts: RegionFacts, bounds: BenchBounds,
                          progress: ((BenchProgress) -> Void)?) -> BenchResult {
        let region = facts.name.dev
        let path = facts.deepFlushPath
        guard facts.enabled else {
            return BenchResult(method: .deepFlush, target: region, outcome: .notApplicable("\(region) is disabled"))
        }
        guard facts.deepFlush != nil else {
            return BenchResult(method: .deepFlush, target: region, outcome: .notApplicable("\(path) is absent or unreadable"))
        }
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else {
            let error = Errno.last
            let hint = error == .permissionDenied || error == .notPermitted ? " (writing deep_flush needs root)" : ""
            return BenchResult(method: .deepFlush, target: region, outcome: .notApplicable("cannot open \(path): \(error)\(hint)"))
        }
        defer { close(fd) }
        do {
            let summary = try BenchLoop.measure(label: "deep_flush \(region)", bounds: bounds, progress: progress) {
                let n = pwrite(fd, "1\n", 2, 0)
                if n != 2 {
                    let error = n < 0 ? "\(Errno.last)" : "wrote \(n) of 2 bytes"
                    throw HostError(path: path, operation: "write", message: error)
                }
            }
            return BenchResult(method: .deepFlush, target: region, outcome: .measured(summary))
        } catch {
            return BenchResult(method: .deepFlush, target: region, outcome: .failed("\(error)"))
        }
    }

    /// fsync and fdatasync of a new scratch file in `directory`, removed afterwards.
    static func syncMethods(directory: String, options: Options,
                            progress: ((BenchProgress) -> Void)?) throws -> ([BenchResult], String) {
        let scratch: ScratchFile
        do { scratch = try ScratchFile(directory: directory) } catch {
            throw HostError(message: "cannot create the scratch file: \(error)")
        }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: options.dirtyBytes, alignment: 4096)
        defer { buffer.deallocate() }
        buffer.initializeMemory(as: UInt8.self, repeating: 0xa5)
        var round: UInt8 = 0
        let dirty = {
            // Change the data each time, so no layer can skip the write as unchanged.
            round &+= 1
            buffer[0] = round
            try scratch.overwrite(UnsafeRawBufferPointer(buffer))
        }
        var rows: [BenchResult] = []
        let calls: [(BenchMethod, (CInt) -> CInt)] = [(.fsync, { Glibc.fsync($0) }), (.fdatasync, { Glibc.fdatasync($0) })]
        for (method, call) in calls {
            do {
                let fd = scratch.descriptor.rawValue
                let summary = try BenchLoop.measure(label: "\(method.rawValue) \(scratch.path)", bounds: options.bounds,
                                                    progress: progress, prepare: dirty) {
                    if call(fd) != 0 {
                        throw HostError(path: scratch.path, operation: method.rawValue, errno: Errno.last)
                    }
                }
                rows.append(BenchResult(method: method, target: scratch.path, outcome: .measured(summary)))
            } catch {
                rows.append(BenchResult(method: method, target: scratch.path, outcome: .failed("\(error)")))
            }
        }
        do { try scratch.remove() } catch {
            throw HostError(message: "cannot remove the scratch file: \(error)")
        }
        return (rows, scratch.path)
    }
}
