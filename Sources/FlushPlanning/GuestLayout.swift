import NFIT
import NVDIMMTopology

/// The guest's NVDIMMs for a passthrough plan: one guest DIMM per host DIMM of the region,
/// in the same interleave positions, each with a flush hint structure pointing at the guest
/// address of its own host DIMM's hint.
///
/// Why mirror: a Linux guest writes one hint per DIMM it sees. If the guest saw fewer DIMMs
/// than the host region has (one DIMM with one hint, say), a guest flush would push only
/// one host DIMM's write queue and the writes queued for the others could be lost.
public struct GuestLayout: Sendable, Equatable {
    /// Where the guest sees the first hint page.
    public var base: UInt64
    /// The guest DIMMs, in interleave position order.
    public var dimms: [GuestDIMM]

    /// The guest's NFIT described as `flushctl nfit build` reads it: one pmem region at
    /// `regionBase` of `regionSize` bytes, interleaved over the guest DIMMs in order, each
    /// with its flush hints, and with `platformCapabilities` (the host's) a platform
    /// capabilities structure, so the guest's persistence domain is the host's. Checked by
    /// building the table, so a size the DIMMs do not divide is an error naming the field.
    public func nfitLayout(regionBase: UInt64, regionSize: UInt64,
                           platformCapabilities: [NFITLayout.PlatformCapability]? = nil) throws(NFITLayoutError) -> NFITLayout {
        let layout = NFITLayout(regions: [NFITLayout.Region(
            base: regionBase, size: regionSize,
            dimms: dimms.map { NFITLayout.DIMM(handle: $0.handle, hints: $0.hints) })],
            platformCapabilities: platformCapabilities)
        _ = try layout.makeTable()
        return layout
    }

    /// The layout mirroring `region`, whose hint `pages` are mapped one after another from
    /// guest address `base`. A hint whose page is not among them is left out, which
    /// ``Planner`` never lets happen (every hint's page is mapped).
    static func mirroring(region: RegionFacts, pages: [FlushHintPage], base: UInt64) -> GuestLayout {
        // The guest gets the hints the host's kernel uses, so both rotate over the same ones.
        let usable = FlushHintPage.usableHintCount(region.dimms)
        var dimms: [GuestDIMM] = []
        for (position, dimm) in region.dimms.enumerated() {
            let hints = (dimm.flushHints ?? []).prefix(usable).compactMap { hint -> UInt64? in
                let page = FlushHintPage.page(of: hint)
                return pages.firstIndex { $0.page == page }.map { base + UInt64($0) * FlushHintPage.pageSize + (hint - page) }
            }
            dimms.append(GuestDIMM(position: position, handle: dimm.handle ?? 0, hostDIMM: dimm.dev, hints: hints))
        }
        return GuestLayout(base: base, dimms: dimms)
    }

    /// The guest address where the `index`th mapped page (``Plan/ranges``) appears.
    public func guestAddress(ofPage index: Int) -> UInt64 { base + UInt64(index) * FlushHintPage.pageSize }
}

/// One guest DIMM of a passthrough plan.
public struct GuestDIMM: Sendable, Equatable {
    /// Its position in the guest's interleave set (the host DIMM's position).
    public var position: Int
    /// Its NFIT device handle in the guest: the host DIMM's handle, so the guest's topology
    /// reads like the host's. A VMM that numbers its DIMMs differently keeps the order and
    /// the hints and changes only this.
    public var handle: UInt32
    /// The host DIMM it mirrors (`nmemN`).
    public var hostDIMM: String
    /// The guest physical addresses of the host DIMM's hints that Linux uses.
    public var hints: [UInt64]

    /// The guest's NFIT flush hint address structure (type 6) for this DIMM.
    public var structure: NFITFlushHintAddress {
        NFITFlushHintAddress(deviceHandle: NFITDeviceHandle(rawValue: handle), hintAddresses: hints)
    }

    /// The structure's bytes as the NFIT encoder writes them (16 bytes + 8 per hint).
    public func encodedStructure() throws(NFITEncodeError) -> [UInt8] {
        // The encoder writes whole tables; the structure follows the 36-byte header and the
        // 4 reserved bytes.
        let table = NFITTable(subtables: [.flushHintAddress(structure)])
        return Array(try table.encode().dropFirst(ACPITableHeader.size + 4))
    }
}
