import Testing
import NFIT
@testable import FlushPlanning
@testable import HostFiles
@testable import HostIO
@testable import NVDIMMTopology

/// A 2-way interleaved region whose DIMMs have hints in two pages; nmem1 has 3 hints, of which
/// Linux uses 2 (2^ilog2 of the smallest count, nmem0's 2), so its third is never mapped.
private func twoWay(deepFlush: Int? = 1, enabled: Bool = true) -> RegionFacts {
    RegionFacts(name: "region0", enabled: enabled, persistenceDomain: "memory_controller", deepFlush: deepFlush, dimms: [
        DIMM(name: "nmem0", handle: 0x0001, hints: [0x37fff000, 0x37fff040]),
        DIMM(name: "nmem1", handle: 0x0101, hints: [0x3800_0100, 0x3800_0140, 0x3800_0180]),
    ])
}

private func hostFacts(config: String = "CONFIG_STRICT_DEVMEM=y\n", cmdline: String = "root=/dev/vda iomem=relaxed",
                       caps: UInt64 = 1 << 17) -> HostFacts {
    let iomem = """
    37fff000-37ffffff : Reserved
      37fff000-37ffffff : ndbus0
    38000000-38000fff : ndbus0
    """
    return HostFacts(privilege: Privilege(effectiveUID: 0, effectiveCapabilities: caps),
                     config: Result { () throws(HostError) in try KernelConfig.parse(config, source: "/boot/config-t") },
                     commandLine: .success(.parse(cmdline)), release: "6.1.0",
                     iomem: Result { () throws(HostError) in try IOMemMap.parse(iomem) })
}

/// Checks that prove passthrough for every page of `region`.
private func goodChecks(_ region: RegionFacts, facts: HostFacts = hostFacts()) -> [Check] {
    let pages = region.hintPages
    var proofs: [UInt64: MapProof] = [:]
    for p in pages { proofs[p.page] = .mapped }
    return DevMemChecks.evaluate(facts: facts, region: region.name.dev, pages: pages, proofs: proofs)
}

private let devdax = Backend.deviceDAX(path: "/dev/dax0.0", region: "region0")

@Suite("Planning: plan decision")
struct PlanningPlanTests {
    // MARK: passthrough

    /// Issue 20: pages proven through the region's hint device are planned through it, with
    /// no iomem=relaxed or CAP_SYS_RAWIO; a cache naming any other file is not mapped from.
    @Test func pagesProvenThroughTheHintDeviceArePlannedThroughIt() throws {
        let region = twoWay()
        let pages = region.hintPages
        var proofs: [UInt64: MapProof] = [:]
        for p in pages { proofs[p.page] = .mapped }
        var facts = hostFacts(cmdline: "quiet", caps: 0)
        facts.lockdown = .integrity
        let checks = DevMemChecks.evaluate(facts: facts, region: "region0", pages: pages, proofs: proofs,
                                           device: .usable(path: "/dev/flushhint/region0"))
        let plan = try Planner.plan(backend: devdax, region: region, checks: checks, guestBase: 0x1_0000_0000)
        #expect(plan.method == .passthrough, "\(plan.reason)")
        #expect(plan.hintSource == "/dev/flushhint/region0")
        #expect(plan.reason.contains("mapped from /dev/flushhint/region0"))
        #expect(planToJSON(PlanReport(plan: plan, checks: checks, note: nil)).prettyPrinted().contains("\"path\":\"/dev/flushhint/region0\""))
        // The same checks without the device: /dev/mem, refused under lockdown, for that reason.
        let devMem = DevMemChecks.evaluate(facts: facts, region: "region0", pages: pages,
                                           proofs: pages.reduce(into: [:]) { $0[$1.page] = .failed("open: Operation not permitted") },
                                           device: .absent(path: "/dev/flushhint/region0"))
        let refused = try Planner.plan(backend: devdax, region: region, checks: devMem)
        #expect(refused.method == .deepFlush && refused.reason.contains("lockdown is fail"), "\(refused.reason)")
        // A forged path in (cached) checks.
        let forged = checks.map { c -> Check in var c = c; if c.id == .mmap { c.path = "/tmp/evil" }; return c }
        let safe = try Planner.plan(backend: devdax, region: region, checks: forged)
        #expect(safe.method == .deepFlush && safe.reason.contains("/tmp/evil"), "\(safe.reason)")
    }

    @Test func devdaxPassthroughMirrorsTheInterleaveSet() throws {
        let region = twoWay()
        let plan = try Planner.plan(backend: devdax, region: region, checks: goodChecks(region), guestBase: 0xfee0_0000)
        #expect(plan.method == .passthrough)
        #expect(plan.region == "region0")
        #expect(plan.persistenceDomain == "memory_controller")
        #expect(plan.deepFlushPath == nil)
        #expect(plan.ranges.count == 2)
        #expect(plan.ranges[0] == FlushHintPage(page: 0x37fff000, hints: [
            .init(dimm: "nmem0", handle: 1, offset: 0), .init(dimm: "nmem0", handle: 1, offset: 0x40),
        ]))
        #expect(plan.ranges[1].page == 0x3800_0000)
        #expect(plan.ranges[1].size == 4096)
        // nmem1's third hint (0x180) is past the prefix the kernel uses: not mapped.
        #expect(plan.ranges[1].hints.map(\.offset) == [0x100, 0x140])
        #expect(plan.guest?.guestAddress(ofPage: 0) == 0xfee0_0000)
        #expect(plan.guest?.guestAddress(ofPage: 1) == 0xfee0_1000)

        let guest = try #require(plan.guest)
        #expect(guest.dimms.count == 2)
        #expect(guest.dimms.map(\.position) == [0, 1])
        #expect(guest.dimms.map(\.handle) == [0x0001, 0x0101])
        #expect(guest.dimms[0].hints == [0xfee0_0000, 0xfee0_0040])
        #expect(guest.dimms[1].hints == [0xfee0_1100, 0xfee0_1140])
        #expect(guest.dimms[1].hostDIMM == "nmem1")
    }

    @Test func guestFlushHintStructureBytes() throws {
        let region = twoWay()
        let plan = try Planner.plan(backend: devdax, region: region, checks: goodChecks(region), guestBase: 0xfee0_0000)
        let dimm = try #require(plan.guest?.dimms.first)
        let bytes = try dimm.encodedStructure()
        // Type 6, length 16 + 8·2, handle 1, two hints, 6 reserved bytes, then the addresses.
        #expect(bytes == [6, 0, 32, 0, 1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0,
                          0x00, 0x00, 0xe0, 0xfe, 0, 0, 0, 0,
                          0x40, 0x00, 0xe0, 0xfe, 0, 0, 0, 0])
        // And the NFIT decoder reads it back as this DIMM's hints.
        var table = NFITTable(subtables: [.flushHintAddress(dimm.structure)])
        table = try table.sealed()
        let decoded = try NFITTable.decode(try table.encode()).table
        #expect(decoded.subtables == [.flushHintAddress(NFITFlushHintAddress(deviceHandle: NFITDeviceHandle(rawValue: 1), hintAddresses: [0xfee0_0000, 0xfee0_0040]))])
    }

    @Test func guestNFITLayoutMirrorsTheRegion() throws {
        let region = twoWay()
        let plan = try Planner.plan(backend: devdax, region: region, checks: goodChecks(region), guestBase: 0xfee0_0000)
        let guest = try #require(plan.guest)
        let layout = try guest.nfitLayout(regionBase: 0x1_0000_0000, regionSize: 0x400_0000)
        #expect(layout.regions.count == 1)
        #expect(layout.regions[0].dimms == [NFITLayout.DIMM(handle: 0x0001, hints: [0xfee0_0000, 0xfee0_0040]),
                                            NFITLayout.DIMM(handle: 0x0101, hints: [0xfee0_1100, 0xfee0_1140])])
        // The table it builds lists each guest DIMM's hints under its own handle.
        let table = try layout.makeTable()
        let hints = table.subtables.compactMap { sub -> NFITFlushHintAddress? in
            if case .flushHintAddress(let f) = sub { return f }
            return nil
        }
        #expect(hints.map(\.deviceHandle.rawValue) == [0x0001, 0x0101])
        #expect(hints.map(\.hintAddresses) == guest.dimms.map(\.hints))
        // A size the two DIMMs cannot share is an error naming the field.
        #expect(throws: NFITLayoutError.self) { try guest.nfitLayout(regionBase: 0x1_0000_0000, regionSize: 0x1001) }
    }

    @Test func passthroughWithoutGuestBaseHasNoGuestLayout() throws {
        let region = twoWay()
        let plan = try Planner.plan(backend: devdax, region: region, checks: goodChecks(region))
        #expect(plan.method == .passthrough)
        #expect(plan.guest == nil)
    }

    @Test func oneRangePerDistinctPage() throws {
        let region = RegionFacts(name: "region0", enabled: true, persistenceDomain: "memory_controller", deepFlush: 1, dimms: [
            DIMM(name: "nmem0", handle: 1, hints: [0x37fff000]),
            DIMM(name: "nmem1", handle: 2, hints: [0x37fff040]),
            DIMM(name: "nmem2", handle: 3, hints: [0x37fff080]),
        ])
        let plan = try Planner.plan(backend: devdax, region: region, checks: goodChecks(region), guestBase: 0x1_0000_0000)
        #expect(plan.method == .passthrough)
        #expect(plan.ranges.count == 1)
        #expect(plan.ranges[0].hints.map(\.dimm) == ["nmem0", "nmem1", "nmem2"])
        #expect(plan.guest?.dimms.map(\.hints) == [[0x1_0000_0000], [0x1_0000_0040], [0x1_0000_0080]])
    }

    @Test func daxFileWithMapSyncAndAllocatedPassesThrough() throws {
        let region = twoWay()
        let file = Backend.daxFile(path: "/mnt/pmem/vm.img", region: "region0", mapSync: .accepted, fullyAllocated: true)
        let plan = try Planner.plan(backend: file, region: region, checks: goodChecks(region))
        #expect(plan.method == .passthrough)
        #expect(plan.backendKind == "dax_file")
    }

    @Test func warningsStillAllowPassthroughAndAreNamed() throws {
        var region = twoWay()
        region.sharedPages = [0x3800_0000: ["region1"]]
        // An unknown kernel release: the revocation check warns.
        var facts = hostFacts(cmdline: "quiet")
        facts.release = nil
        let plan = try Planner.plan(backend: devdax, region: region, checks: goodChecks(region, facts: facts))
        #expect(plan.method == .passthrough)
        #expect(plan.reason.contains("shared_page"))
        #expect(plan.reason.contains("devmem_revocation"))
    }

    // MARK: never passthrough wrongly

    @Test func strictDevMemFallsBackToDeepFlush() throws {
        let region = twoWay()
        let facts = hostFacts(config: "CONFIG_STRICT_DEVMEM=y\nCONFIG_IO_STRICT_DEVMEM=y\n", cmdline: "quiet")
        let plan = try Planner.plan(backend: devdax, region: region, checks: goodChecks(region, facts: facts))
        #expect(plan.method == .deepFlush)
        #expect(plan.deepFlushPath == "/sys/bus/nd/devices/region0/deep_flush")
        #expect(plan.reason.contains("devmem_restrictions"))
        #expect(plan.reason.contains("iomem=relaxed"))
        #expect(plan.ranges.isEmpty && plan.guest == nil)
    }

    @Test func unprovenMappingIsNotPassthrough() throws {
        let region = twoWay()
        let pages = region.hintPages
        // Only the first page was mapped.
        let checks = DevMemChecks.evaluate(facts: hostFacts(), region: "region0", pages: pages, proofs: [pages[0].page: .mapped])
        #expect(try Planner.plan(backend: devdax, region: region, checks: checks).method == .deepFlush)
        // A failed mapping.
        let failed = DevMemChecks.evaluate(facts: hostFacts(), region: "region0", pages: pages,
                                           proofs: [pages[0].page: .mapped, pages[1].page: .failed("Operation not permitted")])
        let plan = try Planner.plan(backend: devdax, region: region, checks: failed)
        #expect(plan.method == .deepFlush)
        #expect(plan.reason.contains("Operation not permitted"))
    }

    @Test func noChecksIsNotPassthrough() throws {
        #expect(try Planner.plan(backend: devdax, region: twoWay(), checks: []).method == .deepFlush)
    }

    @Test func missingGlobalChecksAreNotPassthrough() throws {
        let region = twoWay()
        let perPage = goodChecks(region).filter { $0.page != nil }
        let plan = try Planner.plan(backend: devdax, region: region, checks: perPage)
        #expect(plan.method == .deepFlush)
        #expect(plan.reason.contains("privilege"))
    }

    @Test func checksOfOtherPagesDoNotProveThesePages() throws {
        let region = twoWay()
        let other = RegionFacts(name: "region0", enabled: true, persistenceDomain: "unknown", deepFlush: 1,
                                dimms: [DIMM(name: "nmem9", handle: 9, hints: [0x5000_0000])])
        #expect(try Planner.plan(backend: devdax, region: region, checks: goodChecks(other)).method == .deepFlush)
    }

    @Test func unknownVerdictRefusesPassthrough() throws {
        let region = twoWay()
        let facts = HostFacts(privilege: Privilege(effectiveUID: 1000, effectiveCapabilities: nil),
                              config: .success(KernelConfig(options: [:], source: "x")), commandLine: .success(.parse("iomem=relaxed")),
                              release: "6.1.0", iomem: hostFacts().iomem)
        let plan = try Planner.plan(backend: devdax, region: region, checks: goodChecks(region, facts: facts))
        #expect(plan.method == .deepFlush)
        #expect(plan.reason.contains("privilege is unknown"))
    }

    @Test func systemRAMPageRefusesPassthrough() throws {
        let region = twoWay()
        var facts = hostFacts()
        facts.iomem = Result { () throws(HostError) in try IOMemMap.parse("37fff000-37ffffff : ndbus0\n38000000-38ffffff : System RAM\n") }
        let plan = try Planner.plan(backend: devdax, region: region, checks: goodChecks(region, facts: facts))
        #expect(plan.method == .deepFlush)
        #expect(plan.reason.contains("System RAM"))
    }

    @Test func layoutThatCannotMirrorIsNotPassthrough() throws {
        var noHandle = twoWay()
        noHandle.dimms[1].handle = nil
        let p1 = try Planner.plan(backend: devdax, region: noHandle, checks: goodChecks(noHandle))
        #expect(p1.method == .deepFlush && p1.reason.contains("nmem1"))

        var duplicate = twoWay()
        duplicate.dimms[1].handle = 0x0001
        let p2 = try Planner.plan(backend: devdax, region: duplicate, checks: goodChecks(duplicate))
        #expect(p2.method == .deepFlush && p2.reason.contains("twice"))

        var unaligned = twoWay()
        unaligned.dimms[0].flushHints = [0x37fff004]
        let p3 = try Planner.plan(backend: devdax, region: unaligned, checks: goodChecks(unaligned))
        #expect(p3.method == .deepFlush && p3.reason.contains("8-byte"))
    }

    @Test func fallbackWithoutDeepFlush() throws {
        let region = twoWay(deepFlush: nil)
        let bad = goodChecks(region, facts: hostFacts(caps: 0))
        // Device-dax cannot be fsynced: no safe method is an error, not a silent "none".
        #expect(throws: PlanError.self) { try Planner.plan(backend: devdax, region: region, checks: bad) }
        let file = Backend.daxFile(path: "/mnt/pmem/vm.img", region: "region0", mapSync: .accepted, fullyAllocated: true)
        let plan = try Planner.plan(backend: file, region: region, checks: bad)
        #expect(plan.method == .fsync)
        #expect(plan.reason.contains("CAP_SYS_RAWIO"))
    }

    // MARK: fsync backends

    @Test func pageCacheBackendsFsync() throws {
        let region = twoWay()
        let checks = goodChecks(region)
        let other = try Planner.plan(backend: .otherFile(path: "/var/lib/vm.img"), region: nil, checks: checks)
        #expect(other.method == .fsync && other.region == nil)
        let block = try Planner.plan(backend: .blockDevice(path: "/dev/pmem0", region: "region0"), region: region, checks: checks)
        #expect(block.method == .fsync && block.region == "region0" && block.reason.contains("page cache"))
        let refused = Backend.daxFile(path: "/mnt/x", region: "region0", mapSync: .refused("mmap: EOPNOTSUPP"), fullyAllocated: true)
        let p = try Planner.plan(backend: refused, region: region, checks: checks)
        #expect(p.method == .fsync && p.reason.contains("MAP_SYNC"))
        let holes = Backend.daxFile(path: "/mnt/x", region: "region0", mapSync: .accepted, fullyAllocated: false)
        let h = try Planner.plan(backend: holes, region: region, checks: checks)
        #expect(h.method == .fsync && h.reason.contains("fully allocated"))
        // fallocate makes unwritten extents, holes for MAP_SYNC: the advice is to write the file.
        #expect(h.reason.contains("write the whole file") && !h.reason.contains("preallocate it with fallocate"), "\(h.reason)")
    }

    @Test func pageCacheBackendsNeverSayNone() throws {
        let noHints = RegionFacts(name: "region0", enabled: true, persistenceDomain: "memory_controller", deepFlush: 0,
                                  dimms: [DIMM(name: "nmem0", handle: 1, hints: [])])
        let refused = Backend.daxFile(path: "/mnt/x", region: "region0", mapSync: .refused("EOPNOTSUPP"), fullyAllocated: true)
        #expect(try Planner.plan(backend: refused, region: noHints, checks: []).method == .fsync)
        #expect(try Planner.plan(backend: .blockDevice(path: "/dev/pmem0", region: "region0"), region: noHints, checks: []).method == .fsync)
    }

    // MARK: none

    @Test func noneOnlyWhenNoDIMMHasHints() throws {
        let noHints = RegionFacts(name: "region0", enabled: true, persistenceDomain: "memory_controller", deepFlush: 0, dimms: [
            DIMM(name: "nmem0", handle: 1, hints: []), DIMM(name: "nmem1", handle: 2, hints: []),
        ])
        let plan = try Planner.plan(backend: devdax, region: noHints, checks: [])
        #expect(plan.method == .none)
        #expect(plan.reason.contains("memory_controller"))
        let file = Backend.daxFile(path: "/mnt/x", region: "region0", mapSync: .accepted, fullyAllocated: true)
        #expect(try Planner.plan(backend: file, region: noHints, checks: []).method == .none)
    }

    @Test func mixedHintsIsNeitherNoneNorPassthrough() throws {
        let mixed = RegionFacts(name: "region0", enabled: true, persistenceDomain: "memory_controller", deepFlush: 1, dimms: [
            DIMM(name: "nmem0", handle: 1, hints: [0x37fff000]), DIMM(name: "nmem1", handle: 2, hints: []),
        ])
        let plan = try Planner.plan(backend: devdax, region: mixed, checks: goodChecks(mixed))
        #expect(plan.method == .deepFlush)
        #expect(plan.reason.contains("nmem1") && plan.reason.contains("no flush hints"))
        var noDeep = mixed
        noDeep.deepFlush = nil
        #expect(throws: PlanError.self) { try Planner.plan(backend: devdax, region: noDeep, checks: goodChecks(noDeep)) }
        let file = Backend.daxFile(path: "/mnt/x", region: "region0", mapSync: .accepted, fullyAllocated: true)
        #expect(try Planner.plan(backend: file, region: noDeep, checks: goodChecks(noDeep)).method == .fsync)
    }

    @Test func unknownHintsAreNotNone() throws {
        let unknown = RegionFacts(name: "region0", enabled: true, persistenceDomain: "memory_controller", deepFlush: 1, dimms: [
            DIMM(name: "nmem0", handle: 1, hints: nil), DIMM(name: "nmem1", handle: 2, hints: nil),
        ])
        let plan = try Planner.plan(backend: devdax, region: unknown, checks: [])
        #expect(plan.method == .deepFlush)
        #expect(plan.reason.contains("unknown"))
    }

    @Test func regionWithoutDIMMsIsNotNone() throws {
        let empty = RegionFacts(name: "region0", enabled: true, persistenceDomain: "unknown", deepFlush: nil, dimms: [])
        #expect(throws: PlanError.self) { try Planner.plan(backend: devdax, region: empty, checks: []) }
        let file = Backend.daxFile(path: "/mnt/x", region: "region0", mapSync: .accepted, fullyAllocated: true)
        #expect(try Planner.plan(backend: file, region: empty, checks: []).method == .fsync)
    }

    @Test func kernelAndNFITDisagreeingIsNotNone() throws {
        let noHints = RegionFacts(name: "region0", enabled: true, persistenceDomain: "memory_controller", deepFlush: 1,
                                  dimms: [DIMM(name: "nmem0", handle: 1, hints: [])])
        let plan = try Planner.plan(backend: devdax, region: noHints, checks: [])
        #expect(plan.method == .deepFlush)
        #expect(plan.reason.contains("disagree"))
    }

    // MARK: bad input

    @Test func unalignedGuestBaseIsAnError() {
        let region = twoWay()
        #expect(throws: PlanError.unalignedGuestBase(0xfee0_0800)) {
            try Planner.plan(backend: devdax, region: region, checks: goodChecks(region), guestBase: 0xfee0_0800)
        }
        // Even for a plan that would not pass through.
        #expect(throws: PlanError.unalignedGuestBase(1)) {
            try Planner.plan(backend: .otherFile(path: "/x"), region: nil, checks: [], guestBase: 1)
        }
        #expect(PlanError.unalignedGuestBase(0xfee0_0800).description == "guest base 0xfee00800 is not aligned to 4096 bytes")
    }

    @Test func guestBaseOverflowIsAnError() {
        let region = twoWay()
        #expect(throws: PlanError.guestBaseOverflow(0xffff_ffff_ffff_f000)) {
            try Planner.plan(backend: devdax, region: region, checks: goodChecks(region), guestBase: 0xffff_ffff_ffff_f000)
        }
    }

    @Test func regionProblemsAreErrors() {
        let disabled = twoWay(enabled: false)
        #expect(throws: PlanError.regionDisabled("region0")) {
            try Planner.plan(backend: devdax, region: disabled, checks: goodChecks(disabled))
        }
        #expect(throws: PlanError.regionMissing("region0")) {
            try Planner.plan(backend: devdax, region: nil, checks: [])
        }
        #expect(throws: PlanError.regionMismatch(backend: "region1", facts: "region0")) {
            try Planner.plan(backend: .deviceDAX(path: "/dev/dax1.0", region: "region1"), region: twoWay(), checks: [])
        }
    }

    @Test func checksAreRunOnlyWhenPassthroughIsPossible() {
        let region = twoWay()
        #expect(HostPlanning.needsChecks(backend: devdax, facts: region))
        #expect(HostPlanning.needsChecks(backend: .daxFile(path: "/x", region: "region0", mapSync: .accepted, fullyAllocated: true), facts: region))
        #expect(!HostPlanning.needsChecks(backend: .daxFile(path: "/x", region: "region0", mapSync: .accepted, fullyAllocated: false), facts: region))
        #expect(!HostPlanning.needsChecks(backend: .blockDevice(path: "/dev/pmem0", region: "region0"), facts: region))
        var mixed = region
        mixed.dimms[1].flushHints = []
        #expect(!HostPlanning.needsChecks(backend: devdax, facts: mixed))
        #expect(!HostPlanning.needsChecks(backend: devdax, facts: twoWay(enabled: false)))
    }

    // MARK: facts from the topology

    @Test func regionFactsFromTopologyUseInterleavePositions() {
        let topology = Topology(buses: [Bus(id: 0, provider: "ACPI.NFIT", dev: "ndbus0", dimms: [
            DIMM(id: 0, dev: "nmem0", handle: 0x1, flushHints: [0x37fff000]),
            DIMM(id: 1, dev: "nmem1", handle: 0x101, flushHints: [0x37fff040]),
        ], regions: [
            Region(id: 0, dev: "region0", size: 0x200_0000,
                   mappings: [Mapping(dimm: "nmem1", offset: 0, length: 0x100_0000, position: 1),
                              Mapping(dimm: "nmem0", offset: 0, length: 0x100_0000, position: 0)],
                   deepFlush: 1,
                   flushHintPages: [FlushHintPage(page: 0x37fff000, hints: [], sharedWith: ["region1"])]),
        ])], hasFlushHints: true)
        let facts = RegionFacts(region: topology.allRegions[0], topology: topology)
        #expect(facts.dimms.map(\.dev) == ["nmem0", "nmem1"])
        #expect(facts.dimms.map(\.handle) == [0x1, 0x101])
        #expect(facts.dimms.map(\.flushHints) == [[0x37fff000], [0x37fff040]])
        #expect(facts.sharedPages == [0x37fff000: ["region1"]])
        #expect(facts.persistenceDomain == "memory_controller")
        #expect(facts.hintPages == [FlushHintPage(page: 0x37fff000, hints: [.init(dimm: "nmem0", handle: 0x1, offset: 0),
                                                                    .init(dimm: "nmem1", handle: 0x101, offset: 0x40)],
                                                  sharedWith: ["region1"])])

        // Without an NFIT, hints are unknown rather than empty: never "none".
        var noNFIT = topology
        noNFIT.hasFlushHints = false
        let unknown = RegionFacts(region: noNFIT.allRegions[0], topology: noNFIT)
        #expect(unknown.dimms.allSatisfy { $0.flushHints == nil })
    }

    // MARK: issue 13 — a DIMM that dropped out, a handle that is unknown

    /// A 2-way region of which libndctl resolved only nmem0's mapping.
    private func oneOfTwoRead(hints: [UInt64]) -> (Topology, Region) {
        var region = Region(id: 0, dev: "region0", size: 0x200_0000, interleaveWays: 2,
                            mappings: [Mapping(dimm: "nmem0", offset: 0, length: 0x100_0000, position: 0)],
                            deepFlush: 1)
        region.unresolvedMappings = ["nmem1"]
        let topology = Topology(buses: [Bus(id: 0, provider: "ACPI.NFIT", dev: "ndbus0",
                                            dimms: [DIMM(id: 0, dev: "nmem0", handle: 0x1)], regions: [region])])
        let joined = topology.attachingFlushHints([0x1: hints])
        return (joined, joined.allRegions[0])
    }

    @Test func aRegionMissingADIMMIsNeverPassthrough() throws {
        let (topology, region) = oneOfTwoRead(hints: [0x37fff000])
        let facts = RegionFacts(region: region, topology: topology)
        #expect(facts.incomplete?.contains("nmem1") == true)
        #expect(!HostPlanning.needsChecks(facts))
        let plan = try Planner.plan(backend: devdax, region: facts, checks: goodChecks(facts))
        #expect(plan.method == .deepFlush)
        #expect(plan.reason.contains("missing: nmem1"))
    }

    @Test func aRegionMissingADIMMIsNeverNone() throws {
        // The DIMM read has no hints; the one not read may have some.
        let (topology, region) = oneOfTwoRead(hints: [])
        let facts = RegionFacts(region: region, topology: topology)
        let plan = try Planner.plan(backend: devdax, region: facts, checks: [])
        #expect(plan.method == .deepFlush)
        // Without deep_flush, a device-dax backend has no safe method: an error, not "none".
        var noDeepFlush = facts
        noDeepFlush.deepFlush = 0
        #expect(throws: PlanError.self) { try Planner.plan(backend: devdax, region: noDeepFlush, checks: []) }
    }

    @Test func aMappingWhoseDIMMTheBusDoesNotListIsIncomplete() throws {
        let region = Region(id: 0, dev: "region0", size: 0x200_0000,
                            mappings: [Mapping(dimm: "nmem0", offset: 0, length: 0x100_0000, position: 0),
                                       Mapping(dimm: "nmem7", offset: 0, length: 0x100_0000, position: 1)],
                            deepFlush: 1)
        let topology = Topology(buses: [Bus(id: 0, provider: "ACPI.NFIT", dev: "ndbus0",
                                            dimms: [DIMM(id: 0, dev: "nmem0", handle: 0x1)], regions: [region])])
            .attachingFlushHints([0x1: [0x37fff000]])
        let facts = RegionFacts(region: topology.allRegions[0], topology: topology)
        #expect(facts.incomplete?.contains("nmem7") == true)
        #expect(try Planner.plan(backend: devdax, region: facts, checks: goodChecks(facts)).method == .deepFlush)
    }

    @Test func anUnknownHandleIsNeverNone() throws {
        // Both DIMMs without hints would be "none"; one of them without a handle is unknown.
        let facts = RegionFacts(name: "region0", enabled: true, persistenceDomain: "memory_controller", deepFlush: 1, dimms: [
            DIMM(name: "nmem0", handle: 1, hints: []), DIMM(name: "nmem1", handle: nil, hints: nil),
        ])
        let plan = try Planner.plan(backend: devdax, region: facts, checks: [])
        #expect(plan.method == .deepFlush)
        #expect(plan.reason.contains("handles of nmem1 are unknown"))
    }

    @Test func unequalHintCountsPassThroughOnlyThePrefix() throws {
        // 2 and 4 hints: Linux writes the first 2 of each, so only their pages are mapped; the
        // page of nmem1's last two (0x38001000, which /proc/iomem does not claim) is not needed.
        let facts = RegionFacts(name: "region0", enabled: true, persistenceDomain: "memory_controller", deepFlush: 1, dimms: [
            DIMM(name: "nmem0", handle: 1, hints: [0x37fff000, 0x37fff040]),
            DIMM(name: "nmem1", handle: 2, hints: [0x3800_0000, 0x3800_0040, 0x3800_1000, 0x3800_1040]),
        ])
        #expect(facts.hintPages.map(\.page) == [0x37fff000, 0x3800_0000])
        let plan = try Planner.plan(backend: devdax, region: facts, checks: goodChecks(facts), guestBase: 0x1_0000_0000)
        #expect(plan.method == .passthrough)
        #expect(plan.ranges.map(\.page) == [0x37fff000, 0x3800_0000])
        #expect(plan.guest?.dimms.map(\.hints.count) == [2, 2])
        #expect(try FlushSchedule(region: facts).pages == [0x37fff000, 0x3800_0000])
    }
}
