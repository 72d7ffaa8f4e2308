import SystemPackage
#if canImport(Glibc)
import Glibc
#endif

// The topology cache: what `flushctl refresh` (run as root, from udev) learned, for the
// unprivileged `list` and `plan`. The document itself is formatted by the command (it owns
// the JSON printer); this file reads the parts a reader needs back, tells a stale cache from
// a fresh one, and writes a new document atomically under a lock.

/// Why the cache could not be read, written or trusted. One line naming the file and what failed.
public struct CacheError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The cache file (or its directory or lock) involved.
    public var path: String
    /// What went wrong.
    public var message: String

    /// Creates an error about `path`.
    public init(path: String, message: String) { self.path = path; self.message = message }

    /// `PATH: message`.
    public var description: String { "\(path): \(message)" }
}

/// One region as the cache recorded it: enough to tell whether the live topology still
/// matches, plus the root-only check results (/dev/mem mapping proof) an unprivileged plan reuses.
public struct CachedRegion: Sendable, Equatable {
    /// `regionN`.
    public var dev: String
    /// Whether the region was enabled.
    public var enabled: Bool
    /// Its size in bytes.
    public var size: UInt64
    /// Its DIMMs (`nmemN`) in mapping order, with their NFIT handles.
    public var dimms: [CachedDIMM]
    /// The /dev/mem checks root ran for the region's hint pages (empty when none were needed).
    public var checks: [Check]

    /// Creates a cached region.
    public init(dev: String, enabled: Bool, size: UInt64, dimms: [CachedDIMM], checks: [Check] = []) {
        self.dev = dev; self.enabled = enabled; self.size = size; self.dimms = dimms; self.checks = checks
    }
}

/// A DIMM of a cached region.
public struct CachedDIMM: Sendable, Equatable {
    /// `nmemN`.
    public var dev: String
    /// The NFIT device handle; `nil` when unknown.
    public var handle: UInt32?
    /// Creates a cached DIMM.
    public init(dev: String, handle: UInt32?) { self.dev = dev; self.handle = handle }
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

    /// Creates a decoded cache.
    public init(generation: UInt64, unixTime: Int64, kernel: String, hintsByHandle: [UInt32: [UInt64]]?,
                regions: [CachedRegion], snapshotBootTime: Int64? = nil) {
        self.generation = generation; self.unixTime = unixTime; self.kernel = kernel
        self.hintsByHandle = hintsByHandle; self.regions = regions; self.snapshotBootTime = snapshotBootTime
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

    /// The lock file next to the cache at `path`: refresh holds `flock(LOCK_EX)` on it while it
    /// reads the old generation and replaces the file, so concurrent refreshes run one after another.
    public static func lockPath(for path: String) -> String { path + ".lock" }

    // MARK: Reading

    /// Reads and decodes the cache at `path`.
    ///
    /// - Throws: ``CacheError`` when the file is absent, unreadable, too large or not a cache document.
    public static func read(path: String = defaultPath) throws(CacheError) -> CachedTopology {
        let bytes: [UInt8]
        do {
            bytes = try SmallFile.read(path, limit: sizeLimit + 1)
        } catch {
            switch error {
            case .noSuchFileOrDirectory:
                throw CacheError(path: path, message: "no cache (run `flushctl refresh` as root, or install the udev rule that runs it)")
            case .permissionDenied:
                throw CacheError(path: path, message: "not readable by this user (refresh writes it mode 0644)")
            default:
                throw CacheError(path: path, message: "cannot read: \(error)")
            }
        }
        if bytes.count > sizeLimit { throw CacheError(path: path, message: "larger than \(sizeLimit) bytes, not a cache") }
        return try decode(bytes, path: path)
    }

    /// Decodes a cache document (`path` is named in errors).
    public static func decode(_ bytes: [UInt8], path: String = defaultPath) throws(CacheError) -> CachedTopology {
        let root: CacheJSON
        do { root = try CacheJSON.parse(bytes) } catch {
            throw CacheError(path: path, message: "not valid JSON at \(error)")
        }
        func bad(_ what: String) -> CacheError { CacheError(path: path, message: "not a flushctl cache: \(what)") }
        guard case .string(let format)? = root["format"], format == formatName else { throw bad("member \"format\" is not \"\(formatName)\"") }
        guard case .number(let v)? = root["version"], Int(v) == formatVersion else {
            throw bad("member \"version\" is not \(formatVersion) (written by another flushctl version: run `flushctl refresh` again)")
        }
        guard case .number(let g)? = root["generation"], let generation = UInt64(g), generation > 0 else { throw bad("member \"generation\" is not a positive integer") }
        guard case .number(let t)? = root["unix_time"], let unixTime = Int64(t) else { throw bad("member \"unix_time\" is not an integer") }
        guard case .string(let kernel)? = root["kernel"] else { throw bad("member \"kernel\" is not a string") }

        var hints: [UInt32: [UInt64]]?
        if let node = root["hints_by_handle"] {
            guard case .array(let entries) = node else { throw bad("\"hints_by_handle\" is not an array") }
            var map: [UInt32: [UInt64]] = [:]
            for (i, entry) in entries.enumerated() {
                guard let handle = hexOrDecimal(entry["handle"]).flatMap({ UInt32(exactly: $0) }) else { throw bad("hints_by_handle[\(i)].handle is not a 32-bit number") }
                guard case .array(let list)? = entry["flush_hints"] else { throw bad("hints_by_handle[\(i)].flush_hints is not an array") }
                var addresses: [UInt64] = []
                for (j, a) in list.enumerated() {
                    guard let address = hexOrDecimal(a) else { throw bad("hints_by_handle[\(i)].flush_hints[\(j)] is not an address") }
                    addresses.append(address)
                }
                map[handle] = addresses
            }
            hints = map
        }

        guard case .array(let regionNodes)? = root["regions"] else { throw bad("member \"regions\" is not an array") }
        var regions: [CachedRegion] = []
        for (i, node) in regionNodes.enumerated() {
            guard case .string(let dev)? = node["dev"] else { throw bad("regions[\(i)].dev is not a string") }
            guard case .bool(let enabled)? = node["enabled"] else { throw bad("regions[\(i)].enabled is not a boolean") }
            guard let size = hexOrDecimal(node["size"]) else { throw bad("regions[\(i)].size is not a number") }
            guard case .array(let dimmNodes)? = node["dimms"] else { throw bad("regions[\(i)].dimms is not an array") }
            var dimms: [CachedDIMM] = []
            for (j, d) in dimmNodes.enumerated() {
                guard case .string(let name)? = d["dev"] else { throw bad("regions[\(i)].dimms[\(j)].dev is not a string") }
                var handle: UInt32?
                if let h = d["handle"] {
                    guard let value = hexOrDecimal(h).flatMap({ UInt32(exactly: $0) }) else { throw bad("regions[\(i)].dimms[\(j)].handle is not a 32-bit number") }
                    handle = value
                }
                dimms.append(CachedDIMM(dev: name, handle: handle))
            }
            var checks: [Check] = []
            if let c = node["checks"] {
                guard case .array(let checkNodes) = c else { throw bad("regions[\(i)].checks is not an array") }
                for (j, cn) in checkNodes.enumerated() {
                    guard case .string(let idText)? = cn["id"], let id = CheckID(rawValue: idText) else { throw bad("regions[\(i)].checks[\(j)].id is not a known check") }
                    guard case .string(let vText)? = cn["verdict"], let verdict = Verdict(rawValue: vText) else { throw bad("regions[\(i)].checks[\(j)].verdict is not a known verdict") }
                    guard case .string(let finding)? = cn["finding"] else { throw bad("regions[\(i)].checks[\(j)].finding is not a string") }
                    var page: UInt64?
                    if let p = cn["page"] {
                        guard let value = hexOrDecimal(p) else { throw bad("regions[\(i)].checks[\(j)].page is not an address") }
                        page = value
                    }
                    var fix: String?
                    if let f = cn["fix"] {
                        guard case .string(let text) = f else { throw bad("regions[\(i)].checks[\(j)].fix is not a string") }
                        fix = text
                    }
                    checks.append(Check(id: id, page: page, verdict: verdict, finding: finding, fix: fix))
                }
            }
            regions.append(CachedRegion(dev: dev, enabled: enabled, size: size, dimms: dimms, checks: checks))
        }
        var snapshot: Int64?
        if let node = root["snapshot_boottime_ns"] {
            guard case .number(let text) = node, let value = Int64(text) else { throw bad("member \"snapshot_boottime_ns\" is not an integer") }
            snapshot = value
        }
        return CachedTopology(generation: generation, unixTime: unixTime, kernel: kernel, hintsByHandle: hints,
                              regions: regions, snapshotBootTime: snapshot)
    }

    /// A `"0x…"` string or a decimal number.
    static func hexOrDecimal(_ node: CacheJSON?) -> UInt64? {
        switch node {
        case .string(let s)? where s.hasPrefix("0x") && s.count > 2: return UInt64(s.dropFirst(2), radix: 16)
        case .number(let s)?: return UInt64(s)
        default: return nil
        }
    }

    // MARK: Staleness

    /// The regions of `topology` as the cache records them (checks left empty).
    public static func regions(of topology: Topology) -> [CachedRegion] {
        topology.buses.flatMap { bus in
            bus.regions.map { region in
                var seen = Set<String>()
                let dimms = region.mappings.compactMap { m -> CachedDIMM? in
                    guard seen.insert(m.dimm).inserted else { return nil }
                    return CachedDIMM(dev: m.dimm, handle: bus.dimms.first(where: { $0.dev == m.dimm })?.handle)
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
                let describe = { (d: [CachedDIMM]) in d.map { $0.dev + ($0.handle.map { "@0x" + String($0, radix: 16) } ?? "") }.joined(separator: ",") }
                found.append("\(l.dev) DIMMs are \(describe(l.dimms)), cached \(describe(c.dimms))")
            }
        }
        return found
    }

    /// The cache at `path` checked against `live`.
    ///
    /// - Throws: ``CacheError`` when it cannot be read, or is stale (naming every difference
    ///   and how to refresh it).
    public static func readVerified(path: String = defaultPath, live: Topology) throws(CacheError) -> CachedTopology {
        let cached = try read(path: path)
        let diffs = differences(cached: cached, live: live)
        if !diffs.isEmpty {
            throw CacheError(path: path, message: "stale (generation \(cached.generation)): \(diffs.joined(separator: "; ")); run `flushctl refresh` as root")
        }
        return cached
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
        "read from cache \(path) (generation \(cached.generation), written \(describeAge(now - cached.unixTime)) ago by `flushctl refresh`)"
    }

    // MARK: Writing

    /// Replaces the cache at `path` with the document `render(generation, snapshotTime)`
    /// returns, where generation is the existing document's plus one (1 when there is none or
    /// it is unreadable) and snapshotTime is ``currentBootTime()`` taken after the lock was
    /// acquired: `render` reads the host after that instant and records it as
    /// `snapshot_boottime_ns`.
    ///
    /// Under `flock(LOCK_EX)` on ``lockPath(for:)``, so concurrent refreshes neither interleave
    /// nor lose a generation; the document goes to a temporary file in the same directory,
    /// is fsynced, renamed over `path`, and the directory is fsynced, so a reader sees the old
    /// document or the new one, never part of one, and the new one survives a crash once
    /// this returns. Creates the directory (mode 0755) when missing; the file is mode 0644.
    ///
    /// - Parameter startedAt: when given (``currentBootTime()`` at the caller's start) and the
    ///   existing document's snapshot was taken after it, that document already reflects every
    ///   change before the caller started: nothing is written and `nil` is returned. This is
    ///   how a burst of udev events collapses into a few refreshes.
    /// - Returns: the generation written, or `nil` when coalesced.
    /// - Throws: ``CacheError`` naming the step and file that failed, or what `render` threw;
    ///   the old document is then left in place.
    @discardableResult
    public static func write(path: String = defaultPath, startedAt: Int64? = nil,
                             render: (UInt64, Int64) throws -> [UInt8]) throws -> UInt64? {
        let directory = parentDirectory(of: path)
        try makeDirectory(directory)
        let lockFile = lockPath(for: path)
        let lock: FileDescriptor
        do {
            lock = try FileDescriptor.open(FilePath(lockFile), .readWrite, options: [.create, .closeOnExec],
                                           permissions: [.ownerReadWrite, .groupRead, .otherRead])
        } catch {
            throw CacheError(path: lockFile, message: "cannot open the lock file: \(error)")
        }
        defer { try? lock.close() }
        try retrying(lockFile, "flock") { flock(lock.rawValue, LOCK_EX) }

        let previous = try? read(path: path)
        if let startedAt, let snapshot = previous?.snapshotBootTime, snapshot > startedAt { return nil }
        let generation = (previous?.generation ?? 0) + 1
        let bytes = try render(generation, currentBootTime())

        let temporary = "\(path).tmp.\(getpid())"
        let fd: FileDescriptor
        do {
            fd = try FileDescriptor.open(FilePath(temporary), .writeOnly, options: [.create, .truncate, .closeOnExec],
                                         permissions: [.ownerReadWrite, .groupRead, .otherRead])
        } catch {
            throw CacheError(path: temporary, message: "cannot create: \(error)")
        }
        do throws(CacheError) {
            // The umask may have cleared bits: readers need 0644 whatever it is.
            try retrying(temporary, "fchmod") { fchmod(fd.rawValue, 0o644) }
            do {
                _ = try fd.writeAll(bytes)
            } catch {
                throw CacheError(path: temporary, message: "write failed: \(error)")
            }
            try retrying(temporary, "fsync") { fsync(fd.rawValue) }
            do { try fd.close() } catch {
                throw CacheError(path: temporary, message: "close failed: \(error)")
            }
        } catch {
            try? fd.close()
            _ = unlink(temporary)
            throw error
        }
        if rename(temporary, path) != 0 {
            let e = Errno(rawValue: errno)
            _ = unlink(temporary)
            throw CacheError(path: path, message: "rename from \(temporary) failed: \(e)")
        }
        // The rename is durable only once the directory is.
        try fsyncDirectory(directory)
        return generation
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

    /// Creates `directory` and missing parents, mode 0755.
    static func makeDirectory(_ directory: String) throws(CacheError) {
        var isDir = stat()
        if stat(directory, &isDir) == 0 {
            if isDir.st_mode & S_IFMT != S_IFDIR { throw CacheError(path: directory, message: "exists and is not a directory") }
            return
        }
        let parent = parentDirectory(of: directory)
        if parent != directory { try makeDirectory(parent) }
        if mkdir(directory, 0o755) != 0 && errno != EEXIST {
            throw CacheError(path: directory, message: "cannot create the directory: \(Errno(rawValue: errno))")
        }
        // Against the umask, as for the file.
        _ = chmod(directory, 0o755)
    }

    static func fsyncDirectory(_ directory: String) throws(CacheError) {
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd < 0 { throw CacheError(path: directory, message: "cannot open the directory to fsync it: \(Errno(rawValue: errno))") }
        defer { _ = close(fd) }
        try retrying(directory, "fsync") { fsync(fd) }
    }

    /// Runs a call returning -1/errno, retrying EINTR.
    static func retrying(_ path: String, _ name: String, _ call: () -> CInt) throws(CacheError) {
        while true {
            if call() == 0 { return }
            if errno == EINTR { continue }
            throw CacheError(path: path, message: "\(name) failed: \(Errno(rawValue: errno))")
        }
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
