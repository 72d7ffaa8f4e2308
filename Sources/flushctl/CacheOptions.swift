import ArgumentParser
import FactCache

/// What a verb takes from the cache `flushctl refresh` writes, as `--cached` says it.
protocol CachedFacts {
    /// E.g. `the flush hints`.
    static var taken: String { get }
}

/// `--cached` and `--cache`, shared by the verbs that read the cache (`list`, `plan`): which
/// cache, and whether to use it even when the NFIT is readable.
struct CacheOptions<Facts: CachedFacts>: ParsableArguments {
    @Flag(name: .customLong("cached"), help: ArgumentHelp("Take \(Facts.taken) from the cache even as root; a missing or stale cache is an error."))
    var cached = false

    @Option(name: .customLong("cache"), help: ArgumentHelp("The cache `flushctl refresh` writes.", valueName: "path"))
    var cache: String = TopologyCache.defaultPath

    /// The cache always with `--cached`, else only when the NFIT cannot be read (not as root).
    var policy: CachePolicy { cached ? .always(path: cache) : .whenNFITUnreadable(path: cache) }
}
