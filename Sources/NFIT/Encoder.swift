extension NFITTable {
    /// Encodes the table: header with the real length and checksum (whatever ``header`` says),
    /// the reserved bytes, then every subtable with its real length and count fields.
    ///
    /// Byte-exact with ``decode(_:)``: for every valid table `b` (checksum right, length equal
    /// to the bytes), `encode(decode(b).table) == b`, unknown subtables, reserved and extra
    /// bytes included; and `decode(encode(t)).table == t.sealed()`.
    /// Throws when a value does not fit its field (more than 65535 hints, a structure longer
    /// than 65535 bytes, a table longer than 4 GiB).
    public func encode() throws(NFITEncodeError) -> [UInt8] {
        var w = ByteWriter()
        header.write(into: &w)
        w.u32(reserved)
        for (index, subtable) in subtables.enumerated() {
            try subtable.encode(into: &w, index: index)
        }
        guard w.bytes.count <= Int(UInt32.max) else {
            throw NFITEncodeError(subtableIndex: nil, field: "length", detail: "= \(w.bytes.count) exceeds 4 GiB")
        }
        ACPITableHeader.seal(&w)
        return w.bytes
    }

    /// The table with ``ACPITableHeader/length`` and ``ACPITableHeader/checksum`` set to what
    /// ``encode()`` writes, so that `decode(encode(t)).table == t` holds for the result.
    public func sealed() throws(NFITEncodeError) -> NFITTable {
        let bytes = try encode()
        var copy = self
        copy.header.length = UInt32(bytes.count)
        copy.header.checksum = bytes[9]
        return copy
    }
}

extension NFITSubtable {
    fileprivate func encode(into w: inout ByteWriter, index: Int) throws(NFITEncodeError) {
        let start = w.bytes.count
        w.u16(type)
        w.u16(0)  // length, patched below
        switch self {
        case .spaRange(let s):
            w.u16(s.rangeIndex); w.u16(s.flags.rawValue); w.u32(s.reserved); w.u32(s.proximityDomain)
            w.fixed(s.rangeType.guid.bytes, width: 16)
            w.u64(s.base); w.u64(s.length); w.u64(s.memoryMappingAttribute)
            if let cookie = s.locationCookie { w.u64(cookie) }
            w.raw(s.trailing)
        case .memoryDeviceMap(let m):
            w.u32(m.deviceHandle.rawValue); w.u16(m.physicalID); w.u16(m.regionID); w.u16(m.rangeIndex)
            w.u16(m.controlRegionIndex); w.u64(m.regionSize); w.u64(m.regionOffset); w.u64(m.address)
            w.u16(m.interleaveIndex); w.u16(m.interleaveWays); w.u16(m.flags.rawValue); w.u16(m.reserved)
            w.raw(m.trailing)
        case .interleave(let i):
            guard i.lineOffsets.count <= 0x3FFF else {
                throw NFITEncodeError(subtableIndex: index, field: "line_count",
                                      detail: "= \(i.lineOffsets.count) lines do not fit a 65535-byte structure")
            }
            w.u16(i.interleaveIndex); w.u16(i.reserved); w.u32(UInt32(i.lineOffsets.count)); w.u32(i.lineSize)
            for line in i.lineOffsets { w.u32(line) }
            w.raw(i.trailing)
        case .smbiosManagementInformation(let s):
            w.u32(s.reserved); w.raw(s.data)
        case .controlRegion(let d):
            w.u16(d.regionIndex); w.u16(d.vendorID); w.u16(d.deviceID); w.u16(d.revisionID)
            w.u16(d.subsystemVendorID); w.u16(d.subsystemDeviceID); w.u16(d.subsystemRevisionID)
            w.u8(d.validFields); w.u8(d.manufacturingLocation); w.u16(d.manufacturingDate); w.u16(d.reserved)
            w.u32(d.serialNumber); w.u16(d.formatInterfaceCode); w.u16(d.windowCount)
            if let b = d.blockControl {
                w.u64(b.windowSize); w.u64(b.commandOffset); w.u64(b.commandSize)
                w.u64(b.statusOffset); w.u64(b.statusSize); w.u16(b.flags); w.fixed(b.reserved, width: 6)
            } else if d.windowCount != 0 {
                throw NFITEncodeError(subtableIndex: index, field: "window_count",
                                      detail: "= \(d.windowCount) needs the block control window fields, which are missing")
            }
            w.raw(d.trailing)
        case .blockDataWindowRegion(let b):
            w.u16(b.regionIndex); w.u16(b.windowCount); w.u64(b.offset); w.u64(b.size)
            w.u64(b.capacity); w.u64(b.startAddress)
            w.raw(b.trailing)
        case .flushHintAddress(let f):
            guard f.hintAddresses.count <= Int(UInt16.max) else {
                throw NFITEncodeError(subtableIndex: index, field: "hint_count",
                                      detail: "= \(f.hintAddresses.count) exceeds 65535")
            }
            w.u32(f.deviceHandle.rawValue); w.u16(UInt16(f.hintAddresses.count)); w.fixed(f.reserved, width: 6)
            for h in f.hintAddresses { w.u64(h) }
            w.raw(f.trailing)
        case .platformCapabilities(let p):
            w.u8(p.highestCapability); w.fixed(p.reserved, width: 3); w.u32(p.capabilities.rawValue)
            w.u32(p.reserved2)
            w.raw(p.trailing)
        case .unknown(let u):
            w.raw(u.body)
        }
        let length = w.bytes.count - start
        guard length <= Int(UInt16.max) else {
            throw NFITEncodeError(subtableIndex: index, field: "length", detail: "= \(length) exceeds 65535")
        }
        w.patchU16(UInt16(length), at: start + 2)
    }
}

extension NFITSubtable {
    /// The structure's length in bytes as ``NFITTable/encode()`` writes it (for a decoded
    /// structure: its length field).
    public var encodedLength: Int {
        switch self {
        case .spaRange(let s): return (s.locationCookie == nil ? 56 : 64) + s.trailing.count
        case .memoryDeviceMap(let m): return 48 + m.trailing.count
        case .interleave(let i): return 16 + 4 * i.lineOffsets.count + i.trailing.count
        case .smbiosManagementInformation(let s): return 8 + s.data.count
        case .controlRegion(let d): return (d.blockControl == nil ? 32 : 80) + d.trailing.count
        case .blockDataWindowRegion(let b): return 40 + b.trailing.count
        case .flushHintAddress(let f): return 16 + 8 * f.hintAddresses.count + f.trailing.count
        case .platformCapabilities(let p): return 16 + p.trailing.count
        case .unknown(let u): return 4 + u.body.count
        }
    }
}

extension NFITTable {
    /// The byte offset of each subtable from the start of the table, as ``encode()`` lays them
    /// out (for a decoded table: where each one was read).
    public var subtableOffsets: [Int] {
        var offsets: [Int] = []
        var offset = NFITTable.headerSize
        for s in subtables {
            offsets.append(offset)
            offset += s.encodedLength
        }
        return offsets
    }
}

extension ACPITableHeader {
    /// Writes the 36-byte header with length and checksum 0; ``seal(_:)`` fills them in once
    /// the whole table is written. The one header writer of the NFIT and the SSDT.
    func write(into w: inout ByteWriter) {
        w.fixed(signature.bytes, width: 4)
        w.u32(0)  // length, patched by seal
        w.u8(revision)
        w.u8(0)  // checksum, patched by seal
        w.fixed(oemID.bytes, width: 6)
        w.fixed(oemTableID.bytes, width: 8)
        w.u32(oemRevision)
        w.fixed(creatorID.bytes, width: 4)
        w.u32(creatorRevision)
    }

    /// Sets the length field to the table's size (at most 4 GiB, checked by the caller) and the
    /// checksum byte so that all bytes sum to 0.
    static func seal(_ w: inout ByteWriter) {
        w.patchU32(UInt32(truncatingIfNeeded: w.bytes.count), at: 4)
        w.bytes[9] = acpiChecksum(w.bytes, checksumOffset: 9)
    }
}
