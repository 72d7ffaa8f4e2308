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
        var out = ""
        write(to: &out, level: 0)
        return out
    }

    private func write(to out: inout String, level: Int) {
        switch self {
        case .object(let members):
            out += "{\n"
            for (i, (key, value)) in members.enumerated() {
                if i > 0 { out += ",\n" }
                indent(&out, level + 1)
                JSONValue.writeString(key, to: &out)
                out += ":"
                value.write(to: &out, level: level + 1)
            }
            if !members.isEmpty { out += "\n" }
            indent(&out, level)
            out += "}"
        case .array(let elements):
            out += "[\n"
            for (i, value) in elements.enumerated() {
                if i > 0 { out += ",\n" }
                indent(&out, level + 1)
                value.write(to: &out, level: level + 1)
            }
            if !elements.isEmpty { out += "\n" }
            indent(&out, level)
            out += "]"
        case .string(let s): JSONValue.writeString(s, to: &out)
        case .int(let v): out += String(v)
        case .uint(let v): out += String(v)
        case .double(let v): out += v.isFinite ? String(v) : "null"
        case .bool(let v): out += v ? "true" : "false"
        case .null: out += "null"
        }
    }

    private func indent(_ out: inout String, _ level: Int) {
        out += String(repeating: "  ", count: level)
    }

    private static func writeString(_ s: String, to out: inout String) {
        out += "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{8}": out += "\\b"
            case "\u{c}": out += "\\f"
            case let c where c.value < 0x20:
                let hex = String(c.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }
}
