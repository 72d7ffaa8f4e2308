import OrderedJSON

// The decoded table as `flushctl nfit show` prints it: one ordered list of fields per header
// and subtable, which the JSON and the command's text both show.

extension NFITDecodeResult {
    /// The whole table as JSON: header fields, subtables, and warnings (only if there are any).
    public func json(checksumValid: Bool) -> JSONValue {
        var members = table.headerFields(checksumValid: checksumValid)
        let offsets = table.subtableOffsets
        members.append(("subtables", .array(table.subtables.enumerated().map { i, s in
            .object(s.fields(index: i, offset: offsets[i]))
        })))
        if !warnings.isEmpty {
            members.append(("warnings", .array(warnings.map { .string($0.description) })))
        }
        return .object(members)
    }
}

extension NFITTable {
    /// The header's fields, as `flushctl nfit show` prints them.
    public func headerFields(checksumValid: Bool) -> [(String, JSONValue)] {
        let h = header
        return [
            ("signature", .string(h.signature.description)),
            ("length", .integer(h.length)),
            ("revision", .integer(h.revision)),
            ("checksum", .hex(h.checksum)),
            ("checksum_valid", .bool(checksumValid)),
            ("oem_id", .string(h.oemID.description)),
            ("oem_table_id", .string(h.oemTableID.description)),
            ("oem_revision", .hex(h.oemRevision)),
            ("creator_id", .string(h.creatorID.description)),
            ("creator_revision", .hex(h.creatorRevision)),
            ("reserved", .hex(reserved)),
        ]
    }
}

extension NFITSubtable {
    /// The subtable's fields, starting with index, offset, type, name and length.
    public func fields(index: Int, offset: Int) -> [(String, JSONValue)] { NFITFields.subtableFields(self, index: index, offset: offset) }
}

/// The field builders behind ``NFITSubtable/fields(index:offset:)``.
enum NFITFields {

    static func bytesHex(_ b: [UInt8]) -> JSONValue {
        .string(b.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined())
    }

    static func handleFields(_ h: NFITDeviceHandle) -> [(String, JSONValue)] {
        [
            ("device_handle", .hex(h.rawValue)),
            ("device_handle_fields", .object([
                ("node_controller", .integer(h.nodeController)),
                ("socket", .integer(h.socket)),
                ("memory_controller", .integer(h.memoryController)),
                ("memory_channel", .integer(h.memoryChannel)),
                ("dimm_number", .integer(h.dimmNumber)),
            ])),
        ]
    }

    static func names<F: OptionSet>(_ flags: F, _ table: [(F, String)]) -> JSONValue where F.Element == F {
        .array(table.filter { flags.contains($0.0) }.map { .string($0.1) })
    }

    /// The fields of one subtable, starting with index, offset, type, name and length.
    static func subtableFields(_ s: NFITSubtable, index: Int, offset: Int) -> [(String, JSONValue)] {
        var f: [(String, JSONValue)] = [
            ("index", .integer(index)),
            ("offset", .hex(offset)),
            ("type", .integer(s.type)),
            ("name", .string(s.name)),
            ("length", .integer(s.encodedLength)),
        ]
        var extra: [UInt8] = []
        switch s {
        case .spaRange(let r):
            f += [
                ("range_index", .integer(r.rangeIndex)),
                ("flags", .hex(r.flags.rawValue)),
                ("flag_names", names(r.flags, [(.addOnlineOnly, "add_online_only"),
                                               (.proximityDomainValid, "proximity_domain_valid"),
                                               (.locationCookieValid, "location_cookie_valid")])),
                ("reserved", .hex(r.reserved)),
                ("proximity_domain", .integer(r.proximityDomain)),
                ("range_type", .string(r.rangeType.name)),
                ("range_type_guid", .string(r.rangeType.guid.description)),
                ("spa_base", .hex(r.base)),
                ("spa_length", .hex(r.length)),
                ("memory_mapping_attribute", .hex(r.memoryMappingAttribute)),
            ]
            if let cookie = r.locationCookie { f.append(("location_cookie", .hex(cookie))) }
            extra = r.trailing
        case .memoryDeviceMap(let m):
            f += handleFields(m.deviceHandle)
            f += [
                ("physical_id", .hex(m.physicalID)),
                ("region_id", .integer(m.regionID)),
                ("range_index", .integer(m.rangeIndex)),
                ("control_region_index", .integer(m.controlRegionIndex)),
                ("region_size", .hex(m.regionSize)),
                ("region_offset", .hex(m.regionOffset)),
                ("dpa", .hex(m.address)),
                ("interleave_index", .integer(m.interleaveIndex)),
                ("interleave_ways", .integer(m.interleaveWays)),
                ("flags", .hex(m.flags.rawValue)),
                ("state", names(m.flags, NFITMemoryDeviceFlags.names)),
                ("reserved", .hex(m.reserved)),
            ]
            extra = m.trailing
        case .interleave(let i):
            f += [
                ("interleave_index", .integer(i.interleaveIndex)),
                ("reserved", .hex(i.reserved)),
                ("line_count", .integer(i.lineOffsets.count)),
                ("line_size", .hex(i.lineSize)),
                ("line_offsets", .array(i.lineOffsets.map { .integer($0) })),
            ]
            extra = i.trailing
        case .smbiosManagementInformation(let m):
            f += [("reserved", .hex(m.reserved)), ("data", bytesHex(m.data))]
        case .controlRegion(let d):
            f += [
                ("region_index", .integer(d.regionIndex)),
                ("vendor_id", .hex(d.vendorID)),
                ("device_id", .hex(d.deviceID)),
                ("revision_id", .hex(d.revisionID)),
                ("subsystem_vendor_id", .hex(d.subsystemVendorID)),
                ("subsystem_device_id", .hex(d.subsystemDeviceID)),
                ("subsystem_revision_id", .hex(d.subsystemRevisionID)),
                ("valid_fields", .hex(d.validFields)),
                ("manufacturing_location", .hex(d.manufacturingLocation)),
                ("manufacturing_date", .hex(d.manufacturingDate)),
                ("reserved", .hex(d.reserved)),
                ("serial_number", .hex(d.serialNumber)),
                ("format_interface_code", .hex(d.formatInterfaceCode)),
                ("window_count", .integer(d.windowCount)),
            ]
            if let b = d.blockControl {
                f += [
                    ("window_size", .hex(b.windowSize)),
                    ("command_offset", .hex(b.commandOffset)),
                    ("command_size", .hex(b.commandSize)),
                    ("status_offset", .hex(b.statusOffset)),
                    ("status_size", .hex(b.statusSize)),
                    ("control_flags", .hex(b.flags)),
                    ("windows_buffered", .bool(b.buffered)),
                    ("reserved1", bytesHex(b.reserved)),
                ]
            }
            extra = d.trailing
        case .blockDataWindowRegion(let b):
            f += [
                ("region_index", .integer(b.regionIndex)),
                ("window_count", .integer(b.windowCount)),
                ("offset_in_range", .hex(b.offset)),
                ("window_size", .hex(b.size)),
                ("capacity", .hex(b.capacity)),
                ("start_address", .hex(b.startAddress)),
            ]
            extra = b.trailing
        case .flushHintAddress(let h):
            f += handleFields(h.deviceHandle)
            f += [
                ("hint_count", .integer(h.hintAddresses.count)),
                ("reserved", bytesHex(h.reserved)),
                ("hint_addresses", .array(h.hintAddresses.map { .hex($0) })),
            ]
            extra = h.trailing
        case .platformCapabilities(let p):
            f += [
                ("highest_capability", .integer(p.highestCapability)),
                ("reserved", bytesHex(p.reserved)),
                ("capabilities", .hex(p.capabilities.rawValue)),
                ("effective_capabilities", names(p.effectiveCapabilities, NFITPlatformCapabilityFlags.names)),
                ("reserved2", .hex(p.reserved2)),
            ]
            extra = p.trailing
        case .unknown(let u):
            f.append(("body", bytesHex(u.body)))
        }
        if !extra.isEmpty { f.append(("extra_bytes", bytesHex(extra))) }
        return f
    }
}
