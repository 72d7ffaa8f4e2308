/// The standard 36-byte ACPI system description table header (ACPI 6.x, 5.2.6).
public struct ACPITableHeader: Sendable, Equatable {
    /// The table signature; `"NFIT"` for an NFIT.
    public var signature: ACPIIdentifier
    /// The length of the whole table in bytes, header included, as the table states it.
    /// ``NFITTable/encode()`` always writes the real length; ``NFITTable/sealed()`` updates this field.
    public var length: UInt32
    /// The table revision (1 for every NFIT defined so far).
    public var revision: UInt8
    /// The checksum byte as the table holds it: all bytes of a valid table sum to 0 mod 256.
    /// ``NFITTable/encode()`` always writes the right one; ``NFITTable/sealed()`` updates this field.
    public var checksum: UInt8
    /// The OEM ID (6 bytes).
    public var oemID: ACPIIdentifier
    /// The OEM table ID (8 bytes).
    public var oemTableID: ACPIIdentifier
    /// The OEM revision.
    public var oemRevision: UInt32
    /// The ID of the tool that created the table (4 bytes; iasl writes `"INTL"`).
    public var creatorID: ACPIIdentifier
    /// The revision of the tool that created the table.
    public var creatorRevision: UInt32

    /// A header; length and checksum start at 0 and are filled in by ``NFITTable/sealed()``.
    public init(
        signature: String = "NFIT", length: UInt32 = 0, revision: UInt8 = 1, checksum: UInt8 = 0,
        oemID: String = "FLUSHC", oemTableID: String = "FLUSHCTL", oemRevision: UInt32 = 1,
        creatorID: String = "FLCT", creatorRevision: UInt32 = 1
    ) {
        self.signature = ACPIIdentifier(signature, width: 4)
        self.length = length
        self.revision = revision
        self.checksum = checksum
        self.oemID = ACPIIdentifier(oemID, width: 6)
        self.oemTableID = ACPIIdentifier(oemTableID, width: 8)
        self.oemRevision = oemRevision
        self.creatorID = ACPIIdentifier(creatorID, width: 4)
        self.creatorRevision = creatorRevision
    }

    /// A header from identifiers kept byte for byte (as the decoder makes it).
    public init(signature: ACPIIdentifier, length: UInt32, revision: UInt8, checksum: UInt8,
                oemID: ACPIIdentifier, oemTableID: ACPIIdentifier, oemRevision: UInt32,
                creatorID: ACPIIdentifier, creatorRevision: UInt32) {
        self.signature = ACPIIdentifier(bytes: signature.bytes, width: 4)
        self.length = length
        self.revision = revision
        self.checksum = checksum
        self.oemID = ACPIIdentifier(bytes: oemID.bytes, width: 6)
        self.oemTableID = ACPIIdentifier(bytes: oemTableID.bytes, width: 8)
        self.oemRevision = oemRevision
        self.creatorID = ACPIIdentifier(bytes: creatorID.bytes, width: 4)
        self.creatorRevision = creatorRevision
    }

    /// Size of the header in bytes.
    public static let size = 36
}

/// The NVDIMM Firmware Interface Table (ACPI 6.x, 5.2.25): header, 4 reserved bytes,
/// then subtables in table order.
public struct NFITTable: Sendable, Equatable {
    /// The ACPI table header.
    public var header: ACPITableHeader
    /// The 4 reserved bytes after the header (a little-endian `UInt32`), kept as read.
    public var reserved: UInt32
    /// The subtables in table order.
    public var subtables: [NFITSubtable]

    /// A table from its parts. Call ``sealed()`` to fill in the header's length and checksum.
    public init(header: ACPITableHeader = ACPITableHeader(), reserved: UInt32 = 0, subtables: [NFITSubtable]) {
        self.header = header
        self.reserved = reserved
        self.subtables = subtables
    }

    /// Bytes before the first subtable: the ACPI header and the NFIT's 4 reserved bytes.
    public static let headerSize = 40
}

/// One NFIT subtable (structure), by type.
public enum NFITSubtable: Sendable, Equatable {
    /// Type 0: System Physical Address (SPA) Range.
    case spaRange(NFITSPARange)
    /// Type 1: NVDIMM Region Mapping (memory device to SPA range map).
    case memoryDeviceMap(NFITMemoryDeviceMap)
    /// Type 2: Interleave.
    case interleave(NFITInterleave)
    /// Type 3: SMBIOS Management Information.
    case smbiosManagementInformation(NFITSMBIOSManagementInformation)
    /// Type 4: NVDIMM Control Region.
    case controlRegion(NFITControlRegion)
    /// Type 5: NVDIMM Block Data Window Region.
    case blockDataWindowRegion(NFITBlockDataWindowRegion)
    /// Type 6: Flush Hint Address.
    case flushHintAddress(NFITFlushHintAddress)
    /// Type 7: Platform Capabilities.
    case platformCapabilities(NFITPlatformCapabilities)
    /// A type this code does not know, kept as raw bytes.
    case unknown(NFITUnknownSubtable)

    /// The structure type number the table holds.
    public var type: UInt16 {
        switch self {
        case .spaRange: return 0
        case .memoryDeviceMap: return 1
        case .interleave: return 2
        case .smbiosManagementInformation: return 3
        case .controlRegion: return 4
        case .blockDataWindowRegion: return 5
        case .flushHintAddress: return 6
        case .platformCapabilities: return 7
        case .unknown(let u): return u.type
        }
    }

    /// The structure's name as messages print it, e.g. `flush hint address`.
    public var name: String { NFITSubtable.name(ofType: type) }

    /// The name of structure type `type`, e.g. `"flush hint address"` for 6.
    public static func name(ofType type: UInt16) -> String {
        switch type {
        case 0: return "SPA range"
        case 1: return "memory device to SPA range map"
        case 2: return "interleave"
        case 3: return "SMBIOS management information"
        case 4: return "NVDIMM control region"
        case 5: return "NVDIMM block data window region"
        case 6: return "flush hint address"
        case 7: return "platform capabilities"
        default: return "unknown type \(type)"
        }
    }

    /// The smallest structure length the type allows (ACPI 6.x; the kernel rejects shorter ones).
    /// `nil` for an unknown type, which only needs its 4-byte type/length header.
    public static func minimumLength(ofType type: UInt16) -> Int? {
        switch type {
        case 0: return NFITSPARange.minimumLength
        case 1: return NFITMemoryDeviceMap.minimumLength
        case 2: return NFITInterleave.minimumLength
        case 3: return NFITSMBIOSManagementInformation.minimumLength
        case 4: return NFITControlRegion.minimumLength
        case 5: return NFITBlockDataWindowRegion.minimumLength
        case 6: return NFITFlushHintAddress.minimumLength
        case 7: return NFITPlatformCapabilities.minimumLength
        default: return nil
        }
    }
}

/// Flags of a SPA Range structure.
public struct NFITSPARangeFlags: OptionSet, Sendable, Hashable {
    /// The raw 16-bit field; bits without a name are kept.
    public var rawValue: UInt16
    /// Flags from the raw field.
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    /// Bit 0: control region for management during hot add/online operation only.
    public static let addOnlineOnly = NFITSPARangeFlags(rawValue: 1 << 0)
    /// Bit 1: the proximity domain field is valid.
    public static let proximityDomainValid = NFITSPARangeFlags(rawValue: 1 << 1)
    /// Bit 2 (ACPI 6.4): the SPA location cookie field is valid.
    public static let locationCookieValid = NFITSPARangeFlags(rawValue: 1 << 2)
}

/// Type 0: a System Physical Address Range (56 bytes; 64 with the ACPI 6.4 location cookie).
public struct NFITSPARange: Sendable, Equatable {
    /// Range index, referenced by memory device maps (`range_index`); 0 is reserved.
    public var rangeIndex: UInt16
    /// Flags.
    public var flags: NFITSPARangeFlags
    /// Reserved 4 bytes, kept as read.
    public var reserved: UInt32
    /// Proximity domain (valid if ``NFITSPARangeFlags/proximityDomainValid``).
    public var proximityDomain: UInt32
    /// The range's type, from its Address Range Type GUID.
    public var rangeType: NFITSPARangeType
    /// System physical address of the start of the range.
    public var base: UInt64
    /// Length of the range in bytes.
    public var length: UInt64
    /// EFI memory mapping attributes (e.g. `EFI_MEMORY_WB | EFI_MEMORY_NV` = 0x8008).
    public var memoryMappingAttribute: UInt64
    /// The ACPI 6.4 SPA location cookie, present when the structure is 64 bytes or longer.
    public var locationCookie: UInt64?
    /// Bytes past the fields this type defines, kept so the table encodes back unchanged.
    public var trailing: [UInt8]

    /// A SPA range structure.
    public init(rangeIndex: UInt16, flags: NFITSPARangeFlags = [.proximityDomainValid], reserved: UInt32 = 0,
                proximityDomain: UInt32 = 0, rangeType: NFITSPARangeType, base: UInt64, length: UInt64,
                memoryMappingAttribute: UInt64 = 0, locationCookie: UInt64? = nil, trailing: [UInt8] = []) {
        self.rangeIndex = rangeIndex; self.flags = flags; self.reserved = reserved
        self.proximityDomain = proximityDomain; self.rangeType = rangeType; self.base = base
        self.length = length; self.memoryMappingAttribute = memoryMappingAttribute
        self.locationCookie = locationCookie; self.trailing = trailing
    }

    /// The shortest valid structure (ACPI 6.0 to 6.3).
    public static let minimumLength = 56
}

/// State flags of a memory device to SPA range map (ACPI "NVDIMM State Flags").
public struct NFITMemoryDeviceFlags: OptionSet, Sendable, Hashable {
    /// The raw 16-bit field; bits without a name are kept.
    public var rawValue: UInt16
    /// Flags from the raw field.
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    /// Bit 0: the previous save to the memory device failed.
    public static let saveFailed = NFITMemoryDeviceFlags(rawValue: 1 << 0)
    /// Bit 1: the last restore from the memory device failed.
    public static let restoreFailed = NFITMemoryDeviceFlags(rawValue: 1 << 1)
    /// Bit 2: the platform flush of data to the memory device failed.
    public static let flushFailed = NFITMemoryDeviceFlags(rawValue: 1 << 2)
    /// Bit 3: the device is not armed: it will not persist data on power loss.
    public static let notArmed = NFITMemoryDeviceFlags(rawValue: 1 << 3)
    /// Bit 4: the device observed SMART and health events before OSPM took over.
    public static let smartEventsObserved = NFITMemoryDeviceFlags(rawValue: 1 << 4)
    /// Bit 5: firmware is enabled to notify OSPM of SMART and health events.
    public static let healthEventsEnabled = NFITMemoryDeviceFlags(rawValue: 1 << 5)
    /// Bit 6: the platform could not map the device into a SPA range.
    public static let mapFailed = NFITMemoryDeviceFlags(rawValue: 1 << 6)

    /// Every named flag with its name, in bit order, as the CLI prints them.
    public static let names: [(NFITMemoryDeviceFlags, String)] = [
        (.saveFailed, "save_failed"), (.restoreFailed, "restore_failed"), (.flushFailed, "flush_failed"),
        (.notArmed, "not_armed"), (.smartEventsObserved, "smart_events_observed"),
        (.healthEventsEnabled, "health_events_enabled"), (.mapFailed, "map_failed"),
    ]
}

/// Type 1: maps (part of) an NVDIMM into a SPA range (48 bytes).
public struct NFITMemoryDeviceMap: Sendable, Equatable {
    /// The DIMM's device handle.
    public var deviceHandle: NFITDeviceHandle
    /// SMBIOS handle of the Memory Device (type 17) structure for this DIMM.
    public var physicalID: UInt16
    /// Identifier of this region, unique among the DIMM's regions.
    public var regionID: UInt16
    /// Index of the SPA range this maps into; 0 means not mapped (e.g. a DIMM whose mapping failed).
    public var rangeIndex: UInt16
    /// Index of the DIMM's NVDIMM control region structure.
    public var controlRegionIndex: UInt16
    /// Size of the DIMM's part of the region in bytes.
    public var regionSize: UInt64
    /// Offset of the DIMM's first byte in the SPA range (SPA base + offset = start).
    public var regionOffset: UInt64
    /// Device physical address on the DIMM where the region starts.
    public var address: UInt64
    /// Index of the interleave structure describing this mapping; 0 when not interleaved.
    public var interleaveIndex: UInt16
    /// Number of DIMMs in the interleave set (1 when not interleaved).
    public var interleaveWays: UInt16
    /// State flags.
    public var flags: NFITMemoryDeviceFlags
    /// Reserved 2 bytes, kept as read.
    public var reserved: UInt16
    /// Bytes past the fields this type defines, kept so the table encodes back unchanged.
    public var trailing: [UInt8]

    /// A memory device to SPA range map structure.
    public init(deviceHandle: NFITDeviceHandle, physicalID: UInt16 = 0, regionID: UInt16 = 0, rangeIndex: UInt16,
                controlRegionIndex: UInt16, regionSize: UInt64, regionOffset: UInt64 = 0, address: UInt64 = 0,
                interleaveIndex: UInt16 = 0, interleaveWays: UInt16 = 1, flags: NFITMemoryDeviceFlags = [],
                reserved: UInt16 = 0, trailing: [UInt8] = []) {
        self.deviceHandle = deviceHandle; self.physicalID = physicalID; self.regionID = regionID
        self.rangeIndex = rangeIndex; self.controlRegionIndex = controlRegionIndex; self.regionSize = regionSize
        self.regionOffset = regionOffset; self.address = address; self.interleaveIndex = interleaveIndex
        self.interleaveWays = interleaveWays; self.flags = flags; self.reserved = reserved; self.trailing = trailing
    }

    /// The structure's length.
    public static let minimumLength = 48
}

/// Type 2: how a DIMM's lines are laid out in its interleave set (16 bytes + 4 per line).
public struct NFITInterleave: Sendable, Equatable {
    /// Interleave structure index, referenced by memory device maps; 0 is reserved.
    public var interleaveIndex: UInt16
    /// Reserved 2 bytes, kept as read.
    public var reserved: UInt16
    /// Line size in bytes.
    public var lineSize: UInt32
    /// Line offsets (in lines), one per line described; `line_count` is their number.
    public var lineOffsets: [UInt32]
    /// Bytes past the fields this type defines, kept so the table encodes back unchanged.
    public var trailing: [UInt8]

    /// An interleave structure.
    public init(interleaveIndex: UInt16, reserved: UInt16 = 0, lineSize: UInt32, lineOffsets: [UInt32],
                trailing: [UInt8] = []) {
        self.interleaveIndex = interleaveIndex; self.reserved = reserved; self.lineSize = lineSize
        self.lineOffsets = lineOffsets; self.trailing = trailing
    }

    /// The length with no line described.
    public static let minimumLength = 16
}

/// Type 3: SMBIOS management information: a 4-byte reserved field, then SMBIOS structures.
public struct NFITSMBIOSManagementInformation: Sendable, Equatable {
    /// Reserved 4 bytes, kept as read.
    public var reserved: UInt32
    /// The SMBIOS table data (the rest of the structure).
    public var data: [UInt8]

    /// An SMBIOS management information structure.
    public init(reserved: UInt32 = 0, data: [UInt8]) { self.reserved = reserved; self.data = data }

    /// The length with no SMBIOS data.
    public static let minimumLength = 8
}

/// Block control window fields of an NVDIMM control region (present in 80-byte structures).
public struct NFITBlockControlWindows: Sendable, Equatable {
    /// Size of a block control window in bytes.
    public var windowSize: UInt64
    /// Offset of the command register within the window.
    public var commandOffset: UInt64
    /// Size of the command register.
    public var commandSize: UInt64
    /// Offset of the status register within the window.
    public var statusOffset: UInt64
    /// Size of the status register.
    public var statusSize: UInt64
    /// Control region flags; bit 0: block data windows are buffered.
    public var flags: UInt16
    /// Reserved 6 bytes, kept as read.
    public var reserved: [UInt8]

    /// Block control window fields.
    public init(windowSize: UInt64 = 0, commandOffset: UInt64 = 0, commandSize: UInt64 = 0, statusOffset: UInt64 = 0,
                statusSize: UInt64 = 0, flags: UInt16 = 0, reserved: [UInt8] = [0, 0, 0, 0, 0, 0]) {
        self.windowSize = windowSize; self.commandOffset = commandOffset; self.commandSize = commandSize
        self.statusOffset = statusOffset; self.statusSize = statusSize; self.flags = flags
        self.reserved = reserved
    }

    /// Flag bit 0: block data windows implementation is buffered.
    public var buffered: Bool { flags & 1 != 0 }
}

/// Type 4: an NVDIMM control region: the DIMM's identity (32 bytes; 80 with block windows).
public struct NFITControlRegion: Sendable, Equatable {
    /// Control region index, referenced by memory device maps; 0 is reserved.
    public var regionIndex: UInt16
    /// Vendor ID (as in JEDEC SPD / PCI).
    public var vendorID: UInt16
    /// Device ID.
    public var deviceID: UInt16
    /// Revision ID.
    public var revisionID: UInt16
    /// Subsystem vendor ID.
    public var subsystemVendorID: UInt16
    /// Subsystem device ID.
    public var subsystemDeviceID: UInt16
    /// Subsystem revision ID.
    public var subsystemRevisionID: UInt16
    /// Valid fields; bit 0: the manufacturing location and date are valid.
    public var validFields: UInt8
    /// Manufacturing location.
    public var manufacturingLocation: UInt8
    /// Manufacturing date.
    public var manufacturingDate: UInt16
    /// Reserved 2 bytes, kept as read.
    public var reserved: UInt16
    /// Serial number.
    public var serialNumber: UInt32
    /// Region format interface code (e.g. 0x0201 byte-addressable energy backed, 0x0301 as QEMU writes).
    public var formatInterfaceCode: UInt16
    /// Number of block control windows.
    public var windowCount: UInt16
    /// The block control window fields, present when the structure is 80 bytes or longer.
    public var blockControl: NFITBlockControlWindows?
    /// Bytes past the fields this type defines, kept so the table encodes back unchanged.
    public var trailing: [UInt8]

    /// An NVDIMM control region structure.
    public init(regionIndex: UInt16, vendorID: UInt16, deviceID: UInt16, revisionID: UInt16 = 1,
                subsystemVendorID: UInt16 = 0, subsystemDeviceID: UInt16 = 0, subsystemRevisionID: UInt16 = 0,
                validFields: UInt8 = 0, manufacturingLocation: UInt8 = 0, manufacturingDate: UInt16 = 0,
                reserved: UInt16 = 0, serialNumber: UInt32, formatInterfaceCode: UInt16, windowCount: UInt16 = 0,
                blockControl: NFITBlockControlWindows? = nil, trailing: [UInt8] = []) {
        self.regionIndex = regionIndex; self.vendorID = vendorID; self.deviceID = deviceID
        self.revisionID = revisionID; self.subsystemVendorID = subsystemVendorID
        self.subsystemDeviceID = subsystemDeviceID; self.subsystemRevisionID = subsystemRevisionID
        self.validFields = validFields; self.manufacturingLocation = manufacturingLocation
        self.manufacturingDate = manufacturingDate; self.reserved = reserved; self.serialNumber = serialNumber
        self.formatInterfaceCode = formatInterfaceCode; self.windowCount = windowCount
        self.blockControl = blockControl; self.trailing = trailing
    }

    /// The length without block control windows (the kernel accepts it when the window count is 0).
    public static let minimumLength = 32
    /// The length with block control windows.
    public static let lengthWithWindows = 80
}

/// Type 5: an NVDIMM block data window region (40 bytes).
public struct NFITBlockDataWindowRegion: Sendable, Equatable {
    /// Index of the DIMM's control region structure.
    public var regionIndex: UInt16
    /// Number of block data windows.
    public var windowCount: UInt16
    /// Offset of the first window from the start of its SPA range.
    public var offset: UInt64
    /// Size of one window.
    public var size: UInt64
    /// Block-accessible capacity in bytes.
    public var capacity: UInt64
    /// Device physical address where block-accessible capacity starts.
    public var startAddress: UInt64
    /// Bytes past the fields this type defines, kept so the table encodes back unchanged.
    public var trailing: [UInt8]

    /// A block data window region structure.
    public init(regionIndex: UInt16, windowCount: UInt16, offset: UInt64, size: UInt64, capacity: UInt64,
                startAddress: UInt64, trailing: [UInt8] = []) {
        self.regionIndex = regionIndex; self.windowCount = windowCount; self.offset = offset
        self.size = size; self.capacity = capacity; self.startAddress = startAddress; self.trailing = trailing
    }

    /// The structure's length.
    public static let minimumLength = 40
}

/// Type 6: a DIMM's Flush Hint Addresses (16 bytes + 8 per hint).
///
/// A write of any value to any one hint address flushes the memory controller's write
/// queues for that DIMM; Linux writes one per DIMM (rotating through them per CPU).
public struct NFITFlushHintAddress: Sendable, Equatable {
    /// The DIMM's device handle.
    public var deviceHandle: NFITDeviceHandle
    /// Reserved 6 bytes, kept as read.
    public var reserved: [UInt8]
    /// The hint addresses (system physical addresses of 8-byte MMIO registers); `hint_count` is their number.
    public var hintAddresses: [UInt64]
    /// Bytes past the fields this type defines, kept so the table encodes back unchanged.
    public var trailing: [UInt8]

    /// A flush hint address structure.
    public init(deviceHandle: NFITDeviceHandle, reserved: [UInt8] = [0, 0, 0, 0, 0, 0], hintAddresses: [UInt64],
                trailing: [UInt8] = []) {
        self.deviceHandle = deviceHandle; self.reserved = reserved; self.hintAddresses = hintAddresses
        self.trailing = trailing
    }

    /// The length with no hint.
    public static let minimumLength = 16
}

/// Platform capability bits (ACPI 6.2+).
public struct NFITPlatformCapabilityFlags: OptionSet, Sendable, Hashable {
    /// The raw 32-bit field; bits without a name are kept.
    public var rawValue: UInt32
    /// Capabilities from the raw field.
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    /// Bit 0: CPU caches are flushed to persistence on power loss (implies bit 1).
    public static let cpuCacheFlushOnPowerLoss = NFITPlatformCapabilityFlags(rawValue: 1 << 0)
    /// Bit 1: memory controller write queues are flushed to persistence on power loss (ADR).
    public static let memoryControllerFlushOnPowerLoss = NFITPlatformCapabilityFlags(rawValue: 1 << 1)
    /// Bit 2: the platform supports hardware memory mirroring.
    public static let memoryMirroring = NFITPlatformCapabilityFlags(rawValue: 1 << 2)

    /// Every named capability with its name, in bit order, as the CLI prints them.
    public static let names: [(NFITPlatformCapabilityFlags, String)] = [
        (.cpuCacheFlushOnPowerLoss, "cpu_cache_flush_on_power_loss"),
        (.memoryControllerFlushOnPowerLoss, "memory_controller_flush_on_power_loss"),
        (.memoryMirroring, "memory_mirroring"),
    ]
}

/// Type 7: platform capabilities (16 bytes).
public struct NFITPlatformCapabilities: Sendable, Equatable {
    /// Highest capability bit number this structure defines; higher bits are not valid.
    public var highestCapability: UInt8
    /// Reserved 3 bytes, kept as read.
    public var reserved: [UInt8]
    /// The capability bits as the table holds them (bits above ``highestCapability`` included).
    public var capabilities: NFITPlatformCapabilityFlags
    /// Reserved 4 bytes, kept as read.
    public var reserved2: UInt32
    /// Bytes past the fields this type defines, kept so the table encodes back unchanged.
    public var trailing: [UInt8]

    /// A platform capabilities structure.
    public init(highestCapability: UInt8, reserved: [UInt8] = [0, 0, 0], capabilities: NFITPlatformCapabilityFlags,
                reserved2: UInt32 = 0, trailing: [UInt8] = []) {
        self.highestCapability = highestCapability; self.reserved = reserved; self.capabilities = capabilities
        self.reserved2 = reserved2; self.trailing = trailing
    }

    /// The capabilities that count: those up to ``highestCapability``, as the kernel masks them.
    public var effectiveCapabilities: NFITPlatformCapabilityFlags {
        let bits = Int(highestCapability) + 1
        let mask: UInt32 = bits >= 32 ? UInt32.max : (UInt32(1) << UInt32(bits)) - 1
        return NFITPlatformCapabilityFlags(rawValue: capabilities.rawValue & mask)
    }

    /// The structure's length.
    public static let minimumLength = 16
}

/// A subtable of a type this code does not know.
public struct NFITUnknownSubtable: Sendable, Equatable {
    /// The structure type.
    public var type: UInt16
    /// The bytes after the 4-byte type/length header.
    public var body: [UInt8]

    /// An unknown subtable.
    public init(type: UInt16, body: [UInt8]) { self.type = type; self.body = body }
}

extension NFITTable {
    /// The SPA range structures, in table order.
    public var spaRanges: [NFITSPARange] {
        subtables.compactMap { if case .spaRange(let s) = $0 { return s } else { return nil } }
    }
    /// The memory device to SPA range map structures, in table order.
    public var memoryDeviceMaps: [NFITMemoryDeviceMap] {
        subtables.compactMap { if case .memoryDeviceMap(let s) = $0 { return s } else { return nil } }
    }
    /// The interleave structures, in table order.
    public var interleaves: [NFITInterleave] {
        subtables.compactMap { if case .interleave(let s) = $0 { return s } else { return nil } }
    }
    /// The NVDIMM control region structures, in table order.
    public var controlRegions: [NFITControlRegion] {
        subtables.compactMap { if case .controlRegion(let s) = $0 { return s } else { return nil } }
    }
    /// The flush hint address structures, in table order.
    public var flushHintStructures: [NFITFlushHintAddress] {
        subtables.compactMap { if case .flushHintAddress(let s) = $0 { return s } else { return nil } }
    }
    /// The platform capabilities structure, if the table has one (the first, if several).
    public var platformCapabilities: NFITPlatformCapabilities? {
        for s in subtables { if case .platformCapabilities(let p) = s { return p } }
        return nil
    }

    /// Flush hint addresses per raw NFIT device handle (as `ndctl_dimm_get_handle()` returns it),
    /// each list in table order.
    ///
    /// A DIMM without a flush hint structure has no key; one whose structure lists no hint maps
    /// to `[]`. If several structures name the same handle, only the first counts, as in the
    /// Linux kernel (`__nfit_mem_init` stops at the first match); the decoder warns about it.
    public var flushHintAddresses: [UInt32: [UInt64]] {
        var result: [UInt32: [UInt64]] = [:]
        for f in flushHintStructures where result[f.deviceHandle.rawValue] == nil {
            result[f.deviceHandle.rawValue] = f.hintAddresses
        }
        return result
    }

    /// The distinct device handles named by memory device maps, in first-seen order.
    public var dimmHandles: [NFITDeviceHandle] {
        var seen = Set<NFITDeviceHandle>()
        return memoryDeviceMaps.map { $0.deviceHandle }.filter { seen.insert($0).inserted }
    }
}
