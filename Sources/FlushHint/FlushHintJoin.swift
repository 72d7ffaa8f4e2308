extension Topology {
    /// The topology with each DIMM's Flush Hint Addresses attached (joined by NFIT device
    /// handle) and each region's hints grouped into 4 KiB pages.
    ///
    /// - Parameter hintsByHandle: hint addresses per raw NFIT device handle, as the NFIT's
    ///   Flush Hint Address structures list them; `nil` when the NFIT could not be read, which
    ///   leaves ``DIMM/flushHints`` and ``Region/flushHintPages`` `nil` ("unknown"), as
    ///   opposed to `[]` ("the NFIT has none").
    public func attachingFlushHints(_ hintsByHandle: [UInt32: [UInt64]]?) -> Topology {
        var result = self
        guard let hintsByHandle else {
            for b in result.buses.indices {
                for d in result.buses[b].dimms.indices { result.buses[b].dimms[d].flushHints = nil }
                for r in result.buses[b].regions.indices { result.buses[b].regions[r].flushHintPages = nil }
            }
            result.hasFlushHints = false
            return result
        }
        for b in result.buses.indices {
            for d in result.buses[b].dimms.indices {
                let handle = result.buses[b].dimms[d].handle
                result.buses[b].dimms[d].flushHints = handle.flatMap { hintsByHandle[$0] } ?? []
            }
        }
        // Every region's hints by page, to find the pages two regions share.
        var regionsByPage: [UInt64: [(id: UInt32, dev: String)]] = [:]
        var pagesPerRegion: [[[FlushHintPage]]] = []
        for bus in result.buses {
            var pagesOfBus: [[FlushHintPage]] = []
            for region in bus.regions {
                let pages = Topology.hintPages(of: region, dimms: bus.dimms)
                for page in pages { regionsByPage[page.page, default: []].append((region.id, region.dev)) }
                pagesOfBus.append(pages)
            }
            pagesPerRegion.append(pagesOfBus)
        }
        for b in result.buses.indices {
            for r in result.buses[b].regions.indices {
                let dev = result.buses[b].regions[r].dev
                result.buses[b].regions[r].flushHintPages = pagesPerRegion[b][r].map { page in
                    var page = page
                    let others = (regionsByPage[page.page] ?? []).filter { $0.dev != dev }
                        .sorted { ($0.id, $0.dev) < ($1.id, $1.dev) }
                    var seen = Set<String>()
                    page.sharedWith = others.compactMap { seen.insert($0.dev).inserted ? $0.dev : nil }
                    return page
                }
            }
        }
        result.hasFlushHints = true
        return result
    }

    /// The pages holding the hints of `region`'s DIMMs (looked up by name in `dimms`), ascending
    /// by address; hints within a page in mapping order, then the DIMM's NFIT order.
    /// ``FlushHintPage/sharedWith`` is left empty.
    static func hintPages(of region: Region, dimms: [DIMM]) -> [FlushHintPage] {
        var hintsByPage: [UInt64: [FlushHintPage.Hint]] = [:]
        var seenDIMMs = Set<String>()
        for mapping in region.mappings where seenDIMMs.insert(mapping.dimm).inserted {
            guard let dimm = dimms.first(where: { $0.dev == mapping.dimm }) else { continue }
            for address in dimm.flushHints ?? [] {
                let page = address & ~(FlushHintPage.pageSize - 1)
                hintsByPage[page, default: []].append(.init(dimm: dimm.dev, offset: address - page))
            }
        }
        return hintsByPage.keys.sorted().map { FlushHintPage(page: $0, hints: hintsByPage[$0] ?? []) }
    }
}
