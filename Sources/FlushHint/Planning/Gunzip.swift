// A small gzip (RFC 1952) / DEFLATE (RFC 1951) decoder, so the kernel configuration can be
// read from /proc/config.gz without linking zlib (which would need a new package target).
// Written from the RFCs: canonical Huffman codes decoded bit by bit, as in the RFC's
// description. Speed does not matter here (a kernel config is ~50 KiB compressed); every
// read is bounds-checked and every malformed stream is an error, never a trap.

/// Why a gzip stream could not be decoded.
public struct GunzipError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Byte offset in the compressed input where the problem was found.
    public var offset: Int
    /// What was wrong.
    public var message: String

    /// Creates an error.
    public init(offset: Int, message: String) {
        self.offset = offset
        self.message = message
    }

    /// The error as one line, naming what was wrong and where.
    public var description: String { "gzip data at byte \(offset): \(message)" }
}

/// Decompresses gzip data.
public enum Gunzip {
    /// The decompressed bytes of a single-member gzip file, checked against its CRC-32 and
    /// length. Output above `limit` bytes is an error (a kernel config is well below 1 MiB).
    public static func decompress(_ data: [UInt8], limit: Int = 64 << 20) throws(GunzipError) -> [UInt8] {
        guard data.count >= 18 else { throw GunzipError(offset: 0, message: "too short for a gzip file") }
        guard data[0] == 0x1f, data[1] == 0x8b else { throw GunzipError(offset: 0, message: "not gzip (bad magic)") }
        guard data[2] == 8 else { throw GunzipError(offset: 2, message: "compression method \(data[2]) is not deflate") }
        let flags = data[3]
        guard flags & 0xe0 == 0 else { throw GunzipError(offset: 3, message: "reserved flag bits set") }
        var pos = 10
        if flags & 0x04 != 0 {  // FEXTRA
            guard pos + 2 <= data.count else { throw GunzipError(offset: pos, message: "truncated extra field") }
            pos += 2 + (Int(data[pos]) | Int(data[pos + 1]) << 8)
        }
        for flag in [UInt8(0x08), 0x10] where flags & flag != 0 {  // FNAME, FCOMMENT
            while pos < data.count && data[pos] != 0 { pos += 1 }
            pos += 1
        }
        if flags & 0x02 != 0 { pos += 2 }  // FHCRC
        guard pos < data.count - 8 else { throw GunzipError(offset: pos, message: "truncated header") }

        var inflater = Inflater(input: data, start: pos, end: data.count - 8, limit: limit)
        try inflater.run()
        let out = inflater.output
        let trailer = inflater.trailerStart
        guard trailer + 8 <= data.count else { throw GunzipError(offset: trailer, message: "truncated trailer") }
        let crc = readLE32(data, trailer)
        let size = readLE32(data, trailer + 4)
        guard crc == crc32(out) else { throw GunzipError(offset: trailer, message: "CRC-32 mismatch") }
        guard size == UInt32(truncatingIfNeeded: out.count) else { throw GunzipError(offset: trailer + 4, message: "length mismatch") }
        return out
    }

    private static func readLE32(_ d: [UInt8], _ i: Int) -> UInt32 {
        UInt32(d[i]) | UInt32(d[i + 1]) << 8 | UInt32(d[i + 2]) << 16 | UInt32(d[i + 3]) << 24
    }

    /// CRC-32 (IEEE 802.3, reflected, as gzip uses).
    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var table = [UInt32](repeating: 0, count: 256)
        for i in 0..<256 {
            var c = UInt32(i)
            for _ in 0..<8 { c = c & 1 != 0 ? 0xedb8_8320 ^ (c >> 1) : c >> 1 }
            table[i] = c
        }
        var crc: UInt32 = 0xffff_ffff
        for b in bytes { crc = table[Int((crc ^ UInt32(b)) & 0xff)] ^ (crc >> 8) }
        return crc ^ 0xffff_ffff
    }
}

/// A canonical Huffman code: how many codes of each length, and the symbols in code order.
private struct Huffman {
    var counts = [Int](repeating: 0, count: 16)
    var symbols: [Int]

    /// Builds the code from each symbol's code length (0: unused). Over-subscribed sets of
    /// lengths are an error; incomplete ones are allowed (a stream using a missing code fails
    /// when decoding).
    init(lengths: [Int], offset: Int) throws(GunzipError) {
        symbols = [Int](repeating: 0, count: lengths.count)
        for l in lengths { counts[l] += 1 }
        var left = 1
        for len in 1..<16 {
            left <<= 1
            left -= counts[len]
            if left < 0 { throw GunzipError(offset: offset, message: "over-subscribed Huffman code") }
        }
        var offs = [Int](repeating: 0, count: 16)
        for len in 1..<15 { offs[len + 1] = offs[len] + counts[len] }
        for (symbol, l) in lengths.enumerated() where l != 0 {
            symbols[offs[l]] = symbol
            offs[l] += 1
        }
    }
}

private struct Inflater {
    let input: [UInt8]
    var pos: Int
    let end: Int
    let limit: Int
    var bitBuffer = 0
    var bitCount = 0
    var output: [UInt8] = []

    init(input: [UInt8], start: Int, end: Int, limit: Int) {
        self.input = input
        self.pos = start
        self.end = end
        self.limit = limit
    }

    /// Where the 8-byte gzip trailer starts: the byte after the last deflate byte.
    var trailerStart: Int { pos }

    static let lengthBase = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258]
    static let lengthExtra = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0]
    static let distanceBase = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577]
    static let distanceExtra = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13]
    static let codeLengthOrder = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15]

    mutating func bits(_ n: Int) throws(GunzipError) -> Int {
        while bitCount < n {
            guard pos < end else { throw GunzipError(offset: pos, message: "deflate data ends early") }
            bitBuffer |= Int(input[pos]) << bitCount
            pos += 1
            bitCount += 8
        }
        let value = bitBuffer & ((1 << n) - 1)
        bitBuffer >>= n
        bitCount -= n
        return value
    }

    mutating func decode(_ h: Huffman) throws(GunzipError) -> Int {
        var code = 0, first = 0, index = 0
        for len in 1..<16 {
            code |= try bits(1)
            let count = h.counts[len]
            if code - count < first {
                let i = index + (code - first)
                guard i >= 0 && i < h.symbols.count else { break }
                return h.symbols[i]
            }
            index += count
            first += count
            first <<= 1
            code <<= 1
        }
        throw GunzipError(offset: pos, message: "invalid Huffman code")
    }

    mutating func run() throws(GunzipError) {
        var last = false
        while !last {
            last = try bits(1) == 1
            switch try bits(2) {
            case 0: try stored()
            case 1: try fixed()
            case 2: try dynamic()
            default: throw GunzipError(offset: pos, message: "invalid deflate block type 3")
            }
        }
        // The trailer starts at the next whole byte.
        bitBuffer = 0
        bitCount = 0
    }

    mutating func append(_ byte: UInt8) throws(GunzipError) {
        guard output.count < limit else { throw GunzipError(offset: pos, message: "decompressed data exceeds \(limit) bytes") }
        output.append(byte)
    }

    mutating func stored() throws(GunzipError) {
        bitBuffer = 0
        bitCount = 0
        guard pos + 4 <= end else { throw GunzipError(offset: pos, message: "truncated stored block") }
        let len = Int(input[pos]) | Int(input[pos + 1]) << 8
        let nlen = Int(input[pos + 2]) | Int(input[pos + 3]) << 8
        guard len == (~nlen & 0xffff) else { throw GunzipError(offset: pos, message: "stored block length check failed") }
        pos += 4
        guard pos + len <= end else { throw GunzipError(offset: pos, message: "truncated stored block") }
        for i in pos..<(pos + len) { try append(input[i]) }
        pos += len
    }

    mutating func fixed() throws(GunzipError) {
        var lengths = [Int](repeating: 8, count: 288)
        for i in 144..<256 { lengths[i] = 9 }
        for i in 256..<280 { lengths[i] = 7 }
        let literal = try Huffman(lengths: lengths, offset: pos)
        let distance = try Huffman(lengths: [Int](repeating: 5, count: 30), offset: pos)
        try codes(literal, distance)
    }

    mutating func dynamic() throws(GunzipError) {
        let nlen = try bits(5) + 257
        let ndist = try bits(5) + 1
        let ncode = try bits(4) + 4
        guard nlen <= 286, ndist <= 30 else { throw GunzipError(offset: pos, message: "bad dynamic block counts") }
        var codeLengths = [Int](repeating: 0, count: 19)
        for i in 0..<ncode { codeLengths[Inflater.codeLengthOrder[i]] = try bits(3) }
        let lengthCode = try Huffman(lengths: codeLengths, offset: pos)
        var lengths: [Int] = []
        while lengths.count < nlen + ndist {
            let symbol = try decode(lengthCode)
            switch symbol {
            case 0..<16:
                lengths.append(symbol)
            case 16:
                guard let previous = lengths.last else { throw GunzipError(offset: pos, message: "repeat with no previous length") }
                lengths += [Int](repeating: previous, count: 3 + (try bits(2)))
            case 17:
                lengths += [Int](repeating: 0, count: 3 + (try bits(3)))
            default:
                lengths += [Int](repeating: 0, count: 11 + (try bits(7)))
            }
        }
        guard lengths.count == nlen + ndist else { throw GunzipError(offset: pos, message: "code lengths overrun") }
        guard lengths[256] != 0 else { throw GunzipError(offset: pos, message: "no end-of-block code") }
        let literal = try Huffman(lengths: Array(lengths[0..<nlen]), offset: pos)
        let distance = try Huffman(lengths: Array(lengths[nlen...]), offset: pos)
        try codes(literal, distance)
    }

    mutating func codes(_ literal: Huffman, _ distance: Huffman) throws(GunzipError) {
        while true {
            let symbol = try decode(literal)
            if symbol < 256 {
                try append(UInt8(symbol))
            } else if symbol == 256 {
                return
            } else {
                let l = symbol - 257
                guard l < Inflater.lengthBase.count else { throw GunzipError(offset: pos, message: "invalid length code") }
                let length = Inflater.lengthBase[l] + (try bits(Inflater.lengthExtra[l]))
                let d = try decode(distance)
                guard d < Inflater.distanceBase.count else { throw GunzipError(offset: pos, message: "invalid distance code") }
                let dist = Inflater.distanceBase[d] + (try bits(Inflater.distanceExtra[d]))
                guard dist <= output.count else { throw GunzipError(offset: pos, message: "distance \(dist) reaches before the start") }
                for _ in 0..<length { try append(output[output.count - dist]) }
            }
        }
    }
}
