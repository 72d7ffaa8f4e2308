import SystemPackage
#if canImport(Glibc)
import Glibc
#endif
import FlushPlanning
import HostFiles
import NVDIMMTopology
import OrderedJSON

// The topology cache: what `flushctl refresh` (run as root, from udev) learned, for the
// unprivileged `list` and `plan`. CacheDocument.swift encodes the document (with the list and
// plan JSON of the models); this file reads the parts a reader needs back, tells a stale cache
// from a fresh one, and writes a new document atomically under a lock.

/// One region as the cache recorded it: enough to tell whether the live topology still
/// matches, plus the root-only check results (/dev/mem mapping proof) an unprivileged plan reuses.
public struct CachedRegion: Sendable, Equatable {
    /// `regionN`.
    public var dev: String
    /// Whether the region was enabled.
    public var enabled: Bool
    /// Its size in bytes.
    public var size: UInt64
    /// Its DIMMs (`nmemN`) in mapping order, with their NFIT handles: ``DIMM`` values that carry
    /// only what the cache records (id, name, handle).
    public var dimms: [DIMM]
    /// The /dev/mem checks root ran for the region's hint pages (empty when none were needed).
    public var checks: [Check]

    /// Creates a cached region.
    public init(dev: String, enabled: Bool, size: UInt64, dimms: [DIMM], checks: [Check] = []) {
        self.dev = dev; self.enabled = enabled; self.size = size; self.dimms = dimms; self.checks = checks
    }
}

/// The parts of a cache document a reader needs.
public struct CachedTopology: Sendable, Equatable {
    /// The document's generation (1 for the first refresh).
    public var generation: UInt64
    /// When it was written, in seconds since the epoch (UTC).
    public var unixTime: Int64
    /// The kernel release it was written under (`uname -r`).
    public var kernel: String
    /// The NFIT's flush hints per raw device handle; `nil` when refresh could not read the NFIT either.
    public var hintsByHandle: [UInt32: [UInt64]]?
    /// Every region, enabled or not, in libndctl order.
    public var regions: [CachedRegion]
    /// ``TopologyCache/currentBootTime()`` just before the host was read; `nil` when absent.
    public var snapshotBootTime: Int64?
    /// The boot it was written in (`/proc/sys/kernel/random/boot_id`); `nil` when absent, which
    /// ``TopologyCache/read(path:)`` takes as no cache.
    public var bootID: String?

    /// Creates a decoded cache.
    public init(generation: UInt64, unixTime: Int64, kernel: String, hintsByHandle: [UInt32: [UInt64]]?,
                regions: [CachedRegion], snapshotBootTime: Int64? = nil, bootID: String? = nil) {
        self.generation = generation; self.unixTime = unixTime; self.kernel = kernel
        self.hintsByHandle = hintsByHandle; self.regions = regions; self.snapshotBootTime = snapshotBootTime
        self.bootID = bootID
    }

    /// The cached region named `dev`.
    public func region(named dev: String) -> CachedRegion? { regions.first { $0.dev == dev } }
}

/// Reading, checking and writing the topology cache.
public enum TopologyCache {
    /// Where `flushctl refresh` writes and `list`/`plan` read by default (``CachePolicy/defaultPath``).
    public static let defaultPath = CachePolicy.defaultPath
    /// The `format` member every cache document carries.
    public static let formatName = "flushctl-topology-cache"
    /// The version of the document layout this code reads and writes.
    public static let formatVersion = 1
    /// Documents larger than this are refused rather than read.
    static let sizeLimit = 1 << 24
    /// The largest generation: 2^53, the last integer every JSON reader (many read numbers as
    /// doubles) keeps exact. The generation after it is 1 again.
    public static let maximumGeneration: UInt64 = 1 << 53
    /// The latest `unix_time` accepted: 9999-12-31T23:59:59Z, the last time ``iso8601(_:)``
    /// writes with four digits. Earlier than 1970 is refused too.
    static let maximumUnixTime: Int64 = 253_402_300_799
    /// Where the kernel publishes this boot's random id, which the cache records.
    public static let bootIDPath = "/proc/sys/kernel/random/boot_id"

    /// The lock file next to the cache at `path`: refresh holds `flock(LOCK_EX)` on it while it
    /// reads the old generation and replaces the file, so concurrent refreshes run one after another.
    public static func lockPath(for path: String) -> String { path + ".lock" }

    // MARK: Reading

    /// Reads and decodes the cache at `path`, written in this boot under this kernel.
    ///
    /// The cache steers what root maps and passes to guests, so it is read only as
    /// ``write(path:startedAt:render:)`` writes it: the directory opened as a
    /// ``DirectoryTrust/ownerOnly`` ``DurableDirectory`` (owned by root or the effective user,
    /// writable by no one else, nor is any directory on the way), the file opened without
    /// following a link and checked on that descriptor (a regular file, owned by root or the
    /// effective user, writable by no one else).
    ///
    /// - Throws: ``HostError`` when the file is absent, unreadable, too large or not a cache
    ///   document, when it or a directory on the way to it is someone else's or writable by
    ///   others (naming the path, its owner and mode), or when it was written in another boot or
    ///   under another kernel (then the message starts "no cache for this boot" or "no cache for
    ///   this kernel" and says why).
    public static func read(path: String = defaultPath) throws(HostError) -> CachedTopology {
        let noCache = HostError(path: path, message: "no cache (run `flushctl refresh` as root, or install the udev rule that runs it)")
        let slash = path.lastIndex(of: "/")
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        guard !name.isEmpty, name != ".", name != ".." else { throw HostError(path: path, message: "not a file name: give the cache file's path") }
        let bytes: [UInt8]
        do throws(HostError) {
            let directory = try DurableDirectory(path: parentDirectory(of: path), trust: .ownerOnly, create: false)
            guard let read = try directory.read(name, limit: sizeLimit + 1) else { throw noCache }
            bytes = read
        } catch {
            switch error.errno {
            case .noSuchFileOrDirectory?: throw noCache
            case .permissionDenied?: throw HostError(path: path, message: "not readable by this user (refresh writes it mode 0644)")
            case nil: throw error
            default: throw HostError(path: error.path ?? path, message: "cannot read: \(error.message)", errno: error.errno)
            }
        }
        return try load(bytes, path: path, bootID: currentBootID(), kernel: kernelRelease())
    }

    /// Decodes `bytes` and checks that the document belongs to the boot `bootID` and the kernel
    /// release `kernel`: a /run that outlived a boot (kexec, a bind mount), or a cache copied from
    /// elsewhere, describes another topology and another clock for `snapshot_boottime_ns`.
    static func load(_ bytes: [UInt8], path: String, bootID: String, kernel: String) throws(HostError) -> CachedTopology {
        if bytes.count > sizeLimit { throw HostError(path: path, message: "larger than \(sizeLimit) bytes, not a cache") }
        let cached = try decode(bytes, path: path)
        let refresh = "run `flushctl refresh` as root"
        guard let written = cached.bootID else {
            throw HostError(path: path, message: "no cache for this boot: the document has no boot_id (an older flushctl wrote it); \(refresh)")
        }
        guard written == bootID else {
            throw HostError(path: path, message: "no cache for this boot: written in boot \(written), this is boot \(bootID); \(refresh)")
        }
        guard cached.kernel == kernel else {
            throw HostError(path: path, message: "no cache for this kernel: written under \(cached.kernel), running \(kernel); \(refresh)")
        }
        return cached
    }

    /// This boot's id, from ``bootIDPath``.
    ///
    /// - Throws: ``HostError`` when it cannot be read or is not a UUID.
    public static func currentBootID() throws(HostError) -> String {
        let bytes: [UInt8]
        do { bytes = try SmallFile.read(bootIDPath, limit: 64) } catch {
            throw HostError(path: bootIDPath, message: "cannot read this boot's id, so cannot tell a cache of this boot from an older one: \(error)")
        }
        let text = String(decoding: bytes.prefix { $0 != UInt8(ascii: "\n") }, as: UTF8.self)
        guard isBootID(text) else { throw HostError(path: bootIDPath, message: "holds \"\(text.prefix(40))\", not a boot id") }
        return text
    }

    /// Whether `text` has the form of a boot id: a UUID, 36 characters, hex digits and dashes.
    static func isBootID(_ text: String) -> Bool {
        let utf8 = Array(text.utf8)
        guard utf8.count == 36 else { return false }
        for (i, c) in utf8.enumerated() {
            if [8, 13, 18, 23].contains(i) { if c != UInt8(ascii: "-") { return false } } else if hexDigit(c) == nil { return false }
        }
        return true
    }

    /// Decodes a cache document (`path` is named in errors). Every number is range-checked:
    /// an error names the member and the value.
    public static func decode(_ bytes: [UInt8], path: String = defaultPath) throws(HostError) -> CachedTopology {
        let document: JSONValue
        do { document = try JSONReader.parse(bytes) } catch {
            throw HostError(path: path, message: "not valid JSON at \(error)")
        }
        do {
            return try decode(JSONField(document: document))
        } catch {
            throw HostError(path: path, message: "not a flushctl cache: \(error)")
        }
    }

    private static func decode(_ root: JSONField) throws(JSONFieldError) -> CachedTopology {
        guard (try? root["format"].string()) == formatName else { throw root["format"].error("is not \"\(formatName)\"") }
        let version = root["version"]
        guard (try? version.integer(in: Int.min...Int.max)) == formatVersion else {
            throw version.error("is \(version.described), not \(formatVersion) (written by another flushctl version: run `flushctl refresh` again)")
        }
        let generation = try root["generation"].integer(in: 1...maximumGeneration)
        let unixTime = try root["unix_time"].integer(in: 0...maximumUnixTime, what: "a time from 1970 to 9999 in seconds since the epoch")
        let kernel = try root["kernel"].string()
        var bootID: String?
        if let field = root["boot_id"].ifPresent {
            guard let text = try? field.string(), isBootID(text) else { throw field.error("is \(field.described), not a boot id") }
            bootID = text
        }

        var hints: [UInt32: [UInt64]]?
        if let field = root["hints_by_handle"].ifPresent {
            var map: [UInt32: [UInt64]] = [:]
            for entry in try field.elements() {
                let handle = try entry["handle"].unsigned(UInt32.self)
                let addresses = try entry["flush_hints"].elements().map { (a) throws(JSONFieldError) in try a.unsigned(UInt64.self) }
                guard map.updateValue(addresses, forKey: handle) == nil else {
                    throw entry["handle"].error("0x\(String(handle, radix: 16)) repeats an earlier entry")
                }
            }
            hints = map
        }

        var regions: [CachedRegion] = []
        for node in try root["regions"].elements() {
            let dimms = try node["dimms"].elements().map { (d) throws(JSONFieldError) in
                DIMM.recorded(dev: try d["dev"].string(),
                              handle: try d["handle"].ifPresent.map { (h) throws(JSONFieldError) in try h.unsigned(UInt32.self) })
            }
            let checks = try node["checks"].ifPresent.map { (c) throws(JSONFieldError) in
                try c.elements().map { (check) throws(JSONFieldError) in try Check(json: check) }
            }
            regions.append(CachedRegion(dev: try node["dev"].string(), enabled: try node["enabled"].bool(),
                                        size: try node["size"].unsigned(UInt64.self), dimms: dimms, checks: checks ?? []))
        }
        let snapshot = try root["snapshot_boottime_ns"].ifPresent.map { (n) throws(JSONFieldError) in
            try n.integer(in: 0...Int64.max, what: "nanoseconds since boot")
        }
        return CachedTopology(generation: generation, unixTime: unixTime, kernel: kernel, hintsByHandle: hints,
                              regions: regions, snapshotBootTime: snapshot, bootID: bootID)
    }

    /// The value of an ASCII hex digit.
    static func hexDigit(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }

    // MARK: Staleness

    /// The regions of `topology` as the cache records them (checks left empty).
    public static func regions(of topology: Topology) -> [CachedRegion] {
        topology.buses.flatMap { bus in
            bus.regions.map { region in
                var seen = Set<String>()
                let dimms = region.mappings.compactMap { m -> DIMM? in
                    guard seen.insert(m.dimm).inserted else { return nil }
                    return DIMM.recorded(dev: m.dimm, handle: bus.dimms.first(where: { $0.dev == m.dimm })?.handle)
                }
                return CachedRegion(dev: region.dev, enabled: region.enabled, size: region.size, dimms: dimms)
            }
        }
    }

    /// How the cache disagrees with the live topology (read through libndctl, which needs no
    /// privilege): one phrase per difference; empty when they agree. A region gone or new, a
    /// region enabled or disabled, a different size or different DIMMs all make the cache stale.
    public static func differences(cached: CachedTopology, live: Topology) -> [String] {
        let liveRegions = regions(of: live)
        var found: [String] = []
        for c in cached.regions where !liveRegions.contains(where: { $0.dev == c.dev }) {
            found.append("\(c.dev) is gone")
        }
        for l in liveRegions {
            guard let c = cached.region(named: l.dev) else { found.append("\(l.dev) is new"); continue }
            if c.enabled != l.enabled { found.append("\(l.dev) is now \(l.enabled ? "enabled" : "disabled")") }
            if c.size != l.size { found.append("\(l.dev) size is \(l.size), cached \(c.size)") }
            if c.dimms != l.dimms {
                let describe = { (d: [DIMM]) in d.map { $0.dev + ($0.handle.map { "@0x" + String($0, radix: 16) } ?? "") }.joined(separator: ",") }
                found.append("\(l.dev) DIMMs are \(describe(l.dimms)), cached \(describe(c.dimms))")
            }
        }
        return found
    }

    /// The cache at `path` checked against `live`.
    ///
    /// - Throws: ``HostError`` when it cannot be read, or is stale (naming the first
    ///   ``differencesShown`` differences, counting the rest, and saying how to refresh it).
    public static func readVerified(path: String = defaultPath, live: Topology) throws(HostError) -> CachedTopology {
        let cached = try read(path: path)
        let diffs = differences(cached: cached, live: live)
        if !diffs.isEmpty {
            throw HostError(path: path, message: "stale (generation \(cached.generation)): \(summarize(diffs)); run `flushctl refresh` as root")
        }
        return cached
    }

    /// How many differences a stale-cache message names; the rest are counted.
    static let differencesShown = 8

    /// The first ``differencesShown`` of `differences`, then how many more there are: a cache
    /// of many regions (forged or not) still makes a one-line error of reasonable length.
    static func summarize(_ differences: [String]) -> String {
        let shown = differences.prefix(differencesShown).joined(separator: "; ")
        let rest = differences.count - differencesShown
        return rest > 0 ? shown + "; and \(rest) more" : shown
    }

    /// A human age: `"5 s"`, `"3 min"`, `"2 h"`, `"4 d"`.
    public static func describeAge(_ seconds: Int64) -> String {
        let s = max(0, seconds)
        if s < 120 { return "\(s) s" }
        if s < 7200 { return "\(s / 60) min" }
        if s < 172_800 { return "\(s / 3600) h" }
        return "\(s / 86400) d"
    }

    /// One line for stderr saying the cache was used and how old it is.
    public static func provenance(_ cached: CachedTopology, path: String, now: Int64 = currentUnixTime()) -> String {
        // Saturating: a CachedTopology need not come from decode, which bounds unix_time.
        let (age, overflow) = now.subtractingReportingOverflow(cached.unixTime)
        let seconds = overflow ? (cached.unixTime > now ? 0 : Int64.max) : age
        return "read from cache \(path) (generation \(cached.generation), written \(describeAge(seconds)) ago by `flushctl refresh`)"
    }

    // MARK: Writing

    /// Replaces the cache at `path` with the document `render(generation, snapshotTime)`
    /// returns, where generation is the existing document's plus one (1 when there is none, it
    /// is unreadable, of another boot or kernel, or at ``maximumGeneration``) and snapshotTime is
    /// ``currentBootTime()`` taken after the lock was acquired: `render` reads the host after
    /// that instant and records it as `snapshot_boottime_ns`. The document must carry this
    /// boot's `boot_id` (``currentBootID()``) and kernel release (``kernelRelease()``): what
    /// `render` returns is decoded and checked as a reader will before it replaces anything.
    ///
    /// The directory is opened once (created mode 0755 when missing) and must be owned by root
    /// or the effective user and writable by no one else: whoever else could write it could
    /// plant links at the names written (see ``DurableDirectory``). Under `flock(LOCK_EX)` on
    /// ``lockPath(for:)`` (opened without following a link), so concurrent refreshes neither
    /// interleave nor lose a generation; the document goes through
    /// ``DurableDirectory/replace(_:with:mode:)`` (a random temporary name, fsync, rename,
    /// directory fsync), so a reader sees the old document or the new one, never part of one,
    /// and the new one survives a crash once this returns. The file is mode 0644.
    ///
    /// - Parameter startedAt: when given (``currentBootTime()`` at the caller's start) and the
    ///   existing document of this boot took its snapshot after it (and not after now, which
    ///   no honest document does), that document already reflects every change before the
    ///   caller started: nothing is written and `nil` is returned. This is how a burst of udev
    ///   events collapses into a few refreshes.
    /// - Returns: the generation written, or `nil` when coalesced.
    /// - Throws: ``HostError`` naming the file, the step and the errno of what failed;
    ///   ``HostError`` when this boot's id is unreadable or the rendered document would not be
    ///   read back; or what `render` threw. The old document is then left in place.
    @discardableResult
    public static func write(path: String = defaultPath, startedAt: Int64? = nil,
                             render: (UInt64, Int64) throws -> [UInt8]) throws -> UInt64? {
        let slash = path.lastIndex(of: "/")
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        guard !name.isEmpty, name != ".", name != ".." else {
            throw HostError(path: path, message: "not a file name: give the cache file's path, such as \(defaultPath)")
        }
        let directory = try DurableDirectory(path: parentDirectory(of: path), trust: .ownerOnly, create: true)
        return try directory.withLock(name + ".lock") { () throws -> UInt64? in
            let bootID = try currentBootID()
            let kernel = kernelRelease()
            let previous: CachedTopology? = (try? directory.read(name, limit: sizeLimit + 1))
                .flatMap { $0 }
                .flatMap { try? load($0, path: path, bootID: bootID, kernel: kernel) }
            if let startedAt, let snapshot = previous?.snapshotBootTime, snapshot > startedAt, snapshot <= currentBootTime() {
                return nil
            }
            let generation = previous.map { $0.generation < maximumGeneration ? $0.generation + 1 : 1 } ?? 1
            let bytes = try render(generation, currentBootTime())
            // Never install what readers would refuse (or call no cache): say so now, as root.
            let written: CachedTopology
            do throws(HostError) { written = try load(bytes, path: path, bootID: bootID, kernel: kernel) } catch {
                throw HostError(path: path, message: "refusing to write a document readers would refuse: \(error.message)")
            }
            guard written.generation == generation else {
                throw HostError(path: path, message: "refusing to write a document of generation \(written.generation): this write is generation \(generation)")
            }
            try directory.replace(name, with: bytes, mode: 0o644)
            return generation
        }
    }

    /// Nanoseconds since boot (`CLOCK_BOOTTIME`, which counts suspend): the clock of
    /// `snapshot_boottime_ns`, immune to wall-clock changes.
    public static func currentBootTime() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_BOOTTIME, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }

    /// The directory part of `path` (`.` for a bare name).
    static func parentDirectory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        let dir = String(path[..<slash])
        return dir.isEmpty ? "/" : dir
    }

    // MARK: Time

    /// Seconds since the epoch.
    public static func currentUnixTime() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec)
    }

    /// `seconds` since the epoch as UTC ISO 8601, e.g. `2026-11-25T18:40:00Z`.
    public static func iso8601(_ seconds: Int64) -> String {
        var t = time_t(seconds)
        var parts = tm()
        guard gmtime_r(&t, &parts) != nil else { return "1970-01-01T00:00:00Z" }
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        let year = Int(parts.tm_year) + 1900
        let y = year < 1000 ? String(repeating: "0", count: 4 - String(year).count) + String(year) : String(year)
        return "\(y)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))Z"
    }

    /// The running kernel's release (`uname -r`), or `"unknown"`.
    public static func kernelRelease() -> String {
        var u = utsname()
        guard uname(&u) == 0 else { return "unknown" }
        return withUnsafeBytes(of: &u.release) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
    }
}

extension DIMM {
    /// The DIMM as the cache records it: its name (the number N of `nmemN` as its id) and handle.
    static func recorded(dev: String, handle: UInt32?) -> DIMM {
        DIMM(id: UInt32(dev.dropFirst(4)) ?? 0, dev: dev, handle: handle)
    }
}
