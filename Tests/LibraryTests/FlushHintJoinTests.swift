import Testing
@testable import NVDIMMTopology

@Suite struct FlushHintJoinTests {
    @Test func hintsAttachByHandleAndMissingHandlesGetEmpty() {
        let t = Fixtures.topology().attachingFlushHints([0x1: [0x37fff000, 0x37fff040], 0x9999: [0x1000]])
        #expect(t.hasFlushHints)
        #expect(t.dimm(named: "nmem0")?.flushHints == [0x37fff000, 0x37fff040])
        #expect(t.dimm(named: "nmem1")?.flushHints == [])
        #expect(t.dimm(named: "nmem2")?.flushHints == [])
    }

    @Test func unreadableNFITLeavesHintsUnknown() {
        let joined = Fixtures.topology().attachingFlushHints([0x1: [0x37fff000]])
        let t = joined.attachingFlushHints(nil)
        #expect(!t.hasFlushHints)
        #expect(t.allDIMMs.allSatisfy { $0.flushHints == nil })
        #expect(t.allRegions.allSatisfy { $0.flushHintPages == nil })
    }

    @Test func hintsGroupIntoPagesInMappingOrderWithOffsets() throws {
        // nmem1's hint comes first by address but second by mapping position.
        let t = Fixtures.topology().attachingFlushHints([
            0x1: [0x37fff040, 0x38000008],
            0x101: [0x37fff000, 0x38000010],
        ])
        let pages = try #require(t.region("region0")?.flushHintPages)
        #expect(pages.map(\.page) == [0x37fff000, 0x38000000])
        #expect(pages[0].size == 4096)
        #expect(pages[0].hints == [.init(dimm: "nmem0", handle: 0x1, offset: 0x40), .init(dimm: "nmem1", handle: 0x101, offset: 0)])
        #expect(pages[1].hints == [.init(dimm: "nmem0", handle: 0x1, offset: 8), .init(dimm: "nmem1", handle: 0x101, offset: 0x10)])
        #expect(pages.allSatisfy { $0.sharedWith.isEmpty })
        // A region whose DIMM has no hint has no page, but a known empty list.
        #expect(t.region("region1")?.flushHintPages == [])
        #expect(t.region("region2")?.flushHintPages == [])
    }

    @Test func pagesSharedBetweenRegionsNameTheOthers() throws {
        let t = Fixtures.topology().attachingFlushHints([
            0x1: [0x37fff000],
            0x1001: [0x37fff040, 0x50000000],
        ])
        let p0 = try #require(t.region("region0")?.flushHintPages)
        let p1 = try #require(t.region("region1")?.flushHintPages)
        #expect(p0.count == 1)
        #expect(p0[0].sharedWith == ["region1"])
        #expect(p1.map(\.page) == [0x37fff000, 0x50000000])
        #expect(p1[0].sharedWith == ["region0"])
        #expect(p1[0].hints == [.init(dimm: "nmem2", handle: 0x1001, offset: 0x40)])
        #expect(p1[1].sharedWith == [])
    }

    @Test func aDIMMInTwoRegionsSharesItsPageWithBoth() throws {
        var topo = Fixtures.topology()
        // Put nmem0 in region1 as well.
        topo.buses[0].regions[1].mappings.append(Mapping(dimm: "nmem0", offset: 0x20000000, length: 0x1000000))
        let t = topo.attachingFlushHints([0x1: [0x37fff000]])
        #expect(t.region("region0")?.flushHintPages?.first?.sharedWith == ["region1"])
        #expect(t.region("region1")?.flushHintPages?.first?.sharedWith == ["region0"])
    }
}

@Suite struct NdctlListTests {
    @Test func iteratorNeverPassesNullOn() {
        var calls = 0
        let empty = NdctlList(first: nil, next: { _ in calls += 1; return nil })
        #expect(Array(empty).isEmpty)
        #expect(calls == 0)
    }

    @Test func iteratorStopsAtTheFirstNull() {
        // Fake non-NULL handles; `next` must only ever see them.
        let a = OpaquePointer(bitPattern: 0x1000)!, b = OpaquePointer(bitPattern: 0x2000)!
        var seen: [OpaquePointer] = []
        let list = NdctlList(first: a, next: { p in seen.append(p); return p == a ? b : nil })
        #expect(Array(list) == [a, b])
        #expect(seen == [a, b])
    }

    // Issue 13: pages come only from the hints Linux uses, 2^ilog2(smallest non-zero count).

    @Test func threeHintsPerDIMMPageOnlyTheFirstTwo() throws {
        // Each DIMM's third hint is alone in its own page: the kernel never claims that page.
        let t = Fixtures.topology().attachingFlushHints([
            0x1: [0x37fff000, 0x37fff040, 0x37ffd000],
            0x101: [0x37fff100, 0x37fff140, 0x37ffc000],
        ])
        let pages = try #require(t.region("region0")?.flushHintPages)
        #expect(pages.map(\.page) == [0x37fff000])
        #expect(pages[0].hints.map(\.offset) == [0, 0x40, 0x100, 0x140])
        // The DIMMs still show every hint the NFIT lists.
        #expect(t.dimm(named: "nmem0")?.flushHints?.count == 3)
    }

    @Test func unequalCountsInAnInterleaveUseTheSmallest() throws {
        let t = Fixtures.topology().attachingFlushHints([
            0x1: [0x37fff000, 0x37fff040],
            0x101: [0x37ffe000, 0x37ffe040, 0x37ffd000, 0x37ffd040],
        ])
        let pages = try #require(t.region("region0")?.flushHintPages)
        #expect(pages.map(\.page) == [0x37ffe000, 0x37fff000])
        #expect(pages.flatMap(\.hints).count == 4)
        #expect(FlushHintPage.usableHintCount(t.allDIMMs.filter { $0.dev != "nmem2" }) == 2)
    }

    @Test func aDIMMWithoutAHandleHasUnknownHints() {
        var topo = Fixtures.topology()
        topo.buses[0].dimms[1].handle = nil
        let t = topo.attachingFlushHints([0x1: [0x37fff000], 0x101: [0x37fff040]])
        #expect(t.dimm(named: "nmem0")?.flushHints == [0x37fff000])
        // Unknown, not "none": no plan may say none or passthrough on it.
        #expect(t.dimm(named: "nmem1")?.flushHints == nil)
    }
}
