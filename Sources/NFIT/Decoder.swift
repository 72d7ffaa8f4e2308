extension NFITTable {
    /// Decodes and validates an NFIT from its bytes (e.g. `/sys/firmware/acpi/tables/NFIT`).
    ///
    /// Fatal problems (``NFITDecodeError``) are those after which the structure cannot be read
    /// with certainty: not an NFIT, truncated, a header length too small, a subtable of length 0,
    /// shorter than its type's minimum or running past the table, or a count field (hints, lines,
    /// block windows) whose entries do not fit its structure. Everything else is a
    /// ``NFITDecodeWarning``: bad checksum, bytes after the table, extra bytes in a structure,
    /// duplicate SPA range indexes, a memory device map naming a missing SPA range (index 0,
    /// "not mapped", is allowed) or control region, a hint address not 8-byte aligned, a second
    /// flush hint structure for one handle, an unknown subtable type, a SPA location cookie
    /// without its flag or the reverse, and structures older Linux kernels refuse (a flush hint
    /// structure with no hint, an interleave structure with no line).
    ///
    /// Never traps, whatever the input.
    public static func decode(_ bytes: [UInt8]) throws(NFITDecodeError) -> NFITDecodeResult {
        var decoder = Decoder(bytes: bytes)
        let table = try decoder.decode()
        return NFITDecodeResult(table: table, warnings: decoder.warnings)
    }
}

private struct Decoder {
    let r: ByteReader
    var warnings: [NFITDecodeWarning] = []

    init(bytes: [UInt8]) { r = ByteReader(bytes: bytes) }

    mutating func decode() throws(NFITDecodeError) -> NFITTable {
        let count = r.bytes.count
        if count < 4 {
            throw NFITDecodeError(.truncated, .header(offset: 0, field: "signature"),
                                  "is missing: the file has \(count) bytes, an ACPI table header needs 36 (truncated table)")
        }
        let signature = ACPIIdentifier(bytes: r.slice(0, 4), width: 4)
        if signature.bytes != Array("NFIT".utf8) {
            throw NFITDecodeError(.notAnNFIT, .header(offset: 0, field: "signature"),
                                  "= \"\(signature)\": not an NFIT (expected \"NFIT\")")
        }
        if count < ACPITableHeader.size {
            throw NFITDecodeError(.truncated, .header(offset: 0, field: nil),
                                  "the file has \(count) bytes, an ACPI table header needs 36 (truncated table)")
        }
        let length = r.u32(4)
        if length < UInt32(NFITTable.headerSize) {
            throw NFITDecodeError(.badHeaderLength, .header(offset: 4, field: "length"),
                                  "= \(hex(length)) is shorter than the 0x28-byte NFIT header")
        }
        if UInt64(length) > UInt64(count) {
            throw NFITDecodeError(.truncated, .header(offset: 4, field: "length"),
                                  "= \(hex(length)) but only \(hex(count)) bytes were read (truncated table)")
        }
        let end = Int(length)
        if count > end {
            warnings.append(NFITDecodeWarning(.bytesAfterTable, .header(offset: 4, field: "length"),
                                              "= \(hex(length)) but \(hex(count)) bytes were read; the \(count - end) bytes after the table are ignored"))
        }
        let header = ACPITableHeader(
            signature: signature, length: length, revision: r.u8(8), checksum: r.u8(9),
            oemID: ACPIIdentifier(bytes: r.slice(10, 6), width: 6),
            oemTableID: ACPIIdentifier(bytes: r.slice(16, 8), width: 8),
            oemRevision: r.u32(24),
            creatorID: ACPIIdentifier(bytes: r.slice(28, 4), width: 4),
            creatorRevision: r.u32(32))
        var sum: UInt8 = 0
        for i in 0..<end { sum &+= r.bytes[i] }
        if sum != 0 {
            let right = acpiChecksum(Array(r.bytes[0..<end]), checksumOffset: 9)
            warnings.append(NFITDecodeWarning(.badChecksum, .header(offset: 9, field: "checksum"),
                                              "= \(hex(header.checksum)) is wrong: the table's bytes sum to \(hex(sum)), the checksum should be \(hex(right))"))
        }

        var subtables: [NFITSubtable] = []
        var offsets: [Int] = []
        var offset = NFITTable.headerSize
        while offset < end {
            let index = subtables.count
            if end - offset < 4 {
                throw NFITDecodeError(.pastEndOfTable, .subtable(index, type: r.u16(offset), offset: offset, field: "length"),
                                      "is missing: only \(end - offset) bytes are left in the table, a subtable header needs 4")
            }
            let type = r.u16(offset)
            let len = Int(r.u16(offset + 2))
            let loc = { (field: String?) in NFITLocation.subtable(index, type: type, offset: offset, field: field) }
            if len == 0 {
                throw NFITDecodeError(.zeroLength, loc("length"), "= 0: a structure cannot be empty; parsing cannot go on")
            }
            if let minimum = NFITSubtable.minimumLength(ofType: type), len < minimum {
                throw NFITDecodeError(.shorterThanMinimum, loc("length"),
                                      "= \(len) is shorter than the \(minimum) bytes a \(NFITSubtable.name(ofType: type)) structure needs")
            }
            if len < 4 {
                throw NFITDecodeError(.shorterThanMinimum, loc("length"),
                                      "= \(len) is shorter than the 4-byte subtable header")
            }
            if len > end - offset {
                throw NFITDecodeError(.pastEndOfTable, loc("length"),
                                      "= \(len) runs past the end of the table (\(end - offset) bytes left, table length \(hex(end)))")
            }
            subtables.append(try subtable(type: type, at: offset, length: len, index: index))
            offsets.append(offset)
            offset += len
        }
        crossCheck(subtables, offsets)
        return NFITTable(header: header, reserved: r.u32(36), subtables: subtables)
    }

    /// Bytes of the structure past `used`, warning if there are any.
    mutating func trailing(_ o: Int, _ len: Int, used: Int, _ loc: NFITLocation) -> [UInt8] {
        guard len > used else { return [] }
        warnings.append(NFITDecodeWarning(.extraBytesInSubtable, loc,
                                          "= \(len): \(len - used) bytes past the \(used) this structure's fields use; kept, not interpreted"))
        return r.slice(o + used, len - used)
    }

    /// The length a structure of a 16-byte head and `count` entries of `size` bytes needs
    /// (interleave lines, flush hints), the count field at `loc`. Entries that do not fit the
    /// structure's `len` are fatal. A structure with no entry is valid ACPI, but kernels whose
    /// headers still declare `array[1]` need room for one and reject the whole NFIT: a warning.
    mutating func entries(_ count: Int, of size: Int, _ len: Int, _ loc: NFITLocation,
                          structure: String, array: String) throws(NFITDecodeError) -> Int {
        let needed = 16 + size * count
        if needed > len {
            throw NFITDecodeError(.countDoesNotFit, loc,
                                  "= \(count) needs \(needed) bytes but the structure length is \(len)")
        }
        if len < 16 + size {
            warnings.append(NFITDecodeWarning(.shortForOlderKernels, loc,
                                              "= \(count): a \(len)-byte \(structure) structure is valid ACPI, but Linux kernels that still declare \(array)[1] (e.g. 6.1) need \(16 + size) bytes and reject the whole NFIT"))
        }
        return needed
    }

    mutating func subtable(type: UInt16, at o: Int, length len: Int, index: Int) throws(NFITDecodeError) -> NFITSubtable {
        let loc = { (field: String?) in NFITLocation.subtable(index, type: type, offset: o, field: field) }
        switch type {
        case 0:
            let flags = NFITSPARangeFlags(rawValue: r.u16(o + 6))
            let hasCookie = len >= 64
            if flags.contains(.locationCookieValid) && !hasCookie {
                warnings.append(NFITDecodeWarning(.locationCookieMissing, loc("flags"),
                                                  "= \(hex(flags.rawValue)) says the location cookie is valid but the structure length \(len) has no room for it (64 bytes needed)"))
            } else if hasCookie && !flags.contains(.locationCookieValid) {
                warnings.append(NFITDecodeWarning(.locationCookieNotFlagged, loc("length"),
                                                  "= \(len) includes a location cookie but flags = \(hex(flags.rawValue)) do not mark it valid; Linux accepts a SPA range of 64 bytes only with that flag"))
            }
            return .spaRange(NFITSPARange(
                rangeIndex: r.u16(o + 4), flags: flags, reserved: r.u32(o + 8), proximityDomain: r.u32(o + 12),
                rangeType: NFITSPARangeType(guid: NFITGUID(bytes: r.slice(o + 16, 16))),
                base: r.u64(o + 32), length: r.u64(o + 40), memoryMappingAttribute: r.u64(o + 48),
                locationCookie: hasCookie ? r.u64(o + 56) : nil,
                trailing: trailing(o, len, used: hasCookie ? 64 : 56, loc("length"))))
        case 1:
            return .memoryDeviceMap(NFITMemoryDeviceMap(
                deviceHandle: NFITDeviceHandle(rawValue: r.u32(o + 4)), physicalID: r.u16(o + 8),
                regionID: r.u16(o + 10), rangeIndex: r.u16(o + 12), controlRegionIndex: r.u16(o + 14),
                regionSize: r.u64(o + 16), regionOffset: r.u64(o + 24), address: r.u64(o + 32),
                interleaveIndex: r.u16(o + 40), interleaveWays: r.u16(o + 42),
                flags: NFITMemoryDeviceFlags(rawValue: r.u16(o + 44)), reserved: r.u16(o + 46),
                trailing: trailing(o, len, used: 48, loc("length"))))
        case 2:
            let lineCount = Int(r.u32(o + 8))
            let needed = try entries(lineCount, of: 4, len, loc("line_count"), structure: "interleave", array: "line_offset")
            let lines = (0..<lineCount).map { r.u32(o + 16 + 4 * $0) }
            return .interleave(NFITInterleave(
                interleaveIndex: r.u16(o + 4), reserved: r.u16(o + 6), lineSize: r.u32(o + 12), lineOffsets: lines,
                trailing: trailing(o, len, used: needed, loc("length"))))
        case 3:
            return .smbiosManagementInformation(NFITSMBIOSManagementInformation(
                reserved: r.u32(o + 4), data: r.slice(o + 8, len - 8)))
        case 4:
            let windows = r.u16(o + 30)
            if windows != 0 && len < NFITControlRegion.lengthWithWindows {
                throw NFITDecodeError(.countDoesNotFit, loc("window_count"),
                                      "= \(windows) needs the block control window fields (80 bytes) but the structure length is \(len)")
            }
            var control: NFITBlockControlWindows? = nil
            if len >= NFITControlRegion.lengthWithWindows {
                control = NFITBlockControlWindows(
                    windowSize: r.u64(o + 32), commandOffset: r.u64(o + 40), commandSize: r.u64(o + 48),
                    statusOffset: r.u64(o + 56), statusSize: r.u64(o + 64), flags: r.u16(o + 72),
                    reserved: r.slice(o + 74, 6))
            }
            return .controlRegion(NFITControlRegion(
                regionIndex: r.u16(o + 4), vendorID: r.u16(o + 6), deviceID: r.u16(o + 8), revisionID: r.u16(o + 10),
                subsystemVendorID: r.u16(o + 12), subsystemDeviceID: r.u16(o + 14), subsystemRevisionID: r.u16(o + 16),
                validFields: r.u8(o + 18), manufacturingLocation: r.u8(o + 19), manufacturingDate: r.u16(o + 20),
                reserved: r.u16(o + 22), serialNumber: r.u32(o + 24), formatInterfaceCode: r.u16(o + 28),
                windowCount: windows, blockControl: control,
                trailing: trailing(o, len, used: control == nil ? 32 : 80, loc("length"))))
        case 5:
            return .blockDataWindowRegion(NFITBlockDataWindowRegion(
                regionIndex: r.u16(o + 4), windowCount: r.u16(o + 6), offset: r.u64(o + 8), size: r.u64(o + 16),
                capacity: r.u64(o + 24), startAddress: r.u64(o + 32),
                trailing: trailing(o, len, used: 40, loc("length"))))
        case 6:
            let hintCount = Int(r.u16(o + 8))
            let needed = try entries(hintCount, of: 8, len, loc("hint_count"), structure: "flush hint", array: "hint_address")
            let hints = (0..<hintCount).map { r.u64(o + 16 + 8 * $0) }
            for (i, h) in hints.enumerated() where h % 8 != 0 {
                warnings.append(NFITDecodeWarning(.unalignedHintAddress, loc("hint_address[\(i)]"),
                                                  "= \(hex(h)) is not 8-byte aligned (the kernel writes 8 bytes there)"))
            }
            return .flushHintAddress(NFITFlushHintAddress(
                deviceHandle: NFITDeviceHandle(rawValue: r.u32(o + 4)), reserved: r.slice(o + 10, 6),
                hintAddresses: hints, trailing: trailing(o, len, used: needed, loc("length"))))
        case 7:
            return .platformCapabilities(NFITPlatformCapabilities(
                highestCapability: r.u8(o + 4), reserved: r.slice(o + 5, 3),
                capabilities: NFITPlatformCapabilityFlags(rawValue: r.u32(o + 8)), reserved2: r.u32(o + 12),
                trailing: trailing(o, len, used: 16, loc("length"))))
        default:
            warnings.append(NFITDecodeWarning(.unknownSubtableType, loc("type"),
                                              "= \(type) is not a structure type this version knows; kept as \(len) raw bytes"))
            return .unknown(NFITUnknownSubtable(type: type, body: r.slice(o + 4, len - 4)))
        }
    }

    /// Checks between structures: index references and duplicates.
    mutating func crossCheck(_ subtables: [NFITSubtable], _ offsets: [Int]) {
        var spaIndexes = Set<UInt16>()
        var controlIndexes = Set<UInt16>()
        for (i, s) in subtables.enumerated() {
            switch s {
            case .spaRange(let spa):
                if !spaIndexes.insert(spa.rangeIndex).inserted {
                    warnings.append(NFITDecodeWarning(.duplicateSPARangeIndex,
                                                      .subtable(i, type: 0, offset: offsets[i], field: "range_index"),
                                                      "= \(spa.rangeIndex) is used by an earlier SPA range structure too"))
                }
            case .controlRegion(let dcr):
                controlIndexes.insert(dcr.regionIndex)
            default: break
            }
        }
        var flushHandles = Set<UInt32>()
        for (i, s) in subtables.enumerated() {
            switch s {
            case .memoryDeviceMap(let m):
                if m.rangeIndex != 0 && !spaIndexes.contains(m.rangeIndex) {
                    warnings.append(NFITDecodeWarning(.missingSPARange,
                                                      .subtable(i, type: 1, offset: offsets[i], field: "range_index"),
                                                      "= \(m.rangeIndex) names no SPA range structure (device handle \(m.deviceHandle))"))
                }
                if m.controlRegionIndex != 0 && !controlIndexes.contains(m.controlRegionIndex) {
                    warnings.append(NFITDecodeWarning(.missingControlRegion,
                                                      .subtable(i, type: 1, offset: offsets[i], field: "control_region_index"),
                                                      "= \(m.controlRegionIndex) names no NVDIMM control region structure (device handle \(m.deviceHandle)); Linux refuses such a table"))
                }
            case .flushHintAddress(let f):
                if !flushHandles.insert(f.deviceHandle.rawValue).inserted {
                    warnings.append(NFITDecodeWarning(.duplicateFlushHintStructure,
                                                      .subtable(i, type: 6, offset: offsets[i], field: "device_handle"),
                                                      "= \(f.deviceHandle) already has a flush hint structure; like the kernel, only the first counts"))
                }
            default: break
            }
        }
    }
}
