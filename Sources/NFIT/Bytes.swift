// Little-endian byte access that never traps on short input and never performs
// an unaligned load: every value is assembled from individual bytes.

/// Reads little-endian integers from a byte array at absolute offsets.
///
/// Every read is bounds-checked by the caller first (through ``has(_:at:)``), and the
/// reads themselves return 0 past the end rather than trapping, so a mistake in a
/// caller degrades into a wrong value, never a crash.
struct ByteReader {
    let bytes: [UInt8]

    /// Whether `count` bytes starting at `offset` lie inside the buffer.
    func has(_ count: Int, at offset: Int) -> Bool {
        offset >= 0 && count >= 0 && offset <= bytes.count && bytes.count - offset >= count
    }

    func u8(_ offset: Int) -> UInt8 {
        offset >= 0 && offset < bytes.count ? bytes[offset] : 0
    }

    func u16(_ offset: Int) -> UInt16 {
        UInt16(u8(offset)) | UInt16(u8(offset + 1)) << 8
    }

    func u32(_ offset: Int) -> UInt32 {
        UInt32(u16(offset)) | UInt32(u16(offset + 2)) << 16
    }

    func u64(_ offset: Int) -> UInt64 {
        UInt64(u32(offset)) | UInt64(u32(offset + 4)) << 32
    }

    /// `count` bytes from `offset`, clipped to the buffer.
    func slice(_ offset: Int, _ count: Int) -> [UInt8] {
        guard offset >= 0, count > 0, offset < bytes.count else { return [] }
        let end = offset + min(count, bytes.count - offset)
        return Array(bytes[offset..<end])
    }
}

/// Appends little-endian integers to a byte array.
struct ByteWriter {
    var bytes: [UInt8] = []

    mutating func u8(_ value: UInt8) { bytes.append(value) }

    mutating func u16(_ value: UInt16) {
        bytes.append(UInt8(truncatingIfNeeded: value))
        bytes.append(UInt8(truncatingIfNeeded: value >> 8))
    }

    mutating func u32(_ value: UInt32) {
        u16(UInt16(truncatingIfNeeded: value))
        u16(UInt16(truncatingIfNeeded: value >> 16))
    }

    mutating func u64(_ value: UInt64) {
        u32(UInt32(truncatingIfNeeded: value))
        u32(UInt32(truncatingIfNeeded: value >> 32))
    }

    mutating func raw(_ value: [UInt8]) { bytes.append(contentsOf: value) }

    /// Writes exactly `width` bytes: `value` cut or zero-padded to fit.
    mutating func fixed(_ value: [UInt8], width: Int) {
        for i in 0..<width { bytes.append(i < value.count ? value[i] : 0) }
    }

    mutating func patchU16(_ value: UInt16, at offset: Int) {
        bytes[offset] = UInt8(truncatingIfNeeded: value)
        bytes[offset + 1] = UInt8(truncatingIfNeeded: value >> 8)
    }

    mutating func patchU32(_ value: UInt32, at offset: Int) {
        patchU16(UInt16(truncatingIfNeeded: value), at: offset)
        patchU16(UInt16(truncatingIfNeeded: value >> 16), at: offset + 2)
    }
}

/// The byte that makes `bytes` sum to zero modulo 256, given that the byte at
/// `checksumOffset` is counted as zero (the ACPI table checksum rule).
func acpiChecksum(_ bytes: [UInt8], checksumOffset: Int) -> UInt8 {
    var sum: UInt8 = 0
    for (i, b) in bytes.enumerated() where i != checksumOffset { sum &+= b }
    return 0 &- sum
}

/// Formats `value` as `0x…` in lowercase hex, as the messages and the JSON print it.
func hex<T: BinaryInteger>(_ value: T) -> String {
    "0x" + String(value, radix: 16)
}
