import Testing
#if canImport(Glibc)
import Glibc
#endif
@testable import FlushPlanning
@testable import HostFiles
@testable import HostIO
@testable import NVDIMMTopology

private func region(_ hints: [[UInt64]?]) -> RegionFacts {
    RegionFacts(name: "region0", enabled: true, persistenceDomain: "memory_controller", deepFlush: 1,
                dimms: hints.enumerated().map { DIMM(name: "nmem\($0.offset)", handle: UInt32($0.offset), hints: $0.element) })
}

/// Reads the 8-byte little-endian word at `offset` of the file at `path`.
private func word(_ path: String, at offset: UInt64) throws -> UInt64 {
    let fd = open(path, O_RDONLY)
    guard fd >= 0 else { throw TempDirError() }
    defer { close(fd) }
    var value: UInt64 = 0
    let n = withUnsafeMutableBytes(of: &value) { pread(fd, $0.baseAddress, 8, off_t(offset)) }
    guard n == 8 else { throw TempDirError() }
    return UInt64(littleEndian: value)
}

@Suite("Planning: flushing")
struct PlanningFlushTests {
    @Test func usableHintsArePowerOfTwoOfSmallestNonZeroCount() throws {
        // Counts 3 and 6: smallest non-zero is 3, 2^ilog2(3) = 2 hints per DIMM.
        let s = try FlushSchedule(region: region([[0x1000, 0x1008, 0x1010], [0x2000, 0x2008, 0x2010, 0x2018, 0x2020, 0x2028]]))
        #expect(s.lanes == [[0x1000, 0x1008], [0x2000, 0x2008]])
        #expect(s.targets(call: 0) == [0x1000, 0x2000])
        #expect(s.targets(call: 1) == [0x1008, 0x2008])
        #expect(s.targets(call: 2) == [0x1000, 0x2000])
        #expect(s.pages == [0x1000, 0x2000])
        let four = try FlushSchedule(region: region([[0x1000, 0x1008, 0x1010, 0x1018, 0x1020]]))
        #expect(four.lanes == [[0x1000, 0x1008, 0x1010, 0x1018]])
        #expect(four.targets(call: 7) == [0x1018])
    }

    @Test func dimmsWithoutHintsAreSkippedAndZeroCountsIgnored() throws {
        let s = try FlushSchedule(region: region([[], [0x2000, 0x2008], nil]))
        #expect(s.dimms == ["nmem1"])
        #expect(s.lanes == [[0x2000, 0x2008]])
        #expect(throws: HostError.self) { try FlushSchedule(region: region([[], nil])) }
    }

    @Test func dimmsSharingTheirFirstHintAreWrittenOnce() throws {
        let s = try FlushSchedule(region: region([[0x1000, 0x1008], [0x1000, 0x1010], [0x3000, 0x3008]]))
        #expect(s.dimms == ["nmem0", "nmem2"])
        #expect(s.targets(call: 1) == [0x1008, 0x3008])
    }

    @Test func unalignedHintIsRefused() {
        #expect(throws: HostError.self) { try FlushSchedule(region: region([[0x1004]])) }
    }

    @Test func flusherWritesOneHintPerDIMMAndRotates() throws {
        // A regular file stands in for /dev/mem: the same open(O_SYNC) + mmap(MAP_SHARED)
        // path, with pages at "physical" 0x0 and 0x1000.
        let dir = try TempDir()
        try dir.write("mem", String(repeating: "\u{0}", count: 8192))
        let mem = dir.path + "/mem"
        let schedule = try FlushSchedule(region: region([[0x0040, 0x0048], [0x1100, 0x1108, 0x1110]]))
        let flusher = try RegionFlusher(schedule: schedule, path: mem)
        #expect(schedule.targets(call: flusher.flush()) == [0x0040, 0x1100])
        #expect(try word(mem, at: 0x0040) == 1)
        #expect(try word(mem, at: 0x1100) == 1)
        #expect(try word(mem, at: 0x0048) == 0)
        #expect(try word(mem, at: 0x1108) == 0)
        #expect(schedule.targets(call: flusher.flush()) == [0x0048, 0x1108])
        #expect(try word(mem, at: 0x0048) == 1)
        #expect(try word(mem, at: 0x1108) == 1)
        // The third hint of nmem1 is beyond the usable two: never written.
        flusher.flush()
        #expect(try word(mem, at: 0x1110) == 0)
    }

    @Test func flusherStartsAtTheSeededIndex() throws {
        let dir = try TempDir()
        try dir.write("mem", String(repeating: "\u{0}", count: 4096))
        let schedule = try FlushSchedule(region: region([[0x0040, 0x0048]]))
        let flusher = try RegionFlusher(schedule: schedule, path: dir.path + "/mem", firstIndex: 5)
        #expect(schedule.targets(call: flusher.flush()) == [0x0048])
        #expect(try word(dir.path + "/mem", at: 0x0040) == 0)
        #expect(schedule.targets(call: flusher.flush()) == [0x0040])
    }

    @Test func mappingErrorsNameThePageAndCall() throws {
        do {
            _ = try MappedHintPages(pages: [0x37fff000], path: "/nonexistent/flushctl-mem")
            Issue.record("expected an error")
        } catch {
            #expect(error.call == "open")
            #expect(error.errno == .noSuchFileOrDirectory)
            #expect(error.description.hasPrefix("cannot map page 0x37fff000 of /nonexistent/flushctl-mem: open:"))
        }
        let dir = try TempDir()
        try dir.write("mem", String(repeating: "\u{0}", count: 4096))
        #expect(throws: HintMapError.self) { _ = try MappedHintPages(pages: [0x10], path: dir.path + "/mem") }
        let eperm = HintMapError(path: "/dev/mem", page: 0x37fff000, call: "mmap", errno: .notPermitted)
        #expect(eperm.description.contains("iomem=relaxed"))
    }

    @Test func mappedPagesAreDistinctAndSorted() throws {
        let dir = try TempDir()
        try dir.write("mem", String(repeating: "\u{0}", count: 8192))
        let pages = try MappedHintPages(pages: [0x1000, 0x0, 0x1000], path: dir.path + "/mem")
        #expect(pages.pages == [0x0, 0x1000])
        #expect(pages.register(at: 0x1008) != nil)
        #expect(pages.register(at: 0x1004) == nil)
        #expect(pages.register(at: 0x2000) == nil)
    }

    @Test func mappingIsProvenOnlyOnPagesWithAPassingOwner() throws {
        // Page 0x0 is claimed by ndbus0, page 0x1000 is System RAM: only page 0x0 is mapped.
        let dir = try TempDir()
        try dir.write("mem", String(repeating: "\u{0}", count: 8192))
        let facts = RegionFacts(name: "region0", enabled: true, persistenceDomain: "memory_controller", deepFlush: 1, dimms: [
            DIMM(name: "nmem0", handle: 1, hints: [0x0040]), DIMM(name: "nmem1", handle: 2, hints: [0x1040]),
        ])
        let host = HostFacts(privilege: Privilege(effectiveUID: 0, effectiveCapabilities: 1 << 17),
                             config: .success(KernelConfig(options: [:], source: "t")), commandLine: .success(.parse("")),
                             release: "6.1.0",
                             iomem: .success(try IOMemMap.parse("00000000-00000fff : ndbus0\n00001000-00001fff : System RAM\n")))
        let checks = HostPlanning.checks(for: facts, host: host, devMem: dir.path + "/mem")
        let mmaps = checks.filter { $0.id == .mmap }
        #expect(mmaps.map(\.page) == [0x0, 0x1000])
        #expect(mmaps.map(\.verdict) == [.ok, .unknown])
        #expect(checks.first { $0.id == .iomemOwner && $0.page == 0x1000 }?.verdict == .fail)
        #expect(try Planner.plan(backend: .deviceDAX(path: "/dev/dax0.0", region: "region0"), region: facts, checks: checks).method == .deepFlush)
        // A mapping that fails is a failed proof.
        let failed = HostPlanning.checks(for: facts, host: host, devMem: dir.path + "/missing")
        #expect(failed.first { $0.id == .mmap && $0.page == 0 }?.verdict == .fail)
    }

    @Test func deepFlushWritesOne() throws {
        let dir = try TempDir()
        try dir.write("deep_flush", "")
        try KernelFlush.deepFlush(path: dir.path + "/deep_flush")
        #expect(try SmallFile.readText(dir.path + "/deep_flush") == "1\n")
        #expect(throws: HostError.self) { try KernelFlush.deepFlush(path: dir.path + "/missing/deep_flush") }
    }

    @Test func fsyncReportsEveryError() throws {
        let dir = try TempDir()
        try dir.write("img", "data")
        try KernelFlush.fsync(path: dir.path + "/img")
        #expect(throws: HostError.self) { try KernelFlush.fsync(path: dir.path + "/missing") }
        // A character device without fsync: EINVAL must surface, not pass as success.
        do {
            try KernelFlush.fsync(path: "/dev/null")
            Issue.record("fsync of /dev/null should fail")
        } catch {
            #expect(error.operation == "fsync")
        }
    }

    @Test func backendProbeOnPlainFiles() throws {
        let dir = try TempDir()
        try dir.write("img", "data")
        let probed = try BackendProbe.inspect(path: dir.path + "/img")
        #expect(probed.backend == .otherFile(path: dir.path + "/img"))
        #expect(probed.geometry == BackendGeometry(size: 4) && probed.deviceName == nil)
        #expect(throws: HostError.self) { try BackendProbe.inspect(path: dir.path + "/missing") }
        // A character device that is not device-dax.
        #expect(throws: HostError.self) { try BackendProbe.inspect(path: "/dev/null") }
        // A file with a hole is not fully allocated; one without is.
        #expect(BackendProbe.isFullyAllocated(path: dir.path + "/img", size: 4))
        let fd = open(dir.path + "/sparse", O_WRONLY | O_CREAT, 0o644)
        #expect(fd >= 0)
        #expect(ftruncate(fd, 1 << 20) == 0)
        close(fd)
        #expect(!BackendProbe.isFullyAllocated(path: dir.path + "/sparse", size: 1 << 20))
        // MAP_SYNC is refused on a non-DAX file.
        guard case .refused = BackendProbe.probeMapSync(path: dir.path + "/img") else {
            Issue.record("MAP_SYNC accepted on a non-DAX file"); return
        }
    }
}
