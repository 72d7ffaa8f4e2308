import Histogram

/// The latency distribution of one flush method: percentiles from an HDR histogram
/// (hdrhistogram-swift, three significant digits), in nanoseconds.
public struct LatencySummary: Sendable, Equatable {
    /// Samples recorded.
    public var count: UInt64
    /// Smallest sample.
    public var min: UInt64
    /// Median.
    public var p50: UInt64
    /// 99th percentile.
    public var p99: UInt64
    /// 99.9th percentile.
    public var p999: UInt64
    /// Largest sample, exact (not rounded to a bucket).
    public var max: UInt64
    /// Arithmetic mean.
    public var mean: Double

    /// Creates a summary.
    public init(count: UInt64, min: UInt64, p50: UInt64, p99: UInt64, p999: UInt64, max: UInt64, mean: Double) {
        self.count = count
        self.min = min
        self.p50 = p50
        self.p99 = p99
        self.p999 = p999
        self.max = max
        self.mean = mean
    }
}

/// Records latencies in nanoseconds. A thin wrapper so the rest of flushctl does not depend
/// on the histogram library's API, and so percentiles are reported monotonic and never above
/// the exact maximum (a bucket's highest equivalent value can exceed it).
public struct LatencyHistogram: Sendable {
    private var histogram = Histogram<UInt64>(numberOfSignificantValueDigits: .three)

    /// An empty histogram that grows to whatever values it is given.
    public init() {}

    /// Records one sample.
    public mutating func record(nanoseconds: UInt64) {
        // Auto-resizing up to UInt64.max / 2: a larger sample (292 years) cannot happen;
        // clamp rather than let the library refuse it.
        _ = histogram.record(Swift.min(nanoseconds, UInt64.max / 4))
    }

    /// Samples recorded so far.
    public var count: UInt64 { histogram.totalCount }

    /// The summary, or nil when nothing was recorded.
    public var summary: LatencySummary? {
        guard histogram.totalCount > 0 else { return nil }
        let max = histogram.maxRecorded
        let p50 = Swift.min(histogram.valueAtPercentile(50), max)
        let p99 = Swift.min(Swift.max(histogram.valueAtPercentile(99), p50), max)
        let p999 = Swift.min(Swift.max(histogram.valueAtPercentile(99.9), p99), max)
        return LatencySummary(count: histogram.totalCount, min: histogram.min, p50: p50, p99: p99, p999: p999,
                              max: max, mean: histogram.mean)
    }
}

/// Ratios of medians to the fastest one, the figure the passthrough discussion needs.
public enum LatencyRatio {
    /// For each median, `median / fastest`, the fastest being the smallest median. A zero
    /// median (below the clock's resolution) counts as 1 ns so ratios stay finite.
    /// Empty input gives an empty result.
    public static func toFastest(_ medians: [UInt64]) -> [Double] {
        guard let fastest = medians.min() else { return [] }
        let base = Double(Swift.max(fastest, 1))
        return medians.map { Double(Swift.max($0, 1)) / base }
    }
}
