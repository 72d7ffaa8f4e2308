// A small AML writer: the few ACPI Machine Language objects an SSDT needs to give a guest
// the NVDIMM root device (`ACPI0012`) and one child device per DIMM (ACPI 6.x, chapter 20
// for the encoding, 9.20 for the NVDIMM devices). Checked against iasl both ways in
// Tests/NFITTests/SSDTTests.swift: iasl -d reads our bytes back as the ASL we meant, and
// iasl compiles that ASL to our bytes.

/// An AML object: the named objects and the one control method an NVDIMM SSDT uses.
public indirect enum AMLObject: Sendable, Equatable {
    /// `Scope (path) { objects }`: opens an existing namespace path, e.g. `\_SB`.
    case scope(String, [AMLObject])
    /// `Device (name) { objects }`.
    case device(String, [AMLObject])
    /// `Name (name, value)`.
    case name(String, AMLData)
    /// `Method (name, 0, NotSerialized) { Return (value) }`: a method without arguments that
    /// returns a constant, as `_STA` usually is.
    case constantMethod(String, AMLData)
}

/// A constant data object.
public enum AMLData: Sendable, Equatable {
    /// An integer: written as `Zero`, `One`, `Ones` or with the smallest prefix that holds it,
    /// as iasl writes it.
    case integer(UInt64)
    /// An ASCII string (no NUL).
    case string(String)
}

/// Why AML could not be written: a name that is not an ACPI name, a string that is not ASCII,
/// a package too long for a package length.
public struct AMLEncodeError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What was wrong, naming the value.
    public var description: String
    /// An error saying `description`.
    public init(_ description: String) { self.description = description }
}

/// An ACPI Secondary System Description Table: a header and AML.
public struct ACPISSDT: Sendable, Equatable {
    /// The header; ``encode()`` writes the real length and checksum whatever it says.
    public var header: ACPITableHeader
    /// The definition block's objects, in order.
    public var objects: [AMLObject]

    /// A table; the default header is signature `SSDT`, revision 2 (64-bit integers).
    public init(header: ACPITableHeader = ACPITableHeader(signature: "SSDT", revision: 2), objects: [AMLObject]) {
        self.header = header
        self.objects = objects
    }

    /// The table's bytes: header with the real length and checksum, then the AML.
    public func encode() throws(AMLEncodeError) -> [UInt8] {
        var w = ByteWriter()
        header.write(into: &w)
        for object in objects { try object.encode(into: &w) }
        guard w.bytes.count <= Int(UInt32.max) else { throw AMLEncodeError("the table is longer than 4 GiB") }
        ACPITableHeader.seal(&w)
        return w.bytes
    }

    /// The NVDIMM root device as a guest needs it: `\_SB.NVDR` with `_HID "ACPI0012"` and
    /// `_STA` 0x0F (present, enabled, shown, functioning), and per DIMM, in order, a child
    /// device `NVnn` (nn its index in hex) whose `_ADR` is its NFIT device handle. The Linux
    /// nfit driver binds to `ACPI0012` (without it the NFIT is not read) and finds each DIMM's
    /// ACPI companion by `_ADR` = handle.
    ///
    /// - Throws: ``AMLEncodeError`` for more than 256 DIMMs (the child names run out) or a
    ///   handle listed twice.
    public static func nvdimmRoot(handles: [UInt32], oemID: String = "FLUSHC", oemTableID: String = "FLUSHCTL",
                                  oemRevision: UInt32 = 1) throws(AMLEncodeError) -> ACPISSDT {
        var children: [AMLObject] = [
            .name("_HID", .string("ACPI0012")),
            .constantMethod("_STA", .integer(0x0F)),
        ]
        for device in try NVDIMMDevice.children(handles: handles) {
            children.append(.device(device.name, [.name("_ADR", .integer(UInt64(device.handle)))]))
        }
        let header = ACPITableHeader(signature: "SSDT", revision: 2, oemID: oemID, oemTableID: oemTableID,
                                     oemRevision: oemRevision)
        return ACPISSDT(header: header, objects: [.scope("\\_SB", [.device("NVDR", children)])])
    }
}

/// One DIMM's device under the NVDIMM root device of ``ACPISSDT/nvdimmRoot(handles:oemID:oemTableID:oemRevision:)``.
public struct NVDIMMDevice: Sendable, Equatable {
    /// `NVnn`, nn its index in hex.
    public var name: String
    /// Its `_ADR`: the DIMM's NFIT device handle.
    public var handle: UInt32
    /// Its full ACPI path, `\_SB.NVDR.NVnn`.
    public var path: String { "\\_SB.NVDR." + name }

    /// The root device's children for `handles`, in order.
    ///
    /// - Throws: ``AMLEncodeError`` for more than 256 DIMMs (the names run out) or a handle
    ///   listed twice.
    public static func children(handles: [UInt32]) throws(AMLEncodeError) -> [NVDIMMDevice] {
        guard handles.count <= 256 else { throw AMLEncodeError("\(handles.count) DIMMs; the NVDIMM root device names at most 256 (NV00-NVFF)") }
        if let twice = handles.enumerated().first(where: { handles[..<$0.offset].contains($0.element) }) {
            throw AMLEncodeError("handle \(hex(twice.element)) is listed twice; each DIMM needs its own _ADR")
        }
        let digits = Array("0123456789ABCDEF")
        return handles.enumerated().map { i, handle in
            NVDIMMDevice(name: "NV" + String(digits[i >> 4]) + String(digits[i & 0xF]), handle: handle)
        }
    }
}

// MARK: - Encoding

extension AMLObject {
    fileprivate func encode(into w: inout ByteWriter) throws(AMLEncodeError) {
        switch self {
        case .scope(let path, let objects):
            w.u8(0x10)  // ScopeOp
            var body = ByteWriter()
            body.raw(try AML.namePath(path))
            for o in objects { try o.encode(into: &body) }
            try AML.package(body.bytes, into: &w)
        case .device(let name, let objects):
            w.u8(0x5B); w.u8(0x82)  // ExtOpPrefix DeviceOp
            var body = ByteWriter()
            body.raw(try AML.nameSeg(name))
            for o in objects { try o.encode(into: &body) }
            try AML.package(body.bytes, into: &w)
        case .name(let name, let data):
            w.u8(0x08)  // NameOp
            w.raw(try AML.nameSeg(name))
            try data.encode(into: &w)
        case .constantMethod(let name, let data):
            w.u8(0x14)  // MethodOp
            var body = ByteWriter()
            body.raw(try AML.nameSeg(name))
            body.u8(0x00)  // MethodFlags: 0 arguments, NotSerialized, SyncLevel 0
            body.u8(0xA4)  // ReturnOp
            try data.encode(into: &body)
            try AML.package(body.bytes, into: &w)
        }
    }
}

extension AMLData {
    fileprivate func encode(into w: inout ByteWriter) throws(AMLEncodeError) {
        switch self {
        case .integer(let v):
            switch v {
            case 0: w.u8(0x00)  // ZeroOp
            case 1: w.u8(0x01)  // OneOp
            case UInt64.max: w.u8(0xFF)  // OnesOp
            case ...0xFF: w.u8(0x0A); w.u8(UInt8(v))  // BytePrefix
            case ...0xFFFF: w.u8(0x0B); w.u16(UInt16(v))  // WordPrefix
            case ...0xFFFF_FFFF: w.u8(0x0C); w.u32(UInt32(v))  // DWordPrefix
            default: w.u8(0x0E); w.u64(v)  // QWordPrefix
            }
        case .string(let s):
            guard s.utf8.allSatisfy({ $0 >= 0x01 && $0 <= 0x7F }) else {
                throw AMLEncodeError("string \"\(s)\" is not ASCII without NUL")
            }
            w.u8(0x0D)  // StringPrefix
            w.raw(Array(s.utf8))
            w.u8(0x00)  // NullChar
        }
    }
}

enum AML {
    /// A 4-byte name segment: a leading `A`-`Z` or `_`, then `A`-`Z`, `0`-`9` or `_`, padded
    /// with `_` to 4 characters, as iasl pads `_SB` to `_SB_`.
    static func nameSeg(_ name: String) throws(AMLEncodeError) -> [UInt8] {
        let bytes = Array(name.utf8)
        let upper = { (b: UInt8) in b >= 0x41 && b <= 0x5A }
        let digit = { (b: UInt8) in b >= 0x30 && b <= 0x39 }
        guard (1...4).contains(bytes.count), upper(bytes[0]) || bytes[0] == 0x5F,
              bytes.allSatisfy({ upper($0) || digit($0) || $0 == 0x5F }) else {
            throw AMLEncodeError("\"\(name)\" is not an ACPI name (1-4 of A-Z, 0-9, _; not starting with a digit)")
        }
        return bytes + Array(repeating: 0x5F, count: 4 - bytes.count)
    }

    /// A name path: an optional root prefix `\`, then one segment, or several joined by dots.
    static func namePath(_ path: String) throws(AMLEncodeError) -> [UInt8] {
        var rest = Substring(path)
        var out: [UInt8] = []
        if rest.hasPrefix("\\") { out.append(0x5C); rest = rest.dropFirst() }  // RootChar
        let segments = rest.split(separator: ".", omittingEmptySubsequences: false)
        var encoded: [UInt8] = []
        for s in segments { encoded += try nameSeg(String(s)) }
        switch segments.count {
        case 1: break
        case 2: out.append(0x2E)  // DualNamePrefix
        case 3...255: out.append(0x2F); out.append(UInt8(segments.count))  // MultiNamePrefix SegCount
        default: throw AMLEncodeError("\"\(path)\" has too many name segments")
        }
        return out + encoded
    }

    /// `body` preceded by its PkgLength, which counts itself: one byte up to 63 bytes in all,
    /// else a lead byte (bits 7-6: the number of bytes that follow, bits 3-0: the length's low
    /// nibble) and 1 to 3 bytes, the fewest that hold it.
    static func package(_ body: [UInt8], into w: inout ByteWriter) throws(AMLEncodeError) {
        if body.count + 1 <= 0x3F {
            w.u8(UInt8(body.count + 1))
        } else {
            guard let extra = (1...3).first(where: { body.count + 1 + $0 < 1 << (4 + 8 * $0) }) else {
                throw AMLEncodeError("a package of \(body.count) bytes is longer than a package length holds (2^28)")
            }
            let total = body.count + 1 + extra
            w.u8(UInt8(extra << 6) | UInt8(total & 0x0F))
            for k in 0..<extra { w.u8(UInt8(truncatingIfNeeded: total >> (4 + 8 * k))) }
        }
        w.raw(body)
    }
}
