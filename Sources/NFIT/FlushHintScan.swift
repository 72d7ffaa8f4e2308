/// One NVDIMM's Flush Hint Addresses: the first Flush Hint Address structure for its handle.
///
/// A plain list of these, rather than a dictionary by handle, keeps hashing and generic
/// dictionary metadata out of `flushctl list` (see ``NFITTable/deviceHints(decoding:)``).
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
    /// (the first structure for a handle counts, as in the kernel): what
    /// `try NFITTable.decode(bytes).table.flushHintAddresses` holds, and the same error when
    /// decoding fails, without building the whole table model.
    ///
    /// `flushctl list` needs only the hints. In an emulated host (QEMU TCG), where every distinct
    /// function run costs its translation, the full decode (every structure type, warnings,
    /// cross-checks) is a measurable part of a listing; this walk runs a few dozen lines.
    /// It checks every condition under which ``decode(_:)`` throws, in the same order, and on
    /// any of them calls ``decode(_:)`` itself, so the error (kind, location and message) is
    /// always the decoder's. Warnings are not produced. `FlushHintScanTests` holds it to the
    /// decoder over generated and mutated tables.
    ///
    /// - Throws: ``NFITDecodeError``, from ``decode(_:)``, when the bytes are not a decodable NFIT.
    public static func deviceHints(decoding bytes: [UInt8]) throws(NFITDecodeError) -> [NFITDeviceHints] {
        if let devices = scanDeviceHints(bytes) { return devices }
        var result: [NFITDeviceHints] = []
        for f in try decode(bytes).table.flushHintStructures
        where !result.contains(where: { $0.handle == f.deviceHandle.rawValue }) {
            result.append(NFITDeviceHints(handle: f.deviceHandle.rawValue, addresses: f.hintAddresses))
        }
        return result
    }

    /// The walk of ``deviceHints(decoding:)``: its result when `bytes` pass every check of
    /// ``decode(_:)``, `nil` at the first check they fail (then only the decoder can say why).
    public static func scanDeviceHints(_ bytes: [UInt8]) -> [NFITDeviceHints]? {
        let r = ByteReader(bytes: bytes)
        // The header: signature, size, length (decode's first five checks).
        guard bytes.count >= ACPITableHeader.size,
              bytes[0] == UInt8(ascii: "N"), bytes[1] == UInt8(ascii: "F"),
              bytes[2] == UInt8(ascii: "I"), bytes[3] == UInt8(ascii: "T") else { return nil }
        let length = r.u32(4)
        guard length >= UInt32(headerSize), UInt64(length) <= UInt64(bytes.count) else { return nil }
        let end = Int(length)
        var result: [NFITDeviceHints] = []
        var offset = headerSize
        while offset < end {
            // The subtable header and the length checks, then each type's count checks.
            guard end - offset >= 4 else { return nil }
            let type = r.u16(offset)
            let len = Int(r.u16(offset + 2))
            guard len >= 4, len >= NFITSubtable.minimumLength(ofType: type) ?? 0, len <= end - offset
            else { return nil }
            switch type {
            case 2:
                guard 16 + 4 * UInt64(r.u32(offset + 8)) <= UInt64(len) else { return nil }
            case 4:
                guard r.u16(offset + 30) == 0 || len >= NFITControlRegion.lengthWithWindows else { return nil }
            case 6:
                let count = Int(r.u16(offset + 8))
                guard 16 + 8 * count <= len else { return nil }
                // Only the first structure for a handle counts, as in the kernel.
                let handle = r.u32(offset + 4)
                if !result.contains(where: { $0.handle == handle }) {
                    var hints: [UInt64] = []
                    hints.reserveCapacity(count)
                    for i in 0..<count { hints.append(r.u64(offset + 16 + 8 * i)) }
                    result.append(NFITDeviceHints(handle: handle, addresses: hints))
                }
            default:
                break
            }
            offset += len
        }
        return result
    }
}
