/// A JSON value whose object keys keep the order they were added in.
///
/// flushctl prints JSON the way `ndctl` does: json-c's pretty printer, with two-space
/// indentation, `"key":value` without spaces, and keys in a fixed, meaningful order.
/// Foundation's `JSONEncoder` neither keeps key order nor prints this layout, so the
/// flushctl builds `JSONValue` trees and prints them with ``JSONValue/prettyPrinted()``;
/// ``JSONReader`` reads documents into the same type, and ``JSONField`` reads their fields.
public indirect enum JSONValue: Equatable, Sendable {
    /// An object: key/value pairs in the order they are printed.
    case object([(String, JSONValue)])
    /// An array.
    case array([JSONValue])
    /// A string.
    case string(String)
    /// A signed integer.
    case int(Int64)
    /// An unsigned integer (json-c prints both kinds as plain decimal).
    case uint(UInt64)
    /// A floating-point number.
    case double(Double)
    /// A number as a document wrote it (what ``JSONReader`` reads); printed as written.
    case number(String)
    /// `true` or `false`.
    case bool(Bool)
    /// `null`.
    case null

    public static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case let (.object(a), .object(b)):
            return a.count == b.count && zip(a, b).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        case let (.array(a), .array(b)): return a == b
        case let (.string(a), .string(b)): return a == b
        case let (.int(a), .int(b)): return a == b
        case let (.uint(a), .uint(b)): return a == b
        case let (.double(a), .double(b)): return a == b
        case let (.number(a), .number(b)): return a == b
        case let (.bool(a), .bool(b)): return a == b
        case (.null, .null): return true
        default: return false
        }
    }
}

extension JSONValue {
    /// An integer of any width, as ``int(_:)``.
    ///
    /// Inlinable so that callers get it specialised for their integer type: unspecialised, the
    /// `BinaryInteger` calls look up conformances and associated types at run time, which costs
    /// more than the whole JSON of `flushctl list` under an emulator (measured with callgrind in
    /// November 2026; see the git history of docs/performance.md).
    @inlinable
    public static func integer<T: BinaryInteger>(_ value: T) -> JSONValue {
        if let signed = Int64(exactly: value) { return .int(signed) }
        return .uint(UInt64(truncatingIfNeeded: value))
    }

    /// A hexadecimal string such as `"0x37fff000"`, as ndctl prints addresses and handles.
    @inlinable
    public static func hex<T: BinaryInteger>(_ value: T) -> JSONValue {
        // Non-negative values that fit 64 bits (all of flushctl's) are formatted without the
        // standard library's generic `String(_:radix:)`, which is called unspecialised and then
        // resolves associated types at run time; anything else takes that general path.
        if value >= 0, let unsigned = UInt64(exactly: value) { return .string(hexString(unsigned)) }
        return .string("0x" + String(value, radix: 16))
    }

    /// `"0x"` and the lower-case hex digits of `value`: `String(value, radix: 16)` with the prefix.
    @usableFromInline
    static func hexString(_ value: UInt64) -> String {
        var digits: [UInt8] = []
        var rest = value
        repeat {
            let digit = UInt8(truncatingIfNeeded: rest & 0xF)
            digits.append(digit < 10 ? UInt8(ascii: "0") + digit : UInt8(ascii: "a") + digit - 10)
            rest >>= 4
        } while rest != 0
        digits.append(UInt8(ascii: "x"))
        digits.append(UInt8(ascii: "0"))
        digits.reverse()
        return String(decoding: digits, as: UTF8.self)
    }

    /// The value printed as json-c does with `JSON_C_TO_STRING_PRETTY`,
    /// except that `/` is not escaped (json-c's `JSON_C_TO_STRING_NOSLASHESCAPE`).
    /// No trailing newline.
    public func prettyPrinted() -> String {
        // Built as UTF-8 bytes: appending to a byte array costs a few instructions per byte,
        // where appending Characters to a String cost hundreds (a 256-DIMM NFIT's JSON).
        var out: [UInt8] = []
        out.reserveCapacity(4096)
        write(to: &out, level: 0)
        return String(decoding: out, as: UTF8.self)
    }

    private func write(to out: inout [UInt8], level: Int) {
        switch self {
        case .object(let members):
            out.append(UInt8(ascii: "{"))
            out.append(UInt8(ascii: "\n"))
            for (i, (key, value)) in members.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")); out.append(UInt8(ascii: "\n")) }
                JSONValue.indent(&out, level + 1)
                JSONValue.writeString(key, to: &out)
                out.append(UInt8(ascii: ":"))
                value.write(to: &out, level: level + 1)
            }
            if !members.isEmpty { out.append(UInt8(ascii: "\n")) }
            JSONValue.indent(&out, level)
            out.append(UInt8(ascii: "}"))
        case .array(let elements):
            out.append(UInt8(ascii: "["))
            out.append(UInt8(ascii: "\n"))
            for (i, value) in elements.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")); out.append(UInt8(ascii: "\n")) }
                JSONValue.indent(&out, level + 1)
                value.write(to: &out, level: level + 1)
            }
            if !elements.isEmpty { out.append(UInt8(ascii: "\n")) }
            JSONValue.indent(&out, level)
            out.append(UInt8(ascii: "]"))
        case .string(let s): JSONValue.writeString(s, to: &out)
        case .int(let v): out.append(contentsOf: String(v).utf8)
        case .uint(let v): out.append(contentsOf: String(v).utf8)
        case .double(let v): out.append(contentsOf: (v.isFinite ? String(v) : "null").utf8)
        case .number(let text): out.append(contentsOf: text.utf8)
        case .bool(let v): out.append(contentsOf: (v ? "true" : "false").utf8)
        case .null: out.append(contentsOf: "null".utf8)
        }
    }

    private static func indent(_ out: inout [UInt8], _ level: Int) {
        for _ in 0..<(2 * level) { out.append(UInt8(ascii: " ")) }
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    private static func writeString(_ s: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        // Escapes are all ASCII, so working on UTF-8 bytes leaves multi-byte characters intact.
        for byte in s.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out.append(UInt8(ascii: "\\")); out.append(byte)
            case UInt8(ascii: "\\"): out.append(UInt8(ascii: "\\")); out.append(byte)
            case 0x0A: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "n"))
            case 0x0D: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "r"))
            case 0x09: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "t"))
            case 0x08: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "b"))
            case 0x0C: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "f"))
            case 0..<0x20:
                out.append(contentsOf: "\\u00".utf8)
                out.append(hexDigits[Int(byte >> 4)])
                out.append(hexDigits[Int(byte & 0xF)])
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
