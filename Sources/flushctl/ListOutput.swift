import Glibc
import NVDIMMTopology

// What `flushctl list` (ListCommand.list) does between reading the topology and printing.

extension ListOptions {
    /// Whether listing with these (resolved) options on `topology` reads the NFIT: only when
    /// DIMMs or regions are printed, and only when there is a bus.
    func needsFlushHints(on topology: Topology) -> Bool {
        !topology.buses.isEmpty && (dimms || regions)
    }
}

/// What `flushctl list` prints for `listing`: JSON with `--json` or when stdout is not a
/// terminal, a table otherwise; nothing for an empty listing, as `ndctl list`.
func listingText(_ listing: Listing, hasFlushHints: Bool, json: Bool) -> String {
    if listing.isEmpty { return "" }
    if json || isatty(1) == 0 { return listingToJSON(listing).prettyPrinted() + "\n" }
    return listingToTable(listing, hasFlushHints: hasFlushHints)
}
