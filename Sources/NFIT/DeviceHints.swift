/// One NVDIMM's Flush Hint Addresses: the first Flush Hint Address structure for its handle.
///
/// Listed in table order (``NFITTable/deviceHints(decoding:)``), as the cache writes them.
public struct NFITDeviceHints: Sendable, Equatable {
    /// The raw NFIT device handle.
    public var handle: UInt32
    /// The hint addresses, in table order.
    public var addresses: [UInt64]

    /// Hints for `handle`.
    public init(handle: UInt32, addresses: [UInt64]) {
        self.handle = handle
        self.addresses = addresses
    }
}

extension NFITTable {
    /// The Flush Hint Addresses of the NFIT `bytes`, one entry per device handle in table order
    /// (the first structure for a handle counts, as in the kernel), from the full decoder: the
    /// one path from table bytes to hints, so what `list` shows is what `nfit` validates.
    ///
    /// - Throws: ``NFITDecodeError`` when the bytes are not a decodable NFIT.
    public static func deviceHints(decoding bytes: [UInt8]) throws(NFITDecodeError) -> [NFITDeviceHints] {
        try decode(bytes).table.deviceHints
    }

    /// The table's Flush Hint Addresses, one entry per device handle in table order (the first
    /// structure for a handle counts, as in the kernel).
    public var deviceHints: [NFITDeviceHints] {
        var result: [NFITDeviceHints] = []
        for f in flushHintStructures where !result.contains(where: { $0.handle == f.deviceHandle.rawValue }) {
            result.append(NFITDeviceHints(handle: f.deviceHandle.rawValue, addresses: f.hintAddresses))
        }
        return result
    }
}
