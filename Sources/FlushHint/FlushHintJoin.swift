import NFIT

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
        return attaching { hintsByHandle[$0] }
    }

    /// ``attachingFlushHints(_:)`` for hints as the NFIT lists them, one entry per device handle
    /// (``NFITFlushHints/readDevices(path:)``): the same result, joined without hashing.
    public func attachingFlushHints(devices: [NFITDeviceHints]) -> Topology {
        attaching { handle in devices.first(where: { $0.handle == handle })?.addresses }
    }

    /// The join: each DIMM's hints by handle from `lookup`, then each region's pages.
    private func attaching(_ lookup: (UInt32) -> [UInt64]?) -> Topology {
        var result = self
        for b in result.buses.indices {
            for d in result.buses[b].dimms.indices {
                let handle = result.buses[b].dimms[d].handle
                result.buses[b].dimms[d].flushHints = handle.flatMap(lookup) ?? []
            }
        }
        // Every region's pages, to find the pages two regions share. Plain arrays searched
        // linearly rather than hashed: a host has a handful of regions and pages, and under an
        // emulator each Dictionary or Set specialisation is more code to translate.
        var pagesPerRegion: [[[FlushHintPage]]] = []
        var owners: [(page: UInt64, id: UInt32, dev: String)] = []
        for bus in result.buses {
            var pagesOfBus: [[FlushHintPage]] = []
            for region in bus.regions {
                let pages = Topology.hintPages(of: region, dimms: bus.dimms)
                for page in pages { owners.append((page.page, region.id, region.dev)) }
                pagesOfBus.append(pages)
            }
            pagesPerRegion.append(pagesOfBus)
        }
        for b in result.buses.indices {
            for r in result.buses[b].regions.indices {
                let dev = result.buses[b].regions[r].dev
                result.buses[b].regions[r].flushHintPages = pagesPerRegion[b][r].map { page in
                    var page = page
                    let others = owners.filter { $0.page == page.page && $0.dev != dev }
                        .sorted { ($0.id, $0.dev) < ($1.id, $1.dev) }
                    var shared: [String] = []
                    for other in others where !shared.contains(other.dev) { shared.append(other.dev) }
                    page.sharedWith = shared
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
        var pages: [FlushHintPage] = []
        var seenDIMMs: [String] = []
        for mapping in region.mappings where !seenDIMMs.contains(mapping.dimm) {
            seenDIMMs.append(mapping.dimm)
            guard let dimm = dimms.first(where: { $0.dev == mapping.dimm }) else { continue }
            for address in dimm.flushHints ?? [] {
                let page = address & ~(FlushHintPage.pageSize - 1)
                let hint = FlushHintPage.Hint(dimm: dimm.dev, offset: address - page)
                if let i = pages.firstIndex(where: { $0.page == page }) {
                    pages[i].hints.append(hint)
                } else {
                    pages.append(FlushHintPage(page: page, hints: [hint]))
                }
            }
        }
        // Page addresses are distinct, so the order of equal keys cannot matter.
        pages.sort { $0.page < $1.page }
        return pages
    }
}
