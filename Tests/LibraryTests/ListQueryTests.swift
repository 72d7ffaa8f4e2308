import Testing
@testable import NVDIMMTopology

@Suite struct ListOptionsTests {
    @Test func noFlagsListsNamespaces() {
        let o = ListOptions().resolved()
        #expect(o.namespaces && !o.buses && !o.dimms && !o.regions)
    }

    @Test func aFilterAloneTurnsOnItsObjectType() {
        var o = ListOptions(); o.region = "0"; o.dimm = "nmem1"
        let r = o.resolved()
        #expect(r.regions && r.dimms && !r.buses && !r.namespaces)
        var b = ListOptions(); b.bus = "all"; b.buses = false
        #expect(b.resolved().buses)
    }

    @Test func filtersDoNotAddTypesWhenTypesAreGiven() {
        var o = ListOptions(); o.regions = true; o.bus = "ndbus0"
        let r = o.resolved()
        #expect(r.regions && !r.buses)
    }

    @Test func verboseLevels() {
        var o = ListOptions(); o.verbose = 1
        #expect(o.resolved().namespaces && o.resolved().deviceDax && !o.resolved().regions)
        o.verbose = 2
        let two = o.resolved()
        #expect(two.buses && two.dimms && two.regions && two.namespaces && !two.idle)
        o.verbose = 3
        #expect(o.resolved().idle)
    }

    @Test func deviceDaxAloneFiltersDevdax() {
        var o = ListOptions(); o.deviceDax = true
        #expect(o.resolved().mode == .devdax)
        o.namespaces = true
        #expect(o.resolved().mode == nil)
    }
}

@Suite struct NdctlFilterTests {
    @Test func namesNumbersAndAll() {
        #expect(NdctlFilter.matches(nil, name: "region3", id: 3))
        #expect(NdctlFilter.matches("all", name: "region3", id: 3))
        #expect(NdctlFilter.matches("region3", name: "region3", id: 3))
        #expect(NdctlFilter.matches("3", name: "region3", id: 3))
        #expect(NdctlFilter.matches("0x3", name: "region3", id: 3))
        #expect(!NdctlFilter.matches("4", name: "region3", id: 3))
        #expect(!NdctlFilter.matches("region33", name: "region3", id: 3))
        #expect(NdctlFilter.matches("region1 region3", name: "region3", id: 3))
        #expect(NdctlFilter.matches("ACPI.NFIT", name: "ndbus0", alias: "ACPI.NFIT", id: 0))
    }

    @Test func numbersAreParsedFromTheWholeIdentAsNdctlDoes() {
        // ndctl runs strtoul over the whole string: "1 3" is no number, so words compare as names.
        #expect(!NdctlFilter.matches("1 3", name: "region3", id: 3))
        #expect(NdctlFilter.wholeNumber("010") == 8)
        #expect(NdctlFilter.wholeNumber("12abc") == nil)
        #expect(NdctlFilter.wholeNumber("") == nil)
    }

    @Test func namespaceIdents() {
        let ns = Namespace(id: 2, dev: "namespace1.2", mode: .fsdax, size: 1)
        #expect(NdctlFilter.matchesNamespace("namespace1.2", ns, regionID: 1))
        #expect(NdctlFilter.matchesNamespace("1.2", ns, regionID: 1))
        #expect(!NdctlFilter.matchesNamespace("2.1", ns, regionID: 1))
        #expect(!NdctlFilter.matchesNamespace("1", ns, regionID: 1))
        #expect(NdctlFilter.matchesNamespace("0.0 1.2", ns, regionID: 1))
    }

    @Test func modeNames() {
        #expect(NdctlFilter.namespaceMode("memory") == .fsdax)
        #expect(NdctlFilter.namespaceMode("DAX") == .devdax)
        #expect(NdctlFilter.namespaceMode("safe") == .sector)
        #expect(NdctlFilter.namespaceMode("pmem") == nil)
    }
}

@Suite struct ListingTests {
    let topo = Fixtures.topology()

    @Test func defaultListsActiveNamespacesAcrossBuses() throws {
        let l = topo.listing(ListOptions())
        #expect(l.buses == nil && l.regions == nil && l.dimms == nil)
        #expect(l.namespaces?.map(\.dev) == ["namespace0.0", "namespace2.0"])
    }

    @Test func idleAddsSeedsDisabledRegionsAndDIMMs() throws {
        var o = ListOptions(); o.idle = true
        #expect(topo.listing(o).namespaces?.map(\.dev) == ["namespace0.0", "namespace0.1", "namespace1.0", "namespace2.0"])
        o.regions = true; o.dimms = true
        let l = topo.listing(o)
        #expect(l.regions?.map(\.region.dev) == ["region0", "region1", "region2"])
        #expect(l.dimms?.map(\.dev) == ["nmem0", "nmem1", "nmem2"])
        #expect(l.regions?[1].mappings?.map(\.dimm) == ["nmem2"])
    }

    @Test func allFlagsNestUnderBusesAndHideDisabled() throws {
        var o = ListOptions(); o.buses = true; o.dimms = true; o.regions = true; o.namespaces = true
        let l = topo.listing(o)
        let buses = try #require(l.buses)
        #expect(buses.map(\.bus.dev) == ["ndbus0", "ndbus1"])
        #expect(buses[0].dimms?.map(\.dev) == ["nmem0", "nmem1"])
        #expect(buses[0].regions?.map(\.region.dev) == ["region0"])
        #expect(buses[0].regions?[0].mappings?.map(\.dimm) == ["nmem0", "nmem1"])
        #expect(buses[0].regions?[0].namespaces?.map(\.dev) == ["namespace0.0"])
        #expect(buses[1].dimms == nil)
        #expect(buses[1].regions?[0].mappings == nil)
        #expect(buses[0].namespaces == nil)
    }

    @Test func mappingsOnlyWithDIMMs() throws {
        var o = ListOptions(); o.regions = true
        let l = topo.listing(o)
        #expect(l.regions?[0].mappings == nil)
        #expect(l.namespaces == nil)
    }

    @Test func busesWithoutRegionsCarryTheirNamespaces() throws {
        var o = ListOptions(); o.buses = true; o.namespaces = true
        let l = topo.listing(o)
        #expect(l.buses?[0].namespaces?.map(\.dev) == ["namespace0.0"])
        #expect(l.buses?[0].regions == nil)
    }

    @Test func dimmFilterSelectsItsBusRegionAndMappings() throws {
        var o = ListOptions(); o.dimm = "nmem1"; o.regions = true; o.dimms = true
        let l = topo.listing(o)
        #expect(l.dimms?.map(\.dev) == ["nmem1"])
        #expect(l.regions?.map(\.region.dev) == ["region0"])
        #expect(l.regions?[0].mappings?.map(\.dimm) == ["nmem1"])
    }

    @Test func regionFilterByNumberSelectsItsDIMMsOnly() throws {
        var o = ListOptions(); o.region = "2"; o.dimms = true; o.regions = true; o.namespaces = true
        let l = topo.listing(o)
        #expect(l.regions?.map(\.region.dev) == ["region2"])
        #expect(l.dimms == nil)
        #expect(l.regions?[0].namespaces?.map(\.dev) == ["namespace2.0"])
    }

    @Test func namespaceAndModeFilters() throws {
        var o = ListOptions(); o.namespace = "0.0"
        #expect(topo.listing(o).namespaces?.map(\.dev) == ["namespace0.0"])
        var m = ListOptions(); m.mode = .raw
        #expect(topo.listing(m).namespaces?.map(\.dev) == ["namespace2.0"])
        var x = ListOptions(); x.mode = .devdax
        #expect(topo.listing(x).isEmpty)
    }

    @Test func busFilterByProviderAndNoMatchIsEmpty() throws {
        var o = ListOptions(); o.bus = "e820"
        let l = topo.listing(o)
        #expect(l.buses?.map(\.bus.dev) == ["ndbus1"])
        var none = ListOptions(); none.bus = "ndbus7"
        #expect(topo.listing(none).isEmpty)
        var noRegion = ListOptions(); noRegion.region = "region9"; noRegion.namespaces = true
        #expect(topo.listing(noRegion).isEmpty)
    }

    @Test func emptyHostListsNothing() throws {
        #expect(Topology(buses: []).listing(ListOptions()).isEmpty)
        var all = ListOptions(); all.verbose = 3
        #expect(Topology(buses: []).listing(all).isEmpty)
    }
}
