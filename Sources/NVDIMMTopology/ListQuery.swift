import Glibc

/// What `flushctl list` was asked for: ndctl list's options, with its semantics.
public struct ListOptions: Sendable, Equatable {
    /// `-B`: include buses.
    public var buses = false
    /// `-D`: include DIMMs (and region mappings).
    public var dimms = false
    /// `-R`: include regions.
    public var regions = false
    /// `-N`: include namespaces.
    public var namespaces = false
    /// `-i`: include idle (disabled) devices.
    public var idle = false
    /// `-c`: include configured namespaces, disabled or not.
    public var configured = false
    /// `-X`: include device-dax details (`daxregion`).
    public var deviceDax = false
    /// `-u`: human-readable numbers.
    public var human = false
    /// `-v` count: 1 adds namespaces and dax details, 2 buses, DIMMs and regions, 3 idle devices.
    public var verbose = 0
    /// `-b`: bus filter (name, provider, number, `all`, or several separated by spaces).
    public var bus: String?
    /// `-r`: region filter.
    public var region: String?
    /// `-d`: DIMM filter.
    public var dimm: String?
    /// `-n`: namespace filter (`namespaceX.Y` or `X.Y`).
    public var namespace: String?
    /// `-t`: region type filter.
    public var type: RegionType?
    /// `-m`: namespace mode filter (named as ``NdctlFilter/namespaceMode(_:)`` reads it).
    public var mode: NamespaceMode?

    /// Options as given; with nothing selected, `flushctl list` alone.
    public init(buses: Bool = false, dimms: Bool = false, regions: Bool = false, namespaces: Bool = false,
                idle: Bool = false, configured: Bool = false, deviceDax: Bool = false, human: Bool = false,
                verbose: Int = 0, bus: String? = nil, region: String? = nil, dimm: String? = nil,
                namespace: String? = nil, type: RegionType? = nil, mode: NamespaceMode? = nil) {
        self.buses = buses; self.dimms = dimms; self.regions = regions; self.namespaces = namespaces
        self.idle = idle; self.configured = configured; self.deviceDax = deviceDax; self.human = human
        self.verbose = verbose
        self.bus = bus; self.region = region; self.dimm = dimm; self.namespace = namespace
        self.type = type; self.mode = mode
    }

    /// The options after ndctl's defaulting: with none of `-BDRN`, a `-b`/`-r`/`-d` filter turns
    /// on its object type, and namespaces are listed when nothing else is; `-v` levels add
    /// object types (and idle devices at 3); `-X` alone filters devdax namespaces.
    public func resolved() -> ListOptions {
        var o = self
        if !(o.buses || o.dimms || o.regions || o.namespaces) {
            o.buses = o.bus != nil
            o.regions = o.region != nil
            o.dimms = o.dimm != nil
            if o.deviceDax && o.mode == nil { o.mode = .devdax }
        }
        if o.verbose >= 3 { o.idle = true }
        if o.verbose >= 2 { o.dimms = true; o.buses = true; o.regions = true }
        if o.verbose >= 1 { o.namespaces = true; o.deviceDax = true }
        if !(o.buses || o.dimms || o.regions || o.namespaces) { o.namespaces = true }
        return o
    }
}

/// What `flushctl list` prints, nested as `ndctl list` nests it; the command only formats it.
public struct Listing: Sendable, Equatable {
    /// A listed bus and the objects listed under it.
    public struct BusEntry: Sendable, Equatable {
        /// The bus.
        public var bus: Bus
        /// Its DIMMs; `nil` when none is listed (the key is omitted).
        public var dimms: [DIMM]?
        /// Its regions; `nil` when none is listed.
        public var regions: [RegionEntry]?
        /// Its namespaces, when regions are not listed; `nil` when none.
        public var namespaces: [Namespace]?
    }

    /// A listed region and the objects listed under it.
    public struct RegionEntry: Sendable, Equatable {
        /// The region.
        public var region: Region
        /// Its mappings, listed only with DIMMs (`-D`); `nil` when none.
        public var mappings: [Mapping]?
        /// Its namespaces; `nil` when none.
        public var namespaces: [Namespace]?
    }

    /// The listed buses (with `-B`); then the three lists below are empty.
    public var buses: [BusEntry]?
    /// DIMMs listed across buses (without `-B`).
    public var dimms: [DIMM]?
    /// Regions listed across buses (without `-B`).
    public var regions: [RegionEntry]?
    /// Namespaces listed across buses, when neither buses nor regions are listed.
    public var namespaces: [Namespace]?
    /// The resolved options the listing was made with (for number formats and detail).
    public var options: ListOptions

    /// Whether nothing matched: `ndctl list` then prints nothing.
    public var isEmpty: Bool { buses == nil && dimms == nil && regions == nil && namespaces == nil }
}

extension Topology {
    /// Selects what `ndctl list` would list with `options` (after ``ListOptions/resolved()``),
    /// following ndctl's filter walk: a bus is listed when it matches `-b` and holds a DIMM,
    /// region and namespace matching `-d`, `-r`, `-n`; a DIMM when it matches `-d` and belongs to
    /// a region matching `-r` and one holding a namespace matching `-n`; and so on. Disabled
    /// DIMMs and regions and inactive namespaces only with `-i` (or `-c`).
    public func listing(_ requested: ListOptions) -> Listing {
        let o = requested.resolved()
        let includeDisabled = o.idle || o.configured

        var listing = Listing(options: o)
        var busEntries: [Listing.BusEntry] = []
        var platformDIMMs: [DIMM] = []
        var platformRegions: [Listing.RegionEntry] = []
        var platformNamespaces: [Namespace] = []

        for bus in buses {
            guard NdctlFilter.matches(o.bus, name: bus.dev, alias: bus.provider, id: bus.id),
                  NdctlFilter.isAll(o.dimm) || bus.dimms.contains(where: { NdctlFilter.matches(o.dimm, name: $0.dev, id: $0.id) }),
                  NdctlFilter.isAll(o.region) || bus.regions.contains(where: { NdctlFilter.matches(o.region, name: $0.dev, id: $0.id) }),
                  NdctlFilter.isAll(o.namespace) || bus.regions.contains(where: { r in
                      r.namespaces.contains { NdctlFilter.matchesNamespace(o.namespace, $0, regionID: r.id) } })
            else { continue }

            var entry = Listing.BusEntry(bus: bus)
            var dimms: [DIMM] = []
            if o.dimms {
                for dimm in bus.dimms {
                    guard NdctlFilter.matches(o.dimm, name: dimm.dev, id: dimm.id),
                          NdctlFilter.isAll(o.region) || bus.regions.contains(where: {
                              NdctlFilter.matches(o.region, name: $0.dev, id: $0.id) && $0.contains(dimm: dimm.dev) }),
                          NdctlFilter.isAll(o.namespace) || bus.regions.contains(where: { r in
                              r.contains(dimm: dimm.dev) && r.namespaces.contains {
                                  NdctlFilter.matchesNamespace(o.namespace, $0, regionID: r.id) } })
                    else { continue }
                    if !includeDisabled && !dimm.enabled { continue }
                    dimms.append(dimm)
                }
            }
            var regions: [Listing.RegionEntry] = []
            var busNamespaces: [Namespace] = []
            for region in bus.regions {
                guard NdctlFilter.matches(o.region, name: region.dev, id: region.id),
                      NdctlFilter.isAll(o.dimm) || region.mappings.contains(where: { m in
                          bus.dimms.contains { $0.dev == m.dimm && NdctlFilter.matches(o.dimm, name: $0.dev, id: $0.id) } }),
                      NdctlFilter.isAll(o.namespace) || region.namespaces.contains(where: {
                          NdctlFilter.matchesNamespace(o.namespace, $0, regionID: region.id) })
                else { continue }
                if let type = o.type, region.type != type { continue }
                // ndctl walks the namespaces of a disabled region it does not list, but they
                // are inactive, so without -i/-c none of them is listed either.
                let listRegion = o.regions && (includeDisabled || region.enabled)
                if o.regions && !listRegion { continue }

                var namespaces: [Namespace] = []
                if o.namespaces {
                    for ns in region.namespaces {
                        guard NdctlFilter.matchesNamespace(o.namespace, ns, regionID: region.id) else { continue }
                        if let mode = o.mode, ns.mode != mode { continue }
                        let configured = (ns.rawSize ?? 0) > 0
                        guard ns.enabled || o.idle || (o.configured && configured) else { continue }
                        namespaces.append(ns)
                    }
                }
                if listRegion {
                    var mappings: [Mapping] = []
                    if o.dimms {
                        for m in region.mappings {
                            guard let dimm = bus.dimms.first(where: { $0.dev == m.dimm }),
                                  NdctlFilter.matches(o.dimm, name: dimm.dev, id: dimm.id) else { continue }
                            if !includeDisabled && !dimm.enabled { continue }
                            mappings.append(m)
                        }
                    }
                    regions.append(Listing.RegionEntry(region: region, mappings: mappings.nilIfEmpty,
                                                       namespaces: namespaces.nilIfEmpty))
                } else {
                    busNamespaces.append(contentsOf: namespaces)
                }
            }
            if o.buses {
                entry.dimms = dimms.nilIfEmpty
                entry.regions = regions.nilIfEmpty
                entry.namespaces = busNamespaces.nilIfEmpty
                busEntries.append(entry)
            } else {
                platformDIMMs += dimms
                platformRegions += regions
                platformNamespaces += busNamespaces
            }
        }
        if o.buses {
            listing.buses = busEntries.nilIfEmpty
        } else {
            listing.dimms = platformDIMMs.nilIfEmpty
            listing.regions = platformRegions.nilIfEmpty
            listing.namespaces = platformNamespaces.nilIfEmpty
        }
        return listing
    }
}

extension Region {
    /// Whether `dimm` (`nmemN`) has a mapping in this region.
    public func contains(dimm: String) -> Bool { mappings.contains { $0.dimm == dimm } }
}

extension Array {
    fileprivate var nilIfEmpty: [Element]? { isEmpty ? nil : self }
}

/// ndctl's device filters (`-b -r -d -n`), matched the way ndctl 76 matches them.
public enum NdctlFilter {
    /// Whether `ident` selects everything: absent, or exactly `all`.
    public static func isAll(_ ident: String?) -> Bool { ident == nil || ident == "all" }

    /// Whether a bus, region or DIMM called `name` (or `alias`, a bus's provider) with number
    /// `id` matches `ident`: space-separated words, any of which may be `all` or the name.
    ///
    /// As in ndctl, the number is parsed from the whole `ident` (C `strtoul`, base 0, so `0x1`
    /// and `010` work): `"1"` matches id 1, but in `"1 2"` the numbers are not recognised.
    public static func matches(_ ident: String?, name: String, alias: String? = nil, id: UInt32) -> Bool {
        guard let ident else { return true }
        let number = wholeNumber(ident)
        for word in ident.split(separator: " ") {
            if word == "all" { return true }
            if let number {
                if number == UInt64(id) { return true }
            } else if word == name || (alias.map { word == $0 } ?? false) {
                return true
            }
        }
        return false
    }

    /// Whether namespace `ns` of region number `regionID` matches `ident`: a word that is `all`,
    /// the namespace's name, or `X.Y` with X the region number and Y the namespace number.
    public static func matchesNamespace(_ ident: String?, _ ns: Namespace, regionID: UInt32) -> Bool {
        guard let ident else { return true }
        for word in ident.split(separator: " ") {
            if word == "all" || word == ns.dev { return true }
            if let (r, n) = regionDotNamespace(word), r == Int64(regionID), n == Int64(ns.id) { return true }
        }
        return false
    }

    /// ndctl's mode names: `fsdax`/`memory`, `sector`/`safe`, `devdax`/`dax`, `raw`, any case.
    public static func namespaceMode(_ name: String) -> NamespaceMode? {
        switch name.lowercased() {
        case "fsdax", "memory": return .fsdax
        case "sector", "safe": return .sector
        case "devdax", "dax": return .devdax
        case "raw": return .raw
        default: return nil
        }
    }

    /// C `strtoul(s, &end, 0)` that must consume the whole string; `nil` when it does not,
    /// or on overflow (where strtoul returns `ULONG_MAX`, which ndctl treats as "not a number").
    static func wholeNumber(_ s: String) -> UInt64? {
        s.withCString { start -> UInt64? in
            var end: UnsafeMutablePointer<CChar>?
            let value = strtoul(start, &end, 0)
            guard let end, end != UnsafeMutablePointer(mutating: start), end.pointee == 0 else { return nil }
            return value == UInt.max ? nil : UInt64(value)
        }
    }

    /// `sscanf(word, "%ld.%ld")` == 2: two decimal numbers around a dot (leading blanks and a
    /// sign allowed before each; anything after the second ignored).
    static func regionDotNamespace(_ word: Substring) -> (Int64, Int64)? {
        var rest = word[...]
        func number() -> Int64? {
            while let c = rest.first, c == " " || c == "\t" { rest.removeFirst() }
            var negative = false
            if let c = rest.first, c == "-" || c == "+" { negative = c == "-"; rest.removeFirst() }
            var digits = 0
            var value: Int64 = 0
            // ASCII digits only, as sscanf's %ld (Character.wholeNumberValue would also take other scripts' digits).
            while let c = rest.first, let ascii = c.asciiValue, ascii >= UInt8(ascii: "0"), ascii <= UInt8(ascii: "9") {
                value = value &* 10 &+ Int64(ascii - UInt8(ascii: "0")); digits += 1; rest.removeFirst()
            }
            return digits == 0 ? nil : (negative ? -value : value)
        }
        guard let a = number(), rest.first == "." else { return nil }
        rest.removeFirst()
        guard let b = number() else { return nil }
        return (a, b)
    }
}
