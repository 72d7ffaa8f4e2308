import Testing
import OrderedJSON

@Suite struct OrderedJSONTests {
    /// The expected text is what json-c 0.16 (`json_object_to_json_string_ext(…, JSON_C_TO_STRING_PRETTY)`)
    /// printed on Debian 12 for the same tree, with the slash left unescaped.
    @Test func matchesJsonCPrettyLayout() {
        let value = JSONValue.array([
            .object([
                ("dev", .string("region0/x\"q\t\u{1}")),
                ("size", .int(134_217_728)),
                ("neg", .int(-5)),
                ("flag", .bool(true)),
                ("empty", .array([])),
                ("emptyobj", .object([])),
                ("arr", .array([.string("0x1"), .int(2)])),
            ])
        ])
        let expected = """
        [
          {
            "dev":"region0/x\\"q\\t\\u0001",
            "size":134217728,
            "neg":-5,
            "flag":true,
            "empty":[
            ],
            "emptyobj":{
            },
            "arr":[
              "0x1",
              2
            ]
          }
        ]
        """
        #expect(value.prettyPrinted() == expected)
        #expect(JSONValue.array([]).prettyPrinted() == "[\n]")
    }

    @Test func nonASCIIIsKeptAndControlsEscaped() {
        // json-c writes UTF-8 as is and escapes only the controls below 0x20.
        #expect(JSONValue.string("é→\u{7f}\u{1f}").prettyPrinted() == "\"é→\u{7f}\\u001f\"")
    }

    @Test func keyOrderIsKept() {
        let a = JSONValue.object([("b", .int(1)), ("a", .int(2))]).prettyPrinted()
        #expect(a == "{\n  \"b\":1,\n  \"a\":2\n}")
        #expect(JSONValue.object([("b", .int(1)), ("a", .int(2))]) != .object([("a", .int(2)), ("b", .int(1))]))
    }

    @Test func hexAndWideIntegers() {
        #expect(JSONValue.hex(0x37ff_f000 as UInt64) == .string("0x37fff000"))
        #expect(JSONValue.integer(UInt64.max) == .uint(UInt64.max))
        #expect(JSONValue.integer(UInt32(7)) == .int(7))
        #expect(JSONValue.uint(UInt64.max).prettyPrinted() == "18446744073709551615")
    }
}
