/// Where in a table a problem is: the table header, or a subtable by index and byte offset,
/// and the field concerned.
public struct NFITLocation: Sendable, Equatable, CustomStringConvertible {
    /// Index of the subtable in table order, counting from 0; `nil` for the table header.
    public var subtableIndex: Int?
    /// The subtable's structure type; `nil` for the table header.
    public var subtableType: UInt16?
    /// Byte offset from the start of the table: of the subtable, or of the header field.
    public var offset: Int
    /// The field, named as `flushctl nfit --json` names it (e.g. `hint_count`); `nil` if none.
    public var field: String?

    /// A location in the table header.
    public static func header(offset: Int, field: String?) -> NFITLocation {
        NFITLocation(subtableIndex: nil, subtableType: nil, offset: offset, field: field)
    }

    /// A location in subtable `index` of type `type` at byte `offset`.
    public static func subtable(_ index: Int, type: UInt16, offset: Int, field: String?) -> NFITLocation {
        NFITLocation(subtableIndex: index, subtableType: type, offset: offset, field: field)
    }

    /// E.g. `subtable 3 (flush hint address) at byte 0x98` or `table header at byte 0x4`.
    public var description: String {
        if let index = subtableIndex, let type = subtableType {
            return "subtable \(index) (\(NFITSubtable.name(ofType: type))) at byte \(hex(offset))"
        }
        return "table header at byte \(hex(offset))"
    }

    fileprivate func text(_ detail: String) -> String {
        if let field { return "\(self): field \"\(field)\" \(detail)" }
        return "\(self): \(detail)"
    }
}

/// A problem found in a table: what kind of problem, where, and what. Errors
/// (``NFITDecodeError``, decoding stops) and warnings (``NFITDecodeWarning``, decoding goes on)
/// are this one shape with their own kinds, so neither can be taken for the other.
public struct NFITDiagnostic<Kind: Sendable & Equatable>: Sendable, Equatable, CustomStringConvertible {
    /// What kind of problem.
    public var kind: Kind
    /// Where.
    public var location: NFITLocation
    /// What, after the location: e.g. `= 9 needs 112 bytes but the structure length is 48`.
    public var detail: String

    /// A problem of `kind` at `location`.
    public init(_ kind: Kind, _ location: NFITLocation, _ detail: String) {
        self.kind = kind; self.location = location; self.detail = detail
    }

    /// One line: location, field and problem, e.g.
    /// `subtable 3 (flush hint address) at byte 0x98: field "hint_count" = 9 needs 112 bytes but the structure length is 48`.
    public var description: String { location.text(detail) }
}

/// A problem that stops decoding: the bytes cannot be read as an NFIT with certainty.
public typealias NFITDecodeError = NFITDiagnostic<NFITDecodeErrorKind>

extension NFITDiagnostic: Error where Kind == NFITDecodeErrorKind {}

/// What kind of problem stops decoding (``NFITDecodeError``'s `Kind`).
public enum NFITDecodeErrorKind: Sendable, Equatable {
    /// The signature is not `NFIT`.
    case notAnNFIT
    /// Fewer bytes than the header or the header's length field say.
    case truncated
    /// The header's length field is smaller than an NFIT header.
    case badHeaderLength
    /// A subtable whose length field is 0 (parsing cannot go on; the kernel stops here too).
    case zeroLength
    /// A subtable shorter than its type's minimum (the kernel rejects the whole table).
    case shorterThanMinimum
    /// A subtable that runs past the end of the table (or whose header does).
    case pastEndOfTable
    /// A count field (hints, lines, windows) whose entries do not fit in the structure.
    case countDoesNotFit
}

/// A problem that does not stop decoding: the values are decoded exactly as the table
/// holds them, but a consumer should know (and may refuse to rely on them).
public typealias NFITDecodeWarning = NFITDiagnostic<NFITDecodeWarningKind>

/// What kind of problem a warning is (``NFITDecodeWarning``'s `Kind`).
public enum NFITDecodeWarningKind: Sendable, Equatable {
    /// The bytes of the table do not sum to 0 mod 256.
    case badChecksum
    /// More bytes were read than the header's length field says; the extra bytes are ignored.
    case bytesAfterTable
    /// A structure longer than the fields its type defines; the extra bytes are kept, not interpreted.
    case extraBytesInSubtable
    /// Two SPA range structures with the same range index: which one a memory device map means is ambiguous.
    case duplicateSPARangeIndex
    /// A memory device map names a SPA range index no SPA range structure has.
    case missingSPARange
    /// A memory device map names a control region index no control region structure has
    /// (the Linux kernel refuses such a table: "SPA %d missing DCR %d").
    case missingControlRegion
    /// A flush hint address not 8-byte aligned: the kernel writes 8 bytes there.
    case unalignedHintAddress
    /// A second flush hint structure for a device handle; the kernel uses only the first.
    case duplicateFlushHintStructure
    /// A subtable type this code does not know; kept as raw bytes.
    case unknownSubtableType
    /// The SPA range's "location cookie valid" flag is set but the structure has no cookie field.
    case locationCookieMissing
    /// A structure valid by ACPI 6.x but shorter than older Linux kernels accept: a flush hint
    /// structure with no hint (16 bytes) or an interleave structure with no line (16 bytes).
    /// Kernels whose ACPICA headers still declare `hint_address[1]` / `line_offset[1]`
    /// (seen: Debian 12's 6.1) need 24 / 20 bytes and then reject the whole NFIT
    /// ("nfit: probe of ACPI0012:00 failed with error -12").
    case shortForOlderKernels
    /// A SPA range of 64 bytes or more whose "location cookie valid" flag is not set
    /// (Linux rejects the whole NFIT: it expects 56 bytes then).
    case locationCookieNotFlagged
}

/// A table that cannot be encoded: a value does not fit its field.
public struct NFITEncodeError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Index of the subtable in ``NFITTable/subtables``; `nil` for the table as a whole.
    public var subtableIndex: Int?
    /// The field that overflows, e.g. `hint_count` or `length`.
    public var field: String
    /// What, e.g. `= 70000 exceeds 65535`.
    public var detail: String

    /// An encode error.
    public init(subtableIndex: Int?, field: String, detail: String) {
        self.subtableIndex = subtableIndex; self.field = field; self.detail = detail
    }

    /// One line naming the subtable and field.
    public var description: String {
        let place = subtableIndex.map { "subtable \($0)" } ?? "table"
        return "cannot encode \(place): field \"\(field)\" \(detail)"
    }
}

/// A decoded table and the warnings its decoding produced.
public struct NFITDecodeResult: Sendable, Equatable {
    /// The table, every value exactly as the bytes hold it.
    public var table: NFITTable
    /// Problems that did not stop decoding, in table order.
    public var warnings: [NFITDecodeWarning]

    /// A result.
    public init(table: NFITTable, warnings: [NFITDecodeWarning]) {
        self.table = table; self.warnings = warnings
    }
}
