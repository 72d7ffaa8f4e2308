import Testing
import OrderedJSON

/// The one strict JSON reader (NFIT layouts, the topology cache).
@Suite struct JSONReaderTests {
    private func parse(_ text: String) throws(JSONSyntaxError) -> JSONValue { try JSONReader.parse(Array(text.utf8)) }

    @Test("a leading zero is refused at the number's offset; 0, -0 and 0.5 stay valid")
    func leadingZeros() throws {
        for (text, offset) in [("0123", 0), ("[1, 0123]", 4), (#"{"a":-007}"#, 5), ("00", 0), ("-00.5", 0)] {
            let error = #expect(throws: JSONSyntaxError.self, "\(text)") { try parse(text) }
            #expect(error?.offset == offset, "\(text)")
            #expect(error?.message == "number with a leading zero", "\(text)")
        }
        #expect(try parse("0") == .number("0"))
        #expect(try parse("-0") == .number("-0"))
        #expect(try parse("0.5") == .number("0.5"))
        #expect(try parse("[0,10,-0e5,100]") == .array([.number("0"), .number("10"), .number("-0e5"), .number("100")]))
    }

    /// The key of member `i` of the big object.
    private static func key(_ i: Int) -> String { "key\(i)" }

    @Test("an object of 20 000 keys parses, and a repeated key is found where it repeats")
    func manyKeys() throws {
        let count = 20_000
        var text = "{" + (0..<count).map { "\"\(Self.key($0))\":\($0)" }.joined(separator: ",") + "}"
        guard case .object(let members) = try JSONReader.parse(Array(text.utf8)) else {
            Issue.record("not an object")
            return
        }
        #expect(members.count == count)
        #expect(members.last?.0 == Self.key(count - 1) && members.last?.1 == .number("\(count - 1)"))

        // The last key again: the error points at the second occurrence's opening quote.
        text.removeLast()
        let offset = text.utf8.count + 1
        text += ",\"\(Self.key(12_345))\":0}"
        let error = #expect(throws: JSONSyntaxError.self) { try JSONReader.parse(Array(text.utf8)) }
        #expect(error?.offset == offset)
        #expect(error?.message == "duplicate key \"key12345\"")

        // Keys are per object: the same key in sibling and nested objects is fine.
        #expect(throws: Never.self) { try parse(#"{"a":{"a":1},"b":{"a":2,"b":[{"a":3}]}}"#) }
        let nested = #expect(throws: JSONSyntaxError.self) { try parse(#"{"a":{"b":1,"b":2}}"#) }
        #expect(nested?.offset == 12)
    }
}

/// The one reading of an unsigned number's text: layouts, the cache and flushctl's address
/// options all go through `JSONField.unsigned(_:as:)`.
@Suite struct UnsignedTextTests {
    @Test("0x and hex digits or decimal digits; no sign, underscore, space or empty digits")
    func unsignedText() {
        #expect(JSONField.unsigned("0x37fff000", as: UInt64.self) == 0x37ff_f000)
        #expect(JSONField.unsigned("0XfF", as: UInt8.self) == 255)
        #expect(JSONField.unsigned("4096", as: UInt64.self) == 4096)
        for bad in ["", "0x", "0x+10", "+10", "-0", "0x-0", "1_000", "0x1_0", " 10", "10 ", "1e3", "0b1"] {
            #expect(JSONField.unsigned(bad, as: UInt64.self) == nil, "\(bad)")
        }
        #expect(JSONField.unsigned("0x100", as: UInt8.self) == nil)
        #expect(JSONField.unsigned("18446744073709551616", as: UInt64.self) == nil)
    }
}
