import CZlib

// /proc/config.gz through zlib's inflate (zlib1g is on every Linux host): gzip header, CRC-32
// and length are checked by zlib. Replaces a hand-written DEFLATE decoder.

/// Why gzip data could not be decompressed.
public struct GunzipError: Error, Sendable, Equatable, CustomStringConvertible {
    /// How far into the compressed input the problem was found (bytes zlib had consumed).
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
    /// The decompressed bytes of gzip data: one member or several concatenated (as `gzip`
    /// writes for `cat a.gz b.gz`), each checked against its CRC-32 and length. Output above
    /// `limit` bytes is an error (a kernel config is well below 1 MiB).
    ///
    /// - Throws: ``GunzipError`` for data that is not gzip, is damaged or truncated, or too large.
    public static func decompress(_ data: [UInt8], limit: Int = 64 << 20) throws(GunzipError) -> [UInt8] {
        guard !data.isEmpty else { throw GunzipError(offset: 0, message: "empty, not gzip") }
        // zlib would say "incorrect header check"; the magic number is the likelier mistake.
        guard data[0] == 0x1f, data.count < 2 || data[1] == 0x8b else { throw GunzipError(offset: 0, message: "not gzip (bad magic)") }
        guard data.count <= Int(UInt32.max) else { throw GunzipError(offset: 0, message: "larger than 4 GiB, not a kernel config") }

        var stream = z_stream()
        let started = czlib_inflate_init_gzip(&stream)
        guard started == Z_OK else { throw GunzipError(offset: 0, message: "zlib could not start inflating (error \(started))") }
        defer { inflateEnd(&stream) }

        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        // The loop returns its error instead of throwing, so the closure needs no typed rethrow.
        let failure: GunzipError? = data.withUnsafeBufferPointer { input in
            stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress)
            stream.avail_in = UInt32(input.count)
            while true {
                var produced = 0
                let status = chunk.withUnsafeMutableBufferPointer { out in
                    stream.next_out = out.baseAddress
                    stream.avail_out = UInt32(out.count)
                    let status = inflate(&stream, Z_NO_FLUSH)
                    produced = out.count - Int(stream.avail_out)
                    return status
                }
                let consumed = input.count - Int(stream.avail_in)
                output += chunk[..<produced]
                if output.count > limit {
                    return GunzipError(offset: consumed, message: "decompresses to more than \(limit) bytes")
                }
                switch status {
                case Z_OK:
                    continue
                case Z_STREAM_END:
                    if stream.avail_in == 0 { return nil }
                    // Another member follows: inflate it too (its header is checked like the first).
                    inflateReset(&stream)
                case Z_BUF_ERROR where stream.avail_in == 0:
                    return GunzipError(offset: consumed, message: "truncated: the data ends inside the compressed stream or its trailer")
                case Z_BUF_ERROR:
                    continue
                case Z_DATA_ERROR:
                    let detail = stream.msg.map { String(cString: $0) } ?? "invalid data"
                    return GunzipError(offset: consumed, message: "corrupt: \(detail)")
                case Z_MEM_ERROR:
                    return GunzipError(offset: consumed, message: "zlib ran out of memory")
                case Z_NEED_DICT:
                    return GunzipError(offset: consumed, message: "corrupt: asks for a preset dictionary, which gzip never uses")
                default:
                    return GunzipError(offset: consumed, message: "zlib inflate failed (error \(status))")
                }
            }
        }
        if let failure { throw failure }
        return output
    }
}
