import ArgumentParser
import FlushBench
import OrderedJSON
#if canImport(Glibc)
import Glibc
#endif
import HostIO
import NVDIMMTopology

/// `flushctl bench [TARGET…]`: how much a flush costs each way, side by side.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure the latency of every flush method that applies: mapped hints, deep_flush, fsync, fdatasync.",
        discussion: """
            TARGET is a region (regionN), a device-dax or pmem device (its region), a directory \
            (the scratch file goes there) or a regular file (never written: the scratch file goes \
            in its directory). Without TARGET: every enabled region with flush hints, and a scratch \
            file in --dir. mapped_hints times RegionFlusher.flush() (sfence, one 8-byte store per \
            DIMM, sfence) on the hint pages mapped from /dev/mem, only when every check of \
            flushctl check passes; deep_flush times one write of 1 to the region's deep_flush on a \
            descriptor opened once; fsync and fdatasync overwrite --dirty bytes of the scratch file \
            (untimed) and time the sync call alone. Each method runs 3 untimed warm-up samples, \
            then until --iterations or --duration (default: 10000 samples or 2 s, whichever first). \
            Percentiles come from an HDR histogram (3 significant digits); the ratio is each \
            median over the fastest median. The scratch file is created O_EXCL under a unique \
            name and removed, also on SIGINT, SIGTERM and SIGHUP. Exit status: 0, 1 when a \
            method failed part way, 2 for bad input.
            """
    )

    @Argument(help: ArgumentHelp("Regions, devices, files or directories; all regions with hints and --dir when omitted.",
                                 valueName: "target"))
    var targets: [String] = []

    @Option(name: .customLong("dir"), help: ArgumentHelp("Directory for the fsync scratch file when no file or directory target is given.", valueName: "directory"))
    var directory = "/var/tmp"

    @Option(name: .customLong("dirty"), help: ArgumentHelp("Bytes overwritten before each fsync/fdatasync sample (K, M, G suffixes).", default: BenchCommand.defaultDirty, valueName: "size"),
            transform: BenchCommand.argument("--dirty"))
    var dirty = BenchCommand.defaultDirty

    @Option(name: .customLong("iterations"), help: ArgumentHelp("Timed samples per method (with --duration: whichever ends first).", valueName: "n"))
    var iterations: Int?

    @Option(name: .customLong("duration"), help: ArgumentHelp("Seconds per method (with --iterations: whichever ends first).", valueName: "seconds"))
    var duration: Double?

    @Flag(name: .customLong("json"), help: "Print the results as JSON.")
    var json = false

    /// `--dirty` when not given.
    static let defaultDirty = ByteSize(bytes: 4 << 10)

    func run() throws {
        let bounds = try BenchBounds(iterations: iterations, duration: duration)
        let options = try HostBench.Options(bounds: bounds, dirtyBytes: dirty.bytes, directory: directory)
        let targets = try self.targets.map(BenchTarget.classify)
        let progress = BenchProgressPrinter()
        let report = try HostBench.run(targets: targets, options: options, progress: progress.show)
        progress.finish()
        print(json ? benchToJSON(report).prettyPrinted() : benchToText(report), terminator: json ? "\n" : "")
        if report.anyFailed { throw ExitCode(1) }
    }
}

/// Progress on stderr: a rewritten line on a terminal, else one line a second (only runs
/// longer than a second print anything, so short runs and tests stay clean).
final class BenchProgressPrinter {
    private let isTerminal = isatty(2) == 1
    private var lastPrinted = -1.0
    private var dirty = false

    func show(_ p: BenchProgress) {
        guard p.elapsed >= 1 else { return }
        if isTerminal {
            FileHandleStderr.write("\r\u{1b}[Kbench: \(p.label): \(p.samples) samples, \(Int(p.elapsed)) s")
            dirty = true
        } else if p.elapsed - lastPrinted >= 1 || p.elapsed < lastPrinted {
            lastPrinted = p.elapsed
            FileHandleStderr.write("bench: \(p.label): \(p.samples) samples, \(Int(p.elapsed)) s\n")
        }
    }

    func finish() {
        if dirty { FileHandleStderr.write("\r\u{1b}[K") }
    }
}

/// Nanoseconds for people: `42 ns`, `1.25 us`, `103 us`, `2.31 ms`, `1.20 s`.
func formatNanoseconds(_ ns: UInt64) -> String {
    // Three significant digits, in integer arithmetic (no Foundation formatting here).
    func three(_ v: Double) -> String {
        let digits = v >= 100 ? 0 : v >= 10 ? 1 : 2
        let unit = digits == 0 ? 1 : digits == 1 ? 10 : 100
        let scaled = Int((v * Double(unit)).rounded())
        guard digits > 0 else { return String(scaled) }
        let fraction = String(scaled % unit)
        return "\(scaled / unit)." + String(repeating: "0", count: digits - fraction.count) + fraction
    }
    let v = Double(ns)
    if ns < 1000 { return "\(ns) ns" }
    if v < 1e6 { return three(v / 1e3) + " us" }
    if v < 1e9 { return three(v / 1e6) + " ms" }
    return three(v / 1e9) + " s"
}

/// The ratio as printed: `1.0x`, `12.5x`, `2731x`.
func formatRatio(_ r: Double) -> String {
    r >= 100 ? "\(Int(r.rounded()))x" : "\(String((r * 10).rounded() / 10))x"
}

/// The report as a table; rows that were not measured list their reason underneath.
func benchToText(_ report: BenchReport) -> String {
    let header = ["METHOD", "TARGET", "COUNT", "P50", "P99", "P99.9", "MAX", "RATIO"]
    var rows: [[String]] = []
    var notes: [String] = []
    for (result, ratio) in zip(report.results, report.ratios) {
        let target = result.target.isEmpty ? "-" : result.target
        switch result.outcome {
        case .measured(let s):
            rows.append([result.method.rawValue, target, String(s.count), formatNanoseconds(s.p50), formatNanoseconds(s.p99),
                         formatNanoseconds(s.p999), formatNanoseconds(s.max), ratio.map(formatRatio) ?? "-"])
        case .notApplicable(let why):
            rows.append([result.method.rawValue, target, "-", "-", "-", "-", "-", "n/a"])
            notes.append("\(result.method.rawValue)\(result.target.isEmpty ? "" : " " + result.target): not applicable: \(why)")
        case .failed(let why):
            rows.append([result.method.rawValue, target, "-", "-", "-", "-", "-", "failed"])
            notes.append("\(result.method.rawValue)\(result.target.isEmpty ? "" : " " + result.target): failed: \(why)")
        }
    }
    let all = [header] + rows
    let widths = header.indices.map { i in all.map { $0[i].count }.max() ?? 0 }
    var out = ""
    for row in all {
        let cells = row.enumerated().map { i, cell in
            // Text columns left-aligned, numbers right-aligned.
            i < 2 ? cell + String(repeating: " ", count: widths[i] - cell.count)
                  : String(repeating: " ", count: widths[i] - cell.count) + cell
        }
        var line = cells.joined(separator: "  ")
        while line.hasSuffix(" ") { line.removeLast() }
        out += line + "\n"
    }
    for note in notes { out += note + "\n" }
    out += "fsync/fdatasync: \(ByteSize.format(report.dirtyBytes)) overwritten before each sample (untimed)\n"
    for path in report.scratchFiles { out += "scratch file: \(path) (created and removed)\n" }
    if let clock = report.clockOverhead { out += "clock overhead: \(formatNanoseconds(clock.p50)) median, included in every sample\n" }
    if let note = report.note { out += "note: \(note)\n" }
    return out
}
