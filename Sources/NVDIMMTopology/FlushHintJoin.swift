import NFIT

extension Topology {
    /// The topology with each DIMM's Flush Hint Addresses attached (joined by NFIT device
    /// handle) and each region's hints grouped into 4 KiB pages.
    ///
    /// - Parameter devices: the hints per NFIT device handle, as the NFIT's Flush Hint Address
    ///   structures list them (``NFITFlushHints/read(path:)``); `nil` when the NFIT could not be
    ///   read, which leaves ``DIMM/flushHints`` and ``Region/flushHintPages`` `nil` ("unknown"),
    ///   as opposed to `[]` ("the NFIT has none").
    public func attachingFlushHints(_ devices: [NFITDeviceHints]?) -> Topology {
        guard let devices else {
            var result = self
            for b in result.buses.indices {
                for d in result.buses[b].dimms.indices { result.buses[b].dimms[d].flushHints = nil }
                for r in result.buses[b].regions.indices { result.buses[b].regions[r].flushHintPages = nil }
            }
            result.hasFlushHints = false
            return result
        }
        return attaching { handle in devices.first(where: { $0.handle == handle })?.addresses }
    }

    /// The join: each DIMM's hints by handle from `lookup`, then each region's pages.
    private func attaching(_ lookup: (UInt32) -> [UInt64]?) -> Topology {
        var result = self
        for b in result.buses.indices {
            for d in result.buses[b].dimms.indices {
                let handle = result.buses[b].dimms[d].handle
                // No handle, no join: the DIMM's hints are unknown, not "none".
                result.buses[b].dimms[d].flushHints = handle.map { lookup($0) ?? [] }
            }
        }
        // Every region's pages, to find the pages two regions share (a host has a handful).
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

    /// The pages holding the hints of `region`'s DIMMs (looked up by name in `dimms`), in
    /// mapping order. ``FlushHintPage/sharedWith`` is left empty.
    static func hintPages(of region: Region, dimms: [DIMM]) -> [FlushHintPage] {
        FlushHintPage.pages(of: region.mappings.compactMap { m in dimms.first { $0.dev == m.dimm } })
    }
}
