import NVDIMMTopology

// The readable form of `flushctl list` for a terminal: one table per listed object type,
// human sizes, hex addresses. Scripts get JSON (stdout not a terminal, or --json).

/// The tables for `listing`, each followed by a blank line; "" when nothing is listed.
func listingToTable(_ listing: Listing, hasFlushHints: Bool) -> String {
    var buses: [Bus] = []
    var dimms: [(bus: String?, dimm: DIMM)] = []
    var regions: [(bus: String?, entry: Listing.RegionEntry)] = []
    var namespaces: [(region: String?, ns: Namespace)] = []
    for b in listing.buses ?? [] {
        buses.append(b.bus)
        dimms += (b.dimms ?? []).map { (b.bus.dev, $0) }
        regions += (b.regions ?? []).map { (b.bus.dev, $0) }
        namespaces += (b.namespaces ?? []).map { (nil, $0) }
    }
    dimms += (listing.dimms ?? []).map { (nil, $0) }
    regions += (listing.regions ?? []).map { (nil, $0) }
    namespaces += (listing.namespaces ?? []).map { (nil, $0) }
    for r in regions { namespaces += (r.entry.namespaces ?? []).map { (r.entry.region.dev, $0) } }

    var out = ""
    if !buses.isEmpty {
        out += table(["BUS", "PROVIDER", "SCRUB"], buses.map { b in
            [b.dev, b.provider, b.scrubActive.map { $0 ? "active" : "idle" } ?? "-"]
        })
    }
    if !dimms.isEmpty {
        out += table(["DIMM", "BUS", "HANDLE", "PHYS_ID", "STATE", "FLUSH_HINTS"], dimms.map { d in
            let hints: String
            if let h = d.dimm.flushHints { hints = h.isEmpty ? "none" : h.map { hex($0) }.joined(separator: " ") }
            else { hints = "unknown (needs root)" }
            return [d.dimm.dev, d.bus ?? "-", d.dimm.handle.map { hex(UInt64($0)) } ?? "-",
                    d.dimm.physID.map { hex(UInt64($0)) } ?? "-", d.dimm.enabled ? "enabled" : "disabled", hints]
        })
    }
    if !regions.isEmpty {
        out += table(["REGION", "TYPE", "SIZE", "AVAILABLE", "RESOURCE", "PERSISTENCE", "DEEP_FLUSH", "DIMMS", "HINT_PAGES"],
                     regions.map { item in
            let r = item.entry.region
            let pages: String
            if let p = r.flushHintPages {
                pages = p.isEmpty ? "none" : p.map { page in
                    hex(page.page) + (page.sharedWith.isEmpty ? "" : " (shared with \(page.sharedWith.joined(separator: ",")))")
                }.joined(separator: " ")
            } else { pages = "unknown (needs root)" }
            return [r.dev, r.type?.rawValue ?? "unknown", size(r.size), size(r.availableSize),
                    r.resource.map { hex($0) } ?? "-", r.persistenceDomain.rawValue,
                    r.deepFlush.map(String.init) ?? "-",
                    r.mappings.map { $0.dimm }.joined(separator: ","), pages]
        })
    }
    if !namespaces.isEmpty {
        out += table(["NAMESPACE", "REGION", "MODE", "SIZE", "DEVICE", "STATE"], namespaces.map { item in
            let ns = item.ns
            return [ns.dev, item.region ?? "-", ns.mode?.rawValue ?? "unknown", ns.size.map(size) ?? "-",
                    ns.blockdev ?? ns.chardev ?? "-", ns.enabled ? "enabled" : "disabled"]
        })
    }
    return out
}

private func hex(_ v: UInt64) -> String { "0x" + String(v, radix: 16) }

private func size(_ bytes: UInt64) -> String {
    NdctlFormat.humanSize(bytes).map { String($0.prefix { $0 != "(" }.dropLast()) } ?? "\(bytes)"
}

/// Left-aligned columns separated by two spaces, header first, then a blank line.
private func table(_ header: [String], _ rows: [[String]]) -> String {
    var widths = header.map { $0.count }
    for row in rows { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) } }
    func line(_ cells: [String]) -> String {
        var s = ""
        for (i, cell) in cells.enumerated() {
            s += cell
            if i < cells.count - 1 { s += String(repeating: " ", count: widths[i] - cell.count + 2) }
        }
        return s + "\n"
    }
    return line(header) + rows.map(line).joined() + "\n"
}
