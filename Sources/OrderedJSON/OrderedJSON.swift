/// A JSON value whose object keys keep the order they were added in.
///
/// flushctl prints JSON the way `ndctl` does: json-c's pretty printer, with two-space
/// indentation, `"key":value` without spaces, and keys in a fixed, meaningful order.
/// Foundation's `JSONEncoder` neither keeps key order nor prints this layout, so the
/// commands build `JSONValue` trees and print them with ``JSONValue/prettyPrinted()``.
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
        case let (.bool(a), .bool(b)): return a == b
        case (.null, .null): return true
        default: return false
        }
    }
}

extension JSONValue {
    /// An integer of any width, as ``int(_:)``.
    public static func integer<T: BinaryInteger>(_ value: T) -> JSONValue {
        if let signed = Int64(exactly: value) { return .int(signed) }
        return .uint(UInt64(truncatingIfNeeded: value))
    }

    /// A hexadecimal string such as `"0x37fff000"`, as ndctl prints addresses and handles.
    public static func hex<T: BinaryInteger>(_ value: T) -> JSONValue {
        .string("0x" + String(value, radix: 16))
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
