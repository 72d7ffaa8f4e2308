/// A fixed-width ASCII identifier of an ACPI table header: the signature (4 bytes),
/// the OEM ID (6), the OEM table ID (8) or the creator ID (4).
///
/// The bytes are kept exactly as the table holds them, so a table decodes and
/// encodes back byte for byte even when firmware put non-ASCII bytes there.
public struct ACPIIdentifier: Sendable, Hashable, CustomStringConvertible {
    /// The raw bytes, always exactly the field's width.
    public let bytes: [UInt8]

    /// An identifier of `width` bytes: `bytes` cut to `width`, or padded with `pad`
    /// (ACPI pads OEM IDs with spaces; iasl writes `"INTEL "`).
    public init(bytes: [UInt8], width: Int, pad: UInt8 = 0x20) {
        var b = Array(bytes.prefix(width))
        while b.count < width { b.append(pad) }
        self.bytes = b
    }

    /// An identifier of `width` bytes from the UTF-8 of `string`, cut or padded with spaces.
    public init(_ string: String, width: Int) {
        self.init(bytes: Array(string.utf8), width: width)
    }

    /// The bytes as text: printable ASCII as is, anything else as `\xNN`.
    public var description: String {
        var out = ""
        for b in bytes {
            if b >= 0x20 && b < 0x7f && b != UInt8(ascii: "\\") {
                out.unicodeScalars.append(Unicode.Scalar(b))
            } else {
                out += "\\x" + (b < 16 ? "0" : "") + String(b, radix: 16)
            }
        }
        return out
    }
}

/// A GUID as ACPI stores it: 16 bytes, the first three fields little-endian
/// (the EFI/Microsoft "mixed-endian" layout iasl and the kernel use).
public struct NFITGUID: Sendable, Hashable, CustomStringConvertible {
    /// The 16 bytes in table order.
    public let bytes: [UInt8]

    /// A GUID from its 16 bytes in table order; fewer bytes are zero-padded, more are cut.
    public init(bytes: [UInt8]) {
        var b = Array(bytes.prefix(16))
        while b.count < 16 { b.append(0) }
        self.bytes = b
    }

    /// Parses the canonical text form `66F0D379-B4F3-4074-AC43-0D3318B78CDB`
    /// (case-insensitive); `nil` if it is not one.
    public init?(_ text: String) {
        let groups = text.split(separator: "-", omittingEmptySubsequences: false)
        guard groups.count == 5, groups.map({ $0.count }) == [8, 4, 4, 4, 12] else { return nil }
        var big: [UInt8] = []
        for g in groups {
            var chars = Array(g.utf8)[...]
            while !chars.isEmpty {
                guard let hi = NFITGUID.nibble(chars.removeFirst()),
                      let lo = NFITGUID.nibble(chars.removeFirst()) else { return nil }
                big.append(hi << 4 | lo)
            }
        }
        // Text is big-endian per field; the table holds the first three fields little-endian.
        let stored = [big[3], big[2], big[1], big[0], big[5], big[4], big[7], big[6]] + big[8...]
        self.bytes = Array(stored)
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }

    /// The canonical text form in upper case, as iasl prints it.
    public var description: String {
        let b = bytes
        let order = [3, 2, 1, 0, -1, 5, 4, -1, 7, 6, -1, 8, 9, -1, 10, 11, 12, 13, 14, 15]
        var out = ""
        for i in order {
            if i < 0 { out += "-"; continue }
            let s = String(b[i], radix: 16, uppercase: true)
            out += s.count == 1 ? "0" + s : s
        }
        return out
    }
}

/// The kind of address range a System Physical Address (SPA) Range structure describes,
/// named by its Address Range Type GUID (ACPI 6.x, NFIT SPA Range structure).
public enum NFITSPARangeType: Sendable, Hashable, CustomStringConvertible {
    /// Volatile memory, `7305944F-FDDA-44E3-B16C-3F22D252E5D0`.
    case volatileMemory
    /// Byte-addressable persistent memory, `66F0D379-B4F3-4074-AC43-0D3318B78CDB`.
    case persistentMemory
    /// NVDIMM control region (block mode), `92F701F6-13B4-405D-910B-299367E8234C`.
    case controlRegion
    /// NVDIMM block data window region, `91AF0530-5D86-470E-A6B0-0A2DB9408249`.
    case blockDataWindow
    /// RAM disk, volatile virtual disk region, `77AB535A-45FC-624B-5560-F7B281D1F96E`.
    case volatileVirtualDisk
    /// RAM disk, volatile virtual CD region, `3D5ABD30-4175-87CE-6D64-D2ADE523C4BB`.
    case volatileVirtualCD
    /// RAM disk, persistent virtual disk region, `5CEA02C9-4D07-69D3-269F-4496FBE096F9`.
    case persistentVirtualDisk
    /// RAM disk, persistent virtual CD region, `08018188-42CD-BB48-100F-5387D53DED3D`.
    case persistentVirtualCD
    /// A GUID this code does not know, kept as it was.
    case unknown(NFITGUID)

    private static let known: [(NFITSPARangeType, String)] = [
        (.volatileMemory, "7305944F-FDDA-44E3-B16C-3F22D252E5D0"),
        (.persistentMemory, "66F0D379-B4F3-4074-AC43-0D3318B78CDB"),
        (.controlRegion, "92F701F6-13B4-405D-910B-299367E8234C"),
        (.blockDataWindow, "91AF0530-5D86-470E-A6B0-0A2DB9408249"),
        (.volatileVirtualDisk, "77AB535A-45FC-624B-5560-F7B281D1F96E"),
        (.volatileVirtualCD, "3D5ABD30-4175-87CE-6D64-D2ADE523C4BB"),
        (.persistentVirtualDisk, "5CEA02C9-4D07-69D3-269F-4496FBE096F9"),
        (.persistentVirtualCD, "08018188-42CD-BB48-100F-5387D53DED3D"),
    ]

    /// The type a GUID names; ``unknown(_:)`` for a GUID not in the list above.
    public init(guid: NFITGUID) {
        for (type, text) in NFITSPARangeType.known where NFITGUID(text) == guid {
            self = type
            return
        }
        self = .unknown(guid)
    }

    /// The GUID written in the table for this type.
    public var guid: NFITGUID {
        if case .unknown(let g) = self { return g }
        for (type, text) in NFITSPARangeType.known where type == self {
            if let g = NFITGUID(text) { return g }
        }
        return NFITGUID(bytes: [])  // unreachable: every known case is in the list
    }

    /// A short name: `pmem`, `volatile`, `control-region`, `block-data-window`,
    /// `volatile-virtual-disk`, `volatile-virtual-cd`, `persistent-virtual-disk`,
    /// `persistent-virtual-cd`, or `unknown`.
    public var name: String {
        switch self {
        case .volatileMemory: return "volatile"
        case .persistentMemory: return "pmem"
        case .controlRegion: return "control-region"
        case .blockDataWindow: return "block-data-window"
        case .volatileVirtualDisk: return "volatile-virtual-disk"
        case .volatileVirtualCD: return "volatile-virtual-cd"
        case .persistentVirtualDisk: return "persistent-virtual-disk"
        case .persistentVirtualCD: return "persistent-virtual-cd"
        case .unknown: return "unknown"
        }
    }

    /// The short name, and the GUID for an unknown type.
    public var description: String {
        if case .unknown(let g) = self { return "unknown (\(g))" }
        return name
    }
}

/// An NFIT device handle: the `_ADR` of an NVDIMM's ACPI device, and how every NFIT
/// structure names a DIMM (libndctl's `ndctl_dimm_get_handle()` returns the same value).
///
/// Bit layout (ACPI 6.x, "NFIT Device Handle"; ACPICA `ACPI_NFIT_*_MASK`):
/// bits 3:0 DIMM number within the memory channel, 7:4 memory channel number,
/// 11:8 memory controller ID, 15:12 socket ID, 27:16 node controller ID, 31:28 reserved.
public struct NFITDeviceHandle: RawRepresentable, Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The 32-bit handle as the table holds it.
    public var rawValue: UInt32

    /// A handle from its raw value.
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// A handle from its parts; each part is cut to its field's width.
    public init(dimm: UInt32, channel: UInt32, controller: UInt32, socket: UInt32, node: UInt32) {
        rawValue = (dimm & 0xF) | (channel & 0xF) << 4 | (controller & 0xF) << 8
            | (socket & 0xF) << 12 | (node & 0xFFF) << 16
    }

    /// Bits 3:0: the DIMM number within its memory channel.
    public var dimmNumber: UInt32 { rawValue & 0xF }
    /// Bits 7:4: the memory channel number.
    public var memoryChannel: UInt32 { rawValue >> 4 & 0xF }
    /// Bits 11:8: the memory controller ID.
    public var memoryController: UInt32 { rawValue >> 8 & 0xF }
    /// Bits 15:12: the socket ID (within the node controller, if there is one).
    public var socket: UInt32 { rawValue >> 12 & 0xF }
    /// Bits 27:16: the node controller ID.
    public var nodeController: UInt32 { rawValue >> 16 & 0xFFF }
    /// Bits 31:28, reserved by ACPI.
    public var reservedBits: UInt32 { rawValue >> 28 }

    /// Orders handles by raw value, as the kernel sorts DIMMs.
    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }

    /// `0x…` hex, as ndctl prints handles.
    public var description: String { hex(rawValue) }
}
