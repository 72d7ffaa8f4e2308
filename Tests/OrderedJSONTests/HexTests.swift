import Testing
@testable import OrderedJSON

/// `JSONValue.hex` formats without the standard library's generic `String(_:radix:)` for
/// non-negative 64-bit values; it must give exactly what `"0x" + String(value, radix: 16)` gives
/// for every integer type and value, including those that take the general path.
@Suite struct HexTests {
    static func reference<T: BinaryInteger>(_ value: T) -> JSONValue { .string("0x" + String(value, radix: 16)) }

    @Test func matchesStringRadix16() {
        var values: [UInt64] = [0, 1, 9, 10, 15, 16, 0xff, 0x100, 0x37ff_f000, 0x37ff_e040, UInt64(UInt32.max), UInt64.max, 1 << 63]
        var x: UInt64 = 0x9E37_79B9_7F4A_7C15
        for _ in 0..<500 { x = x &* 6364136223846793005 &+ 1442695040888963407; values.append(x >> (x % 64)) }
        for v in values {
            #expect(JSONValue.hex(v) == Self.reference(v))
            #expect(JSONValue.hex(UInt32(truncatingIfNeeded: v)) == Self.reference(UInt32(truncatingIfNeeded: v)))
            #expect(JSONValue.hex(UInt16(truncatingIfNeeded: v)) == Self.reference(UInt16(truncatingIfNeeded: v)))
            #expect(JSONValue.hex(Int64(bitPattern: v)) == Self.reference(Int64(bitPattern: v)))
            #expect(JSONValue.hex(Int(bitPattern: UInt(v))) == Self.reference(Int(bitPattern: UInt(v))))
            #expect(JSONValue.hex(Int8(truncatingIfNeeded: v)) == Self.reference(Int8(truncatingIfNeeded: v)))
        }
        #expect(JSONValue.hex(Int64.min) == Self.reference(Int64.min))
        #expect(JSONValue.hex(-1 as Int) == .string("0x-1"))
    }
}
