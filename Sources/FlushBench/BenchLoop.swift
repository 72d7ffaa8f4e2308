#if canImport(Glibc)
import Glibc
#endif
import HostFiles

/// How long each method is measured: up to `iterations` timed samples, and up to `duration`
/// seconds, whichever ends first (nil: no such bound; at least one bound is set).
public struct BenchBounds: Sendable, Equatable {
    /// Most timed samples per method.
    public var iterations: Int?
    /// Most seconds per method (the untimed preparation of each sample counts too).
    public var duration: Double?

    /// The default: 10000 samples or 2 seconds per method, whichever comes first.
    public static let standard = BenchBounds(uncheckedIterations: 10_000, duration: 2)

    /// Largest accepted `iterations` and `duration`.
    public static let maxIterations = 100_000_000
    /// Largest accepted `duration` (one hour).
    public static let maxDuration = 3600.0

    private init(uncheckedIterations: Int?, duration: Double?) {
        self.iterations = uncheckedIterations
        self.duration = duration
    }

    /// Bounds from the options: neither given is ``standard``; one given bounds by it alone
    /// (so `--iterations N` gives exactly N samples); both given, whichever comes first.
    public init(iterations: Int?, duration: Double?) throws(BenchBoundsError) {
        if let iterations, !(1...Self.maxIterations).contains(iterations) { throw .iterations(iterations) }
        if let duration, !(duration > 0 && duration <= Self.maxDuration) { throw .duration(duration) }
        if iterations == nil && duration == nil {
            self = .standard
        } else {
            self.init(uncheckedIterations: iterations, duration: duration)
        }
    }
}

/// Where a running measurement is, for a progress line.
public struct BenchProgress: Sendable {
    /// The method and target (`fsync /var/tmp/.flushctl-bench…`).
    public var label: String
    /// Timed samples so far.
    public var samples: Int
    /// Seconds since the method started.
    public var elapsed: Double
}

/// The timing loop.
public enum BenchLoop {
    /// Nanoseconds on CLOCK_MONOTONIC.
    @inline(__always)
    public static func now() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }

    /// Untimed warm-up calls before the first timed one (page faults, first allocation).
    public static let warmup = 3

    /// Measures `sample`: calls `prepare` (untimed), then times `sample` alone, until `bounds`
    /// say stop. `progress` is called about every half second. An error from either closure
    /// ends the measurement and is rethrown.
    public static func measure(label: String, bounds: BenchBounds, progress: ((BenchProgress) -> Void)? = nil,
                               prepare: () throws -> Void = {}, sample: () throws -> Void) throws -> LatencySummary {
        for _ in 0..<warmup {
            try prepare()
            try sample()
        }
        var histogram = LatencyHistogram()
        let start = now()
        let deadline = bounds.duration.map { start &+ UInt64($0 * 1e9) }
        var nextReport = start &+ 500_000_000
        var samples = 0
        while true {
            if let limit = bounds.iterations, samples >= limit { break }
            try prepare()
            let t0 = now()
            try sample()
            let t1 = now()
            histogram.record(nanoseconds: t1 &- t0)
            samples += 1
            if let deadline, t1 >= deadline { break }
            if t1 >= nextReport {
                nextReport = t1 &+ 500_000_000
                progress?(BenchProgress(label: label, samples: samples, elapsed: Double(t1 &- start) / 1e9))
            }
        }
        // At least one sample was taken: every bound is at least one iteration or a positive time.
        return histogram.summary ?? LatencySummary(count: 0, min: 0, p50: 0, p99: 0, p999: 0, max: 0, mean: 0)
    }

    /// The cost of one timestamp pair with nothing between, the floor under every sample.
    public static func clockOverhead(samples: Int = 1000) -> LatencySummary? {
        var histogram = LatencyHistogram()
        for _ in 0..<samples {
            let t0 = now()
            let t1 = now()
            histogram.record(nanoseconds: t1 &- t0)
        }
        return histogram.summary
    }
}

/// A bound of a benchmark out of range: the value given.
public enum BenchBoundsError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Samples per method, not 1 to ``BenchBounds/maxIterations``.
    case iterations(Int)
    /// Seconds per method, not more than 0 and at most ``BenchBounds/maxDuration``.
    case duration(Double)
    /// Bytes dirtied before each sync, not 1 to ``HostBench/Options/maxDirty``.
    case dirtyBytes(Int)

    /// The range the value is outside of, as the messages say it.
    public var range: String {
        switch self {
        case .iterations: return "1 to \(BenchBounds.maxIterations)"
        case .duration: return "more than 0, at most \(Int(BenchBounds.maxDuration)) seconds"
        case .dirtyBytes: return "1 byte to 1G"
        }
    }

    /// `iterations 0 is out of range (1 to …)`.
    public var description: String {
        switch self {
        case .iterations(let n): return "iterations \(n) is out of range (\(range))"
        case .duration(let d): return "duration \(d) is out of range (\(range))"
        case .dirtyBytes(let b): return "dirty bytes \(b) is out of range (\(range))"
        }
    }
}
