/// A size as flushctl options take them: a number of bytes with an optional binary suffix `K`,
/// `M`, `G` (KiB, MiB, GiB; `k`/`KiB`/`KB` accepted too), such as `4K` or `2M`.
public struct ByteSize: Sendable, Equatable, CustomStringConvertible {
    /// The number of bytes.
    public var bytes: Int

    /// A size of `bytes`.
    public init(bytes: Int) { self.bytes = bytes }

    /// The size the short way (``format(_:)``).
    public var description: String { Self.format(bytes) }

    /// Why a size was refused.
    public struct ParseError: Error, Sendable, Equatable, CustomStringConvertible {
        /// The one-line message.
        public var description: String
    }

    /// The number of bytes `text` stands for.
    public static func parse(_ text: String) throws(ParseError) -> Int {
        let digits = text.prefix { $0.isASCII && $0.isNumber }
        let suffix = text.dropFirst(digits.count).uppercased()
        guard !digits.isEmpty, let number = Int(digits) else {
            throw ParseError(description: "size '\(text)' is not a number of bytes with an optional K, M or G suffix")
        }
        let shift: Int
        switch suffix {
        case "", "B": shift = 0
        case "K", "KB", "KIB": shift = 10
        case "M", "MB", "MIB": shift = 20
        case "G", "GB", "GIB": shift = 30
        default:
            throw ParseError(description: "size '\(text)' has an unknown suffix '\(text.dropFirst(digits.count))' (use K, M or G)")
        }
        let (bytes, overflow) = number.multipliedReportingOverflow(by: 1 << shift)
        guard !overflow else { throw ParseError(description: "size '\(text)' is too large") }
        return bytes
    }

    /// `bytes` the short way: `4K`, `2M`, `1536` (exact multiples only).
    public static func format(_ bytes: Int) -> String {
        for (shift, unit) in [(30, "G"), (20, "M"), (10, "K")] where bytes >= 1 << shift && bytes % (1 << shift) == 0 {
            return "\(bytes >> shift)\(unit)"
        }
        return "\(bytes)"
    }
}
