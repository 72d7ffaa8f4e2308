import Testing
import Glibc
import SystemPackage
@testable import FactCache
@testable import FlushPlanning
@testable import HostFiles
@testable import NVDIMMTopology

/// The topology cache: decoding, staleness, the atomic write and its lock.
@Suite("Topology cache", .serialized)
struct CacheTests {
    /// A fresh empty directory under /tmp for one test.
    static func scratchDirectory() throws -> String {
        var template = Array("/tmp/flushctl-cache-test-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { buffer in mkdtemp(buffer.baseAddress!).map { String(cString: $0) } }
        return try #require(made, "mkdtemp failed: errno \(errno)")
    }

    /// Removes a scratch directory and everything in it (some tests make subdirectories).
    static func removeScratch(_ dir: String) {
        if let d = opendir(dir) {
            while let entry = readdir(d) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
                guard name != "." && name != ".." else { continue }
                let path = dir + "/" + name
                if entry.pointee.d_type == UInt8(DT_DIR) { removeScratch(path) } else { unlink(path) }
            }
            closedir(d)
        }
        rmdir(dir)
    }

    /// Runs `body` in a fresh scratch directory, removed afterwards whatever happens.
    static func withScratch<T>(_ body: (_ dir: String) throws -> T) throws -> T {
        let dir = try scratchDirectory()
        defer { removeScratch(dir) }
        return try body(dir)
    }

    /// Runs `body` with two fresh scratch directories, removed afterwards: `dir` to write in, and
    /// `outside`, where links planted in `dir` point.
    static func withScratch<T>(_ body: (_ dir: String, _ outside: String) throws -> T) throws -> T {
        try withScratch { outside in try withScratch { dir in try body(dir, outside) } }
    }

    /// A cache document with the regions of `topology`, as refresh writes it (the parts read back).
    /// This boot's id, which a document must carry to be read (empty when /proc has none).
    static let bootID = (try? CacheHardeningTests.bootID()) ?? ""

    static func document(generation: UInt64, unixTime: Int64 = 1_795_632_232, topology: Topology,
                         hints: [UInt32: [UInt64]]? = [0x1: [0x37ffe000], 0x101: [0x37fff000]],
                         checks: String = "") -> String {
        let regions = TopologyCache.regions(of: topology).map { r in
            let dimms = r.dimms.map { d in "{\"dev\":\"\(d.dev)\"" + (d.handle.map { ",\"handle\":\"0x\(String($0, radix: 16))\"" } ?? "") + "}" }
            let c = r.dev == "region0" && !checks.isEmpty ? ",\"checks\":[\(checks)]" : ""
            return "{\"dev\":\"\(r.dev)\",\"enabled\":\(r.enabled),\"size\":\(r.size),\"dimms\":[\(dimms.joined(separator: ","))]\(c)}"
        }
        let h = hints.map { map in
            ",\"hints_by_handle\":[" + map.keys.sorted().map { k in
                "{\"handle\":\"0x\(String(k, radix: 16))\",\"flush_hints\":[" + (map[k] ?? []).map { "\"0x\(String($0, radix: 16))\"" }.joined(separator: ",") + "]}"
            }.joined(separator: ",") + "]"
        } ?? ""
        return """
            {"format":"flushctl-topology-cache","version":1,"generation":\(generation),"timestamp":"x","unix_time":\(unixTime),\
            "boot_id":"\(bootID)","kernel":"\(TopologyCache.kernelRelease())"\(h),"regions":[\(regions.joined(separator: ","))],"topology":[],"plans":[]}
            """
    }

    static func readText(_ path: String) throws -> String {
        String(decoding: try SmallFile.read(path), as: UTF8.self)
    }

    @Test("a document round-trips: generation, time, kernel, hints, regions and checks")
    func decodes() throws {
        let check = #"{"id":"mmap","page":"0x37ffe000","verdict":"ok","finding":"Mapped."},{"id":"privilege","verdict":"ok","finding":"Root.","fix":"none"}"#
        let text = Self.document(generation: 7, topology: Fixtures.topology(), checks: check)
        let cached = try TopologyCache.decode(Array(text.utf8))
        #expect(cached.generation == 7)
        #expect(cached.unixTime == 1_795_632_232)
        #expect(cached.kernel == TopologyCache.kernelRelease())
        #expect(cached.hintsByHandle == [0x1: [0x37ffe000], 0x101: [0x37fff000]])
        #expect(cached.regions.map(\.dev) == ["region0", "region1", "region2"])
        #expect(cached.region(named: "region0")?.dimms == [DIMM.recorded(dev: "nmem0", handle: 1), DIMM.recorded(dev: "nmem1", handle: 0x101)])
        #expect(cached.region(named: "region1")?.enabled == false)
        #expect(cached.region(named: "region0")?.checks == [
            Check(id: .mmap, page: 0x37ffe000, verdict: .ok, finding: "Mapped."),
            Check(id: .privilege, verdict: .ok, finding: "Root.", fix: "none"),
        ])
        #expect(TopologyCache.differences(cached: cached, live: Fixtures.topology()).isEmpty)
    }

    @Test("bad documents are refused naming the file and what is wrong")
    func refusesBadDocuments() {
        #expect(throws: HostError(path: "/c", message: "not valid JSON at byte 12: expected ',' or '}' in an object")) {
            try TopologyCache.decode(Array(#"{"format":1 "x"}"#.utf8), path: "/c")
        }
        let wrongFormat = Self.document(generation: 1, topology: Fixtures.topology()).replacingFirst("flushctl-topology-cache", with: "other")
        #expect(throws: HostError.self) { try TopologyCache.decode(Array(wrongFormat.utf8)) }
        let zeroGeneration = Self.document(generation: 0, topology: Fixtures.topology())
        let error = #expect(throws: HostError.self) { try TopologyCache.decode(Array(zeroGeneration.utf8), path: "/c") }
        #expect(error?.description == "/c: not a flushctl cache: generation: 0 is not an integer from 1 to 9007199254740992")
        let badCheck = Self.document(generation: 1, topology: Fixtures.topology(), checks: #"{"id":"bogus","verdict":"ok","finding":"x"}"#)
        #expect(throws: HostError.self) { try TopologyCache.decode(Array(badCheck.utf8)) }
    }

    @Test("staleness: a region gone, new, disabled, resized or with other DIMMs is named")
    func staleness() throws {
        let cached = try TopologyCache.decode(Array(Self.document(generation: 3, topology: Fixtures.topology()).utf8))
        var live = Fixtures.topology()
        live.buses[0].regions.remove(at: 1)                       // region1 gone
        live.buses[0].regions[0].size = 0x20000000                // region0 resized
        live.buses[1].regions[0].enabled = false                  // region2 disabled
        live.buses[1].regions.append(Region(id: 3, dev: "region3", size: 0x1000, mappings: []))
        let diffs = TopologyCache.differences(cached: cached, live: live)
        #expect(diffs == [
            "region1 is gone",
            "region0 size is 536870912, cached 1073741824",
            "region2 is now disabled",
            "region3 is new",
        ])
        var swapped = Fixtures.topology()
        swapped.buses[0].dimms[1].handle = 0x202
        #expect(TopologyCache.differences(cached: cached, live: swapped) == ["region0 DIMMs are nmem0@0x1,nmem1@0x202, cached nmem0@0x1,nmem1@0x101"])
    }

    @Test("readVerified refuses a stale cache and says how to refresh it")
    func readVerifiedRefusesStale() throws {
        try Self.withScratch { dir in
            let path = dir + "/topology.json"
            try TopologyCache.write(path: path) { g, _ in Array(Self.document(generation: g, topology: Fixtures.topology()).utf8) }
            #expect(try TopologyCache.readVerified(path: path, live: Fixtures.topology()).generation == 1)
            var live = Fixtures.topology()
            live.buses[0].regions[0].enabled = false
            let error = #expect(throws: HostError.self) { try TopologyCache.readVerified(path: path, live: live) }
            #expect(error?.description == "\(path): stale (generation 1): region0 is now disabled; run `flushctl refresh` as root")
            let missing = #expect(throws: HostError.self) { try TopologyCache.read(path: dir + "/absent.json") }
            #expect(missing?.message.hasPrefix("no cache") == true)
        }
    }

    @Test("write creates the directory 0755 and the file 0644 whatever the umask, and increments the generation")
    func writeModesAndGeneration() throws {
        try Self.withScratch { dir in
            let path = dir + "/run/flushctl/topology.json"
            let old = umask(0o077)
            defer { umask(old) }
            var seen: [UInt64?] = []
            for _ in 0..<3 {
                seen.append(try TopologyCache.write(path: path) { g, _ in Array(Self.document(generation: g, topology: Fixtures.topology()).utf8) })
            }
            #expect(seen == [1, 2, 3])
            #expect(try TopologyCache.read(path: path).generation == 3)
            var st = stat()
            #expect(stat(path, &st) == 0 && st.st_mode & 0o777 == 0o644)
            #expect(stat(dir + "/run/flushctl", &st) == 0 && st.st_mode & 0o777 == 0o755)
            // Only the document and its lock are left: no temporary file.
            #expect(try Self.listDirectory(dir + "/run/flushctl") == ["topology.json", "topology.json.lock"])
        }
    }

    @Test("an unreadable previous document restarts at generation 1 and is replaced whole")
    func replacesGarbage() throws {
        try Self.withScratch { dir in
            let path = dir + "/topology.json"
            try CacheHardeningTests.writeFile(path, Array("{\"format\":".utf8))
            #expect(try TopologyCache.write(path: path) { g, _ in Array(Self.document(generation: g, topology: Fixtures.topology()).utf8) } == 1)
            #expect(try TopologyCache.read(path: path).generation == 1)
        }
    }

    @Test("a failing write leaves the old document in place")
    func failureKeepsOld() throws {
        try Self.withScratch { dir in
            let notDir = dir + "/file"
            try CacheHardeningTests.writeFile(notDir, [])
            let error = #expect(throws: HostError.self) { try TopologyCache.write(path: notDir + "/topology.json") { _, _ in [] } }
            #expect(error?.description == "\(notDir): exists and is not a directory")

            // A directory in place of the document: rename fails, the temporary file is removed.
            let path = dir + "/topology.json"
            #expect(mkdir(path, 0o755) == 0)
            let renameError = #expect(throws: HostError.self) {
                try TopologyCache.write(path: path) { g, _ in Array(Self.document(generation: g, topology: Fixtures.topology()).utf8) }
            }
            #expect(renameError?.operation == "rename" && renameError?.errno == .isDirectory && renameError?.path == path, "\(String(describing: renameError))")
            #expect(try Self.listDirectory(dir) == ["file", "topology.json", "topology.json.lock"])

            // A document readers would refuse (here: no boot_id) is not installed.
            #expect(rmdir(path) == 0)
            let refused = #expect(throws: HostError.self) {
                try TopologyCache.write(path: path) { g, _ in
                    Array(Self.document(generation: g, topology: Fixtures.topology()).replacingFirst("\"boot_id\":\"\(Self.bootID)\",", with: "").utf8)
                }
            }
            #expect(refused?.message.hasPrefix("refusing to write a document readers would refuse: no cache for this boot") == true, "\(String(describing: refused))")
            #expect(try Self.listDirectory(dir) == ["file", "topology.json.lock"])
        }
    }

    @Test("the lock serialises writers: a held lock blocks refresh, and concurrent writers lose no generation")
    func lockSerialises() async throws {
        let dir = try Self.scratchDirectory()
        defer { Self.removeScratch(dir) }
        let path = dir + "/topology.json"
        try TopologyCache.write(path: path) { g, _ in Array(Self.document(generation: g, topology: Fixtures.topology()).utf8) }

        // Hold the lock as another refresh would; a write must wait for it.
        let holder = open(TopologyCache.lockPath(for: path), O_RDWR)
        try #require(holder >= 0)
        #expect(flock(holder, LOCK_EX) == 0)
        let blocked = Task.detached { try TopologyCache.write(path: path) { g, _ in Array(Self.document(generation: g, topology: Fixtures.topology()).utf8) } }
        try await Task.sleep(nanoseconds: 300_000_000)
        #expect(try TopologyCache.read(path: path).generation == 1, "the write went ahead while the lock was held")
        flock(holder, LOCK_UN)
        close(holder)
        #expect(try await blocked.value == 2)

        // 4 writers x 10 writes: each sees the previous generation, so the last is 2 + 40.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<4 {
                group.addTask {
                    for _ in 0..<10 {
                        try TopologyCache.write(path: path) { g, _ in Array(Self.document(generation: g, topology: Fixtures.topology()).utf8) }
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(try TopologyCache.read(path: path).generation == 42)
    }

    @Test("a refresh that started before the current document's snapshot writes nothing; one that started after writes")
    func coalesces() throws {
        try Self.withScratch { dir in
            let path = dir + "/topology.json"
            func render(_ g: UInt64, _ snapshot: Int64) -> [UInt8] {
                Array(Self.document(generation: g, topology: Fixtures.topology())
                    .replacingFirst("\"kernel\"", with: "\"snapshot_boottime_ns\":\(snapshot),\"kernel\"").utf8)
            }
            let early = TopologyCache.currentBootTime()
            #expect(try TopologyCache.write(path: path, startedAt: early, render: render) == 1)
            let snapshot = try #require(try TopologyCache.read(path: path).snapshotBootTime)
            #expect(snapshot > early)
            // Started before that snapshot: its event is already in the document.
            #expect(try TopologyCache.write(path: path, startedAt: early, render: render) == nil)
            #expect(try TopologyCache.read(path: path).generation == 1)
            // Started after it: the document may miss its event, so it writes.
            let late = TopologyCache.currentBootTime()
            #expect(try TopologyCache.write(path: path, startedAt: late, render: render) == 2)
            // A render that throws leaves the document as it was.
            struct Boom: Error {}
            #expect(throws: Boom.self) { try TopologyCache.write(path: path) { _, _ in throw Boom() } }
            #expect(try TopologyCache.read(path: path).generation == 2)
        }
    }

    @Test("time and age formats")
    func timeFormats() {
        #expect(TopologyCache.iso8601(0) == "1970-01-01T00:00:00Z")
        #expect(TopologyCache.iso8601(1_795_632_232) == "2026-11-25T18:43:52Z")
        #expect(TopologyCache.describeAge(5) == "5 s")
        #expect(TopologyCache.describeAge(600) == "10 min")
        #expect(TopologyCache.describeAge(-3) == "0 s")
        #expect(!TopologyCache.kernelRelease().isEmpty)
    }

    @Test("a cache that is not JSON is refused with the byte offset; a wrong field with its path")
    func documentErrorsNameWhere() throws {
        #expect(throws: HostError(path: "c", message: "not valid JSON at byte 3: unexpected text after the JSON value")) {
            try TopologyCache.decode(Array("{} x".utf8), path: "c")
        }
        // The one JSON reader refuses a repeated key: which value would count is unclear.
        #expect(throws: HostError(path: "c", message: #"not valid JSON at byte 8: duplicate key "a""#)) {
            try TopologyCache.decode(Array(#"{"a":1, "a":2}"#.utf8), path: "c")
        }
        #expect(throws: HostError(path: "c", message: #"not a flushctl cache: format: is not "flushctl-topology-cache""#)) {
            try TopologyCache.decode(Array(#"{"format":7}"#.utf8), path: "c")
        }
    }

    static func listDirectory(_ path: String) throws -> [String] {
        guard let d = opendir(path) else { throw HostError(path: path, message: "opendir failed") }
        defer { closedir(d) }
        var names: [String] = []
        while let e = readdir(d) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }
}
