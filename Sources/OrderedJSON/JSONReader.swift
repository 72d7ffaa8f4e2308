// The one JSON reader: strict, so a document from outside (a layout, the topology cache) is
// refused with the byte offset of its first error. Objects keep their key order and numbers
// their text (``JSONValue/number(_:)``): every field decides how to read them, through
// ``JSONField``.

/// A syntax error: the byte offset and what was expected.
public struct JSONSyntaxError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Byte offset of the error in the document.
    public var offset: Int
    /// What was wrong.
    public var message: String
    /// Creates a syntax error.
    public init(offset: Int, message: String) { self.offset = offset; self.message = message }
    /// `byte N: message`.
    public var description: String { "byte \(offset): \(message)" }
}

public struct JSONReader {
    private let b: [UInt8]
    private var i = 0
    private var depth = 0

    /// Parses `bytes` as one JSON value: objects keep their key order and may not repeat a
    /// key, numbers may not start with a redundant zero, nesting stops at 64 levels, and
    /// nothing but white space may follow the value.
    public static func parse(_ bytes: [UInt8]) throws(JSONSyntaxError) -> JSONValue {
        var r = JSONReader(b: bytes)
        r.skipSpace()
        let v = try r.value()
        r.skipSpace()
        if r.i != r.b.count { throw JSONSyntaxError(offset: r.i, message: "unexpected text after the JSON value") }
        return v
    }

    private init(b: [UInt8]) { self.b = b }

    private mutating func skipSpace() {
        while i < b.count, b[i] == 0x20 || b[i] == 0x0A || b[i] == 0x0D || b[i] == 0x09 { i += 1 }
    }

    private func fail(_ message: String) -> JSONSyntaxError { JSONSyntaxError(offset: i, message: message) }

    private mutating func value() throws(JSONSyntaxError) -> JSONValue {
        guard i < b.count else { throw fail("unexpected end of input, expected a value") }
        switch b[i] {
        case UInt8(ascii: "{"): return try object()
        case UInt8(ascii: "["): return try array()
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try number())
        default: throw fail("unexpected character, expected a value")
        }
    }

    private mutating func literal(_ word: String) throws(JSONSyntaxError) {
        for c in word.utf8 {
            guard i < b.count, b[i] == c else { throw fail("invalid literal, expected \(word)") }
            i += 1
        }
    }

    private mutating func enter() throws(JSONSyntaxError) {
        depth += 1
        if depth > 64 { throw fail("nesting deeper than 64 levels") }
    }

    private mutating func object() throws(JSONSyntaxError) -> JSONValue {
        var members: [(String, JSONValue)] = []
        // The keys seen so far, so a repeat is found in constant time: a cache may hold
        // objects of very many members, and a scan per key made them quadratic.
        var keys = Set<String>()
        try items(close: "}", in: "an object") { r throws(JSONSyntaxError) in
            guard r.i < r.b.count, r.b[r.i] == UInt8(ascii: "\"") else { throw r.fail("expected a key string") }
            let keyOffset = r.i
            let key = try r.string()
            if !keys.insert(key).inserted {
                throw JSONSyntaxError(offset: keyOffset, message: "duplicate key \"\(key)\"")
            }
            r.skipSpace()
            guard r.i < r.b.count, r.b[r.i] == UInt8(ascii: ":") else { throw r.fail("expected ':' after a key") }
            r.i += 1
            r.skipSpace()
            members.append((key, try r.value()))
        }
        return .object(members)
    }

    private mutating func array() throws(JSONSyntaxError) -> JSONValue {
        var elements: [JSONValue] = []
        try items(close: "]", in: "an array") { r throws(JSONSyntaxError) in elements.append(try r.value()) }
        return .array(elements)
    }

    /// The inside of an object or an array, from its opening bracket past its `close`: `item`
    /// reads each member or element (white space before and after is skipped here), commas
    /// between them; `container` names it in errors ("an object").
    private mutating func items(close: Unicode.Scalar, in container: String,
                                _ item: (inout JSONReader) throws(JSONSyntaxError) -> Void) throws(JSONSyntaxError) {
        try enter(); defer { depth -= 1 }
        i += 1
        skipSpace()
        if i < b.count, b[i] == UInt8(ascii: close) { i += 1; return }
        while true {
            skipSpace()
            try item(&self)
            skipSpace()
            guard i < b.count else { throw fail("unexpected end of input in \(container)") }
            if b[i] == UInt8(ascii: ",") { i += 1; continue }
            if b[i] == UInt8(ascii: close) { i += 1; return }
            throw fail("expected ',' or '\(close)' in \(container)")
        }
    }

    private mutating func hex4() throws(JSONSyntaxError) -> UInt32 {
        var v: UInt32 = 0
        for _ in 0..<4 {
            guard i < b.count else { throw fail("unexpected end of input in a \\u escape") }
            let c = b[i]
            let d: UInt32
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt32(c - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = UInt32(c - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = UInt32(c - UInt8(ascii: "A") + 10)
            default: throw fail("invalid hex digit in a \\u escape")
            }
            v = v << 4 | d
            i += 1
        }
        return v
    }

    private mutating func string() throws(JSONSyntaxError) -> String {
        i += 1
        var out: [UInt8] = []
        while true {
            guard i < b.count else { throw fail("unterminated string") }
            let c = b[i]
            if c == UInt8(ascii: "\"") { i += 1; break }
            if c < 0x20 { throw fail("control character in a string") }
            if c != UInt8(ascii: "\\") { out.append(c); i += 1; continue }
            i += 1
            guard i < b.count else { throw fail("unterminated escape") }
            let e = b[i]
            i += 1
            switch e {
            case UInt8(ascii: "\""): out.append(0x22)
            case UInt8(ascii: "\\"): out.append(0x5C)
            case UInt8(ascii: "/"): out.append(0x2F)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try hex4()
                if scalar >= 0xD800 && scalar < 0xDC00 {
                    guard i + 1 < b.count, b[i] == UInt8(ascii: "\\"), b[i + 1] == UInt8(ascii: "u") else {
                        throw fail("unpaired surrogate in a \\u escape")
                    }
                    i += 2
                    let low = try hex4()
                    guard low >= 0xDC00 && low < 0xE000 else { throw fail("invalid low surrogate") }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                }
                guard let u = Unicode.Scalar(scalar) else { throw fail("invalid \\u escape") }
                out.append(contentsOf: Array(String(Character(u)).utf8))
            default: throw fail("invalid escape")
            }
        }
        // Invalid UTF-8 is replaced rather than rejected; such a string fails later as a bad value.
        return String(decoding: out, as: UTF8.self)
    }

    private mutating func number() throws(JSONSyntaxError) -> String {
        let start = i
        if b[i] == UInt8(ascii: "-") { i += 1 }
        // RFC 8259: an integer part is 0 or starts with 1-9. A reader that took 0123 would
        // take what other readers refuse (or read as octal).
        if i + 1 < b.count, b[i] == UInt8(ascii: "0"), b[i + 1] >= UInt8(ascii: "0"), b[i + 1] <= UInt8(ascii: "9") {
            throw JSONSyntaxError(offset: start, message: "number with a leading zero")
        }
        func digits(_ r: inout JSONReader) -> Int {
            let s = r.i
            while r.i < r.b.count, r.b[r.i] >= UInt8(ascii: "0"), r.b[r.i] <= UInt8(ascii: "9") { r.i += 1 }
            return r.i - s
        }
        if digits(&self) == 0 { throw fail("expected a digit") }
        if i < b.count, b[i] == UInt8(ascii: ".") {
            i += 1
            if digits(&self) == 0 { throw fail("expected a digit after '.'") }
        }
        if i < b.count, b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E") {
            i += 1
            if i < b.count, b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") { i += 1 }
            if digits(&self) == 0 { throw fail("expected a digit in the exponent") }
        }
        return String(decoding: b[start..<i], as: UTF8.self)
    }
}
