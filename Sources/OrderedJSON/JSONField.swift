// Typed reads of a parsed document. Every read knows where it is (`regions[1].dimms[0]`), so
// an error names the member and the value it found; the document's owner adds which file.

/// A member or element of a parsed document with its path there; `value` is `nil` for a
/// member the document does not have.
public struct JSONField: Sendable {
    /// The value, or `nil` when missing.
    public let value: JSONValue?
    /// Where it is: `""` for the document, then `key`, `key.key`, `key[i]`.
    public let path: String

    /// The whole document.
    public init(document: JSONValue) { self.value = document; self.path = "" }

    init(value: JSONValue?, path: String) { self.value = value; self.path = path }

    /// Member `key` of this object; missing when this is not an object or has no such member.
    public subscript(key: String) -> JSONField {
        var found: JSONValue?
        if case .object(let members)? = value { found = members.first { $0.0 == key }?.1 }
        return JSONField(value: found, path: path.isEmpty ? key : "\(path).\(key)")
    }

    /// Whether the document has this member.
    public var isPresent: Bool { value != nil }

    /// This field, or `nil` when it is missing: for optional members.
    public var ifPresent: JSONField? { value == nil ? nil : self }

    /// An error at this field.
    public func error(_ message: String) -> JSONFieldError { JSONFieldError(path: path, message: message) }

    /// This field's value for an error message: a number as written, a string quoted (both cut
    /// at 40 characters), anything else by kind.
    public var described: String {
        func cut(_ text: String) -> String { text.count > 40 ? String(text.prefix(40)) + "…" : text }
        switch value {
        case nil: return "missing"
        case .number(let text)?: return cut(text)
        case .string(let text)?: return "\"" + cut(text) + "\""
        case .bool(let b)?: return b ? "true" : "false"
        case .null?: return "null"
        case .object?: return "an object"
        case .array?: return "an array"
        case .int(let v)?: return String(v)
        case .uint(let v)?: return String(v)
        case .double(let v)?: return String(v)
        }
    }

    /// What kind of value this is: `an object`, `a string`, `missing`.
    public var kindName: String {
        switch value {
        case nil: return "missing"
        case .object?: return "an object"
        case .array?: return "an array"
        case .string?: return "a string"
        case .number?, .int?, .uint?, .double?: return "a number"
        case .bool?: return "a boolean"
        case .null?: return "null"
        }
    }

    private func wrongKind(_ expected: String) -> JSONFieldError {
        value == nil ? error("is missing") : error("must be \(expected), not \(kindName)")
    }

    /// The members of this object, refusing any key not in `known`.
    public func members(known: [String]) throws(JSONFieldError) -> [String] {
        guard case .object(let members)? = value else { throw wrongKind("an object") }
        for (key, _) in members where !known.contains(key) {
            throw self[key].error("unknown key (known: \(known.joined(separator: ", ")))")
        }
        return members.map { $0.0 }
    }

    /// The elements of this array.
    public func elements() throws(JSONFieldError) -> [JSONField] {
        guard case .array(let items)? = value else { throw wrongKind("an array") }
        return items.enumerated().map { JSONField(value: $1, path: "\(path)[\($0)]") }
    }

    /// This string.
    public func string() throws(JSONFieldError) -> String {
        guard case .string(let text)? = value else { throw wrongKind("a string") }
        return text
    }

    /// This boolean.
    public func bool() throws(JSONFieldError) -> Bool {
        guard case .bool(let flag)? = value else { throw wrongKind("a boolean") }
        return flag
    }

    /// This string as one of `E`'s raw values.
    public func oneOf<E: RawRepresentable & CaseIterable>(_: E.Type) throws(JSONFieldError) -> E where E.RawValue == String {
        guard case .string(let text)? = value, let known = E(rawValue: text) else {
            let names = E.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", ")
            throw value == nil ? error("is missing") : error("\(described) is not one of \(names)")
        }
        return known
    }

    /// A JSON integer (digits with an optional minus; no fraction or exponent) in `range`;
    /// `what` replaces "an integer from A to B" in the error.
    public func integer<T: FixedWidthInteger>(in range: ClosedRange<T>, what: String? = nil) throws(JSONFieldError) -> T {
        if case .number(let text)? = value, let v = T(text, radix: 10), range.contains(v) { return v }
        throw value == nil ? error("is missing")
            : error("\(described) is not \(what ?? "an integer from \(range.lowerBound) to \(range.upperBound)")")
    }

    /// An unsigned number written as a JSON integer, or as a string of decimal digits or of
    /// `0x` and hex digits (as ndctl prints addresses), that fits `T`.
    public func unsigned<T: FixedWidthInteger & UnsignedInteger>(_: T.Type) throws(JSONFieldError) -> T {
        let text: String
        switch value {
        case .number(let n)?: text = n
        case .string(let s)?: text = s
        default: throw wrongKind("a number or a \"0x…\" string")
        }
        if let v = JSONField.unsigned(text, as: T.self) { return v }
        if case .string = value, !JSONField.isUnsignedText(text) {
            throw error("\(described) is not a number (write an integer or \"0x…\" hex)")
        }
        throw error("\(described) is not an integer from 0 to 0x\(String(T.max, radix: 16))")
    }

    /// `0x`/`0X` and hex digits, or decimal digits, as `T`; `nil` for anything else (signs,
    /// underscores, spaces) or a value that does not fit.
    public static func unsigned<T: FixedWidthInteger & UnsignedInteger>(_ text: String, as: T.Type) -> T? {
        guard isUnsignedText(text) else { return nil }
        let isHex = text.hasPrefix("0x") || text.hasPrefix("0X")
        return T(isHex ? text.dropFirst(2) : Substring(text), radix: isHex ? 16 : 10)
    }

    /// Whether `text` is `0x`/`0X` and hex digits, or decimal digits, whatever its size.
    static func isUnsignedText(_ text: String) -> Bool {
        let isHex = text.hasPrefix("0x") || text.hasPrefix("0X")
        let digits = isHex ? Substring(text.dropFirst(2)) : Substring(text)
        func valid(_ c: UInt8) -> Bool {
            let decimal = c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")
            let lower = c | 0x20
            return decimal || (isHex && lower >= UInt8(ascii: "a") && lower <= UInt8(ascii: "f"))
        }
        return !digits.isEmpty && digits.utf8.allSatisfy(valid)
    }
}

/// A field that is missing, of the wrong kind or out of range: its path and what is wrong.
public struct JSONFieldError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The JSON path, e.g. `regions[1].dimms[0].hints[2]`; empty for the document as a whole.
    public var path: String
    /// What is wrong.
    public var message: String

    /// Creates an error.
    public init(path: String, message: String) { self.path = path; self.message = message }

    /// `PATH: MESSAGE`, or just the message for the whole document.
    public var description: String { path.isEmpty ? message : "\(path): \(message)" }
}
