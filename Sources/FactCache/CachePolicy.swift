/// Whether `list` and `plan` may take flush hints (and root's checks) from the topology cache.
public enum CachePolicy: Sendable, Equatable {
    /// Never: read the NFIT or leave the hints unknown.
    case never
    /// When this process cannot read the root-only NFIT (the default of `list` and `plan`).
    case whenNFITUnreadable(path: String)
    /// Always, even as root (`--cached`); a missing or stale cache is then an error.
    case always(path: String)

    /// The cache file, unless ``never``.
    public var path: String? {
        switch self {
        case .never: return nil
        case .whenNFITUnreadable(let p), .always(let p): return p
        }
    }

    /// Where `flushctl refresh` writes the cache and `list`/`plan` read it by default. /run is a
    /// tmpfs: the cache never outlives a boot, whose topology may differ.
    public static let defaultPath = "/run/flushctl/topology.json"
}
