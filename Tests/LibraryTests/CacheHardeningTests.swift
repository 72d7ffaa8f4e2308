import Testing
import Glibc
@testable import FactCache
@testable import HostFiles
@testable import NVDIMMTopology

/// Issue 13: the cache writer must not follow links planted next to the cache (items 3), and
/// numbers, boots and kernels read from a cache must not crash, wedge or mislead (item 4).
@Suite("Topology cache hardening", .serialized)
struct CacheHardeningTests {
    // MARK: Helpers

    /// This boot's id as the kernel gives it.
    static func bootID() throws -> String {
        let text = String(decoding: try SmallFile.read("/proc/sys/kernel/random/boot_id"), as: UTF8.self)
        return String(text.prefix { $0 != "\n" })
    }

    /// A document for `Fixtures.topology()` with members replaced: `edit` maps the text.
    static func document(generation: UInt64 = 1, _ edit: (String) -> String = { $0 }) throws -> [UInt8] {
        Array(edit(CacheTests.document(generation: generation, topology: Fixtures.topology())).utf8)
    }

    static func writeFile(_ path: String, _ bytes: [UInt8], mode: mode_t = 0o644) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, mode)
        try #require(fd >= 0, "cannot create \(path): errno \(errno)")
        defer { close(fd) }
        try #require(bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) } == bytes.count)
        fchmod(fd, mode)
    }

    /// What a victim outside the cache directory looks like: its bytes, mode and owner.
    struct Snapshot: Equatable {
        var bytes: [UInt8]
        var mode: mode_t
        var uid: uid_t

        init(_ path: String) throws {
            var st = stat()
            try #require(lstat(path, &st) == 0, "\(path): errno \(errno)")
            bytes = try SmallFile.read(path)
            mode = st.st_mode & 0o7777
            uid = st.st_uid
        }
    }

    static func exists(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0
    }

    /// What refresh renders: this boot's document with its generation and snapshot time.
    static func refreshDocument(_ g: UInt64, _ s: Int64) throws -> [UInt8] {
        try document(generation: g) { $0.replacingFirst("\"kernel\"", with: "\"snapshot_boottime_ns\":\(s),\"kernel\"") }
    }

    // MARK: Item 3: links planted at the cache's names

    @Test("a symlink at the old temporary name (<cache>.tmp.<pid>) is never followed: the file it points at is untouched")
    func temporarySymlinkNotFollowed() throws {
        try CacheTests.withScratch { dir, outside in
            let victim = outside + "/shadow"
            try Self.writeFile(victim, Array("root's secret\n".utf8), mode: 0o600)
            let before = try Snapshot(victim)
            let path = dir + "/topology.json"
            #expect(symlink(victim, "\(path).tmp.\(getpid())") == 0)

            // The directory is safe (mkdtemp: ours, 0700); the planted link was left before.
            _ = try? TopologyCache.write(path: path, render: Self.refreshDocument)
            #expect(try Snapshot(victim) == before, "the writer wrote through the planted link")
            #expect(try CacheTests.listDirectory(outside) == ["shadow"])
        }
    }

    @Test("a symlink at the lock's name makes the write fail, and nothing is created where it points")
    func lockSymlinkNotFollowed() throws {
        try CacheTests.withScratch { dir, outside in
            let path = dir + "/topology.json"
            let target = outside + "/created-by-root"
            #expect(symlink(target, TopologyCache.lockPath(for: path)) == 0)
            let victim = outside + "/existing"
            try Self.writeFile(victim, Array("keep\n".utf8), mode: 0o600)
            let before = try Snapshot(victim)

            let error = #expect(throws: (any Error).self) { try TopologyCache.write(path: path, render: Self.refreshDocument) }
            #expect("\(error.map { "\($0)" } ?? "")".contains("symbolic link"), "\(String(describing: error))")
            #expect(!Self.exists(target), "the lock link made the writer create a file outside the directory")
            #expect(!Self.exists(path), "written without its lock")

            // A link to an existing file: not opened, not truncated, not chmod'ed either.
            #expect(unlink(TopologyCache.lockPath(for: path)) == 0)
            #expect(symlink(victim, TopologyCache.lockPath(for: path)) == 0)
            #expect(throws: (any Error).self) { try TopologyCache.write(path: path, render: Self.refreshDocument) }
            #expect(try Snapshot(victim) == before)
            #expect(try CacheTests.listDirectory(outside) == ["existing"])
        }
    }

    @Test("a directory others can write is refused, naming it, its owner and mode; nothing it links to changes",
          .enabled(if: geteuid() == 0, "needs root: the directory is handed to nobody"))
    func writableDirectoryRefused() throws {
        let outside = try CacheTests.scratchDirectory()
        defer { CacheTests.removeScratch(outside) }
        let victim = outside + "/shadow"
        try Self.writeFile(victim, Array("root's secret\n".utf8), mode: 0o600)
        let before = try Snapshot(victim)

        // As in the report: `refresh --cache` in a directory nobody may write, with links planted.
        for (owner, mode) in [(uid_t(65534), mode_t(0o755)), (0, 0o777), (0, 0o775), (0, 0o1777)] {
            let dir = try CacheTests.scratchDirectory()
            defer { CacheTests.removeScratch(dir) }
            #expect(chown(dir, owner, gid_t.max) == 0 && chmod(dir, mode) == 0)
            let path = dir + "/topology.json"
            #expect(symlink(victim, "\(path).tmp.\(getpid())") == 0)
            #expect(symlink(outside + "/lock-target", TopologyCache.lockPath(for: path)) == 0)
            let error = #expect(throws: (any Error).self) { try TopologyCache.write(path: path, render: Self.refreshDocument) }
            let text = error.map { "\($0)" } ?? ""
            #expect(text.hasPrefix(dir + ": ") && text.contains("uid \(owner)") && text.contains(String(mode, radix: 8)), "\(text)")
            #expect(try Snapshot(victim) == before, "owner \(owner) mode \(String(mode, radix: 8))")
            #expect(try CacheTests.listDirectory(outside) == ["shadow"])
            #expect(!Self.exists(path))
        }
    }

    @Test("a symlink in place of the cache directory itself is refused")
    func directorySymlinkRefused() throws {
        try CacheTests.withScratch { dir, outside throws in
            #expect(symlink(outside, dir + "/flushctl") == 0)
            #expect(throws: (any Error).self) { try TopologyCache.write(path: dir + "/flushctl/topology.json", render: Self.refreshDocument) }
            #expect(try CacheTests.listDirectory(outside) == [])
        }
    }

    // MARK: Item 4: numbers, boots and kernels

    @Test("out-of-range numbers are refused on decode, naming the key and the value")
    func numbersRangeChecked() throws {
        let cases: [(String, String, String)] = [
            ("\"unix_time\":1795632232", "\"unix_time\":-9223372036854775808", "unix_time: -9223372036854775808 is not a time"),
            ("\"unix_time\":1795632232", "\"unix_time\":-1", "unix_time: -1 is not a time"),
            ("\"generation\":1,", "\"generation\":18446744073709551615,", "generation: 18446744073709551615 is not an integer"),
            ("\"generation\":1,", "\"generation\":99999999999999999999999,", "generation: 99999999999999999999999 is not an integer"),
            ("\"kernel\"", "\"snapshot_boottime_ns\":-5,\"kernel\"", "snapshot_boottime_ns: -5 is not nanoseconds"),
            ("\"size\":1073741824", "\"size\":18446744073709551616", "regions[0].size: 18446744073709551616 is not an integer from 0 to 0xffffffffffffffff"),
            ("\"handle\":\"0x1\"", "\"handle\":\"0x100000000\"", "hints_by_handle[0].handle: \"0x100000000\" is not an integer from 0 to 0xffffffff"),
            ("\"nmem0\",\"handle\":\"0x1\"", "\"nmem0\",\"handle\":\"-0x1\"", "regions[0].dimms[0].handle: \"-0x1\" is not a number"),
            ("\"0x37ffe000\"", "\"0x+37ffe000\"", "hints_by_handle[0].flush_hints[0]: \"0x+37ffe000\" is not a number"),
        ]
        for (target, replacement, expected) in cases {
            let bytes = try Self.document { $0.replacingFirst(target, with: replacement) }
            #expect(String(decoding: bytes, as: UTF8.self).contains(replacement))
            let error = #expect(throws: HostError.self, "\(replacement)") { try TopologyCache.decode(bytes, path: "/c") }
            #expect(error?.message.contains(expected) == true, "\(String(describing: error))")
        }
    }

    @Test("provenance of an absurd time does not trap")
    func provenanceSaturates() {
        var cached = CachedTopology(generation: 1, unixTime: .min, kernel: "k", hintsByHandle: nil, regions: [])
        #expect(TopologyCache.provenance(cached, path: "/c", now: .max).contains("written"))
        cached.unixTime = .max
        #expect(TopologyCache.provenance(cached, path: "/c", now: .min).contains("written 0 s ago"))
    }

    @Test("a cached generation of UInt64.max does not stop refresh: it starts again at 1")
    func maximalGeneration() throws {
        try CacheTests.withScratch { dir in
            let path = dir + "/topology.json"
            try Self.writeFile(path, try Self.document { $0.replacingFirst("\"generation\":1,", with: "\"generation\":18446744073709551615,") })
            #expect(try TopologyCache.write(path: path, render: Self.refreshDocument) == 1)
            #expect(try TopologyCache.read(path: path).generation == 1)
        }
    }

    @Test("a cache from another boot, without a boot_id, or from another kernel is no cache, with the reason")
    func boundToBootAndKernel() throws {
        try CacheTests.withScratch { dir in
            let path = dir + "/topology.json"
            let boot = try Self.bootID()
            try Self.writeFile(path, try Self.document())
            #expect(try TopologyCache.read(path: path).generation == 1, "this boot's own document reads")

            let otherBoot = "00000000-1111-2222-3333-444444444444"
            try Self.writeFile(path, try Self.document { $0.replacingFirst(boot, with: otherBoot) })
            var error = #expect(throws: HostError.self) { try TopologyCache.read(path: path) }
            #expect(error?.message.hasPrefix("no cache for this boot") == true && error?.message.contains(otherBoot) == true, "\(String(describing: error))")
            #expect(throws: HostError.self) { try TopologyCache.readVerified(path: path, live: Fixtures.topology()) }

            try Self.writeFile(path, try Self.document { $0.replacingFirst("\"boot_id\":\"\(boot)\",", with: "") })
            error = #expect(throws: HostError.self) { try TopologyCache.read(path: path) }
            #expect(error?.message.hasPrefix("no cache for this boot") == true && error?.message.contains("boot_id") == true, "\(String(describing: error))")

            try Self.writeFile(path, try Self.document { $0.replacingFirst("\"kernel\":\"\(TopologyCache.kernelRelease())\"", with: "\"kernel\":\"2.6.32-other\"") })
            error = #expect(throws: HostError.self) { try TopologyCache.read(path: path) }
            #expect(error?.message.hasPrefix("no cache for this kernel") == true && error?.message.contains("2.6.32-other") == true, "\(String(describing: error))")
        }
    }

    @Test("a snapshot time from an earlier boot, or from the future, does not make refresh skip")
    func snapshotOfAnotherBootDoesNotCoalesce() throws {
        try CacheTests.withScratch { dir in
            let path = dir + "/topology.json"
            let boot = try Self.bootID()
            // An earlier boot that ran longer than this one has so far.
            let later = TopologyCache.currentBootTime() + 3_600_000_000_000
            try Self.writeFile(path, try Self.document(generation: 5) {
                $0.replacingFirst(boot, with: "00000000-1111-2222-3333-444444444444")
                    .replacingFirst("\"kernel\"", with: "\"snapshot_boottime_ns\":\(later),\"kernel\"")
            })
            #expect(try TopologyCache.write(path: path, startedAt: TopologyCache.currentBootTime(), render: Self.refreshDocument) == 1)
            #expect(try TopologyCache.read(path: path).generation == 1)

            // This boot's document claiming a snapshot not yet taken: corrupt, not a reason to skip.
            try Self.writeFile(path, try Self.document(generation: 5) {
                $0.replacingFirst("\"kernel\"", with: "\"snapshot_boottime_ns\":\(later),\"kernel\"")
            })
            #expect(try TopologyCache.write(path: path, startedAt: TopologyCache.currentBootTime(), render: Self.refreshDocument) == 6)
        }
    }

    // MARK: Issue 19: a cache someone else controls is not read; a forged one cannot flood the error

    /// A forged document: region0's first hint page moved to 0x1000 (System RAM).
    static func forgedDocument() throws -> [UInt8] {
        try document { $0.replacingFirst("\"0x37ffe000\"", with: "\"0x1000\"") }
    }

    /// Expects reading the cache at `path` to be refused with one line naming `named`, owned by
    /// `uid` with `mode`.
    static func expectRefused(_ path: String, naming named: String, uid: uid_t, mode: mode_t, _ comment: Comment) {
        let error = #expect(throws: HostError.self, comment) { try TopologyCache.read(path: path) }
        let text = error.map { "\($0)" } ?? ""
        let digits = String(mode, radix: 8)
        let octal = String(repeating: "0", count: 4 - digits.count) + digits
        #expect(text.hasPrefix(named + ": ") && text.contains("owned by uid \(uid)") && text.contains("mode \(octal)")
                && !text.contains("\n"), "\(comment): \(text)")
    }

    @Test("a cache file or directory others may write, or a symbolic link at the cache's name, is not read")
    func writableOrLinkedCacheNotRead() throws {
        try CacheTests.withScratch { dir in
            let path = dir + "/topology.json"
            try Self.writeFile(path, try Self.forgedDocument())
            // Root's (or the caller's) own 0644 file in a 0700 directory is read.
            #expect(try TopologyCache.read(path: path).hintsByHandle?[0x1] == [0x1000])
            let me = geteuid()
            for mode: mode_t in [0o664, 0o646, 0o666] {
                #expect(chmod(path, mode) == 0)
                Self.expectRefused(path, naming: path, uid: me, mode: mode, "file mode \(String(mode, radix: 8))")
            }
            #expect(chmod(path, 0o644) == 0)
            for mode: mode_t in [0o770, 0o707, 0o1777] {
                #expect(chmod(dir, mode) == 0)
                Self.expectRefused(path, naming: dir, uid: me, mode: mode, "directory mode \(String(mode, radix: 8))")
            }
            #expect(chmod(dir, 0o700) == 0)
            // A link at the cache's name, even to a good cache, is not followed.
            #expect(rename(path, dir + "/real.json") == 0 && symlink(dir + "/real.json", path) == 0)
            let error = #expect(throws: HostError.self) { try TopologyCache.read(path: path) }
            #expect(error?.description == "\(path): is a symbolic link; refusing to follow it", "\(String(describing: error))")
        }
    }

    @Test("a cache file, its directory or a directory on the way owned by someone else is not read, naming the path, owner and mode",
          .enabled(if: geteuid() == 0, "needs root: files are handed to nobody"))
    func cacheOthersOwnNotRead() throws {
        try CacheTests.withScratch { dir in
            // As in the report: nobody writes a copy with a hint page at 0x1000, root reads it.
            let path = dir + "/topology.json"
            try Self.writeFile(path, try Self.forgedDocument())
            #expect(chown(path, 65534, gid_t.max) == 0)
            Self.expectRefused(path, naming: path, uid: 65534, mode: 0o644, "file owned by nobody")
            #expect(chown(path, 0, gid_t.max) == 0 && chown(dir, 65534, gid_t.max) == 0)
            Self.expectRefused(path, naming: dir, uid: 65534, mode: 0o700, "directory owned by nobody")
            #expect(chown(dir, 0, gid_t.max) == 0)
            // Root's own directory and file, inside a directory nobody owns (and could rename).
            let sub = dir + "/sub"
            #expect(mkdir(sub, 0o755) == 0 && rename(path, sub + "/topology.json") == 0 && chown(dir, 65534, gid_t.max) == 0)
            Self.expectRefused(sub + "/topology.json", naming: dir, uid: 65534, mode: 0o700, "a directory on the way owned by nobody")
            #expect(chown(dir, 0, gid_t.max) == 0)
            #expect(try TopologyCache.read(path: sub + "/topology.json").generation == 1)
            // A link on the way that nobody made is not followed; one root made is.
            #expect(symlink(dir, dir + "/via") == 0 && lchown(dir + "/via", 65534, gid_t.max) == 0)
            Self.expectRefused(dir + "/via/sub/topology.json", naming: dir + "/via", uid: 65534, mode: 0o777, "a link on the way made by nobody")
            #expect(lchown(dir + "/via", 0, gid_t.max) == 0)
            #expect(try TopologyCache.read(path: dir + "/via/sub/topology.json").generation == 1)
        }
    }

    @Test("a stale cache of very many regions names the first differences and counts the rest, on one short line")
    func manyDifferencesAreCapped() throws {
        try CacheTests.withScratch { dir in
            let path = dir + "/topology.json"
            var forged = Fixtures.topology()
            let template = forged.buses[0].regions[0]
            forged.buses[0].regions += (0..<5000).map { i in
                var r = template
                r.id = UInt32(100 + i)
                r.dev = "region\(100 + i)"
                return r
            }
            try TopologyCache.write(path: path) { g, _ in Array(CacheTests.document(generation: g, topology: forged).utf8) }
            let error = #expect(throws: HostError.self) { try TopologyCache.readVerified(path: path, live: Fixtures.topology()) }
            let text = error?.description ?? ""
            #expect(text.hasPrefix("\(path): stale (generation 1): region100 is gone; region101 is gone; "), "\(text.prefix(200))")
            #expect(text.hasSuffix("region107 is gone; and 4992 more; run `flushctl refresh` as root"), "\(text.suffix(200))")
            #expect(!text.contains("region108") && text.count < 400, "\(text.count) characters")
        }
    }
}

extension String {
    /// The string with the first `target` replaced.
    func replacingFirst(_ target: String, with replacement: String) -> String {
        guard let r = range(of: target) else { return self }
        return replacingCharacters(in: r, with: replacement)
    }
}
