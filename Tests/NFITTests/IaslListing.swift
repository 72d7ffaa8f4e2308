import Foundation
@testable import NFIT

/// One `Name : Value` line of an iasl data-table source (`[0004]  Name : Value`), disassembly
/// (`[004h 0004   4]  Name : Value`), or decoded flag bit line (`  Name : 1`).
struct IaslEntry: Equatable, CustomStringConvertible {
    var name: String
    /// The value, normalized: strings unquoted, hex numbers as canonical upper-case hex without
    /// leading zeros, byte lists as concatenated hex digits, bracketed comments removed.
    var value: String
    var description: String { "\(name) : \(value)" }

    init(_ name: String, _ value: String) {
        self.name = name
        self.value = IaslEntry.normalize(value)
    }

    static func normalize(_ raw: String) -> String {
        var v = raw.trimmingCharacters(in: .whitespaces)
        if v.hasPrefix("\"") {
            // A quoted string, maybe followed by a bracketed comment: keep the quoted part exactly.
            let rest = v.dropFirst()
            if let end = rest.firstIndex(of: "\"") { return String(rest[..<end]) }
            return String(rest)
        }
        if let bracket = v.firstIndex(of: "[") { v = String(v[..<bracket]).trimmingCharacters(in: .whitespaces) }
        v = v.replacingOccurrences(of: "\\", with: "").replacingOccurrences(of: " ", with: "").uppercased()
        if !v.isEmpty, v.allSatisfy(\.isHexDigit) {
            let stripped = v.drop { $0 == "0" }
            return stripped.isEmpty ? "0" : String(stripped)
        }
        return v
    }

    /// Hex value of an integer field, as `normalize` leaves it.
    static func hex<T: BinaryInteger>(_ v: T) -> String { String(v, radix: 16, uppercase: true) }

    /// A byte buffer in table order.
    static func bytes(_ b: [UInt8]) -> String {
        normalize(b.map { String(format: "%02X", $0) }.joined())
    }
}

enum IaslListing {
    /// Parses the `Name : Value` lines of an iasl `.asl` source or `.dsl` disassembly, in order,
    /// stopping at the `.dsl`'s raw hex dump. Continuation lines (ending in `\`) are joined.
    static func parse(_ text: String) -> [IaslEntry] {
        var entries: [IaslEntry] = []
        var lines = text.components(separatedBy: "\n")[...]
        var inComment = false
        while let line = lines.popFirst() {
            let t = line.trimmingCharacters(in: .whitespaces)
            if t.hasPrefix("/*") { inComment = !t.contains("*/"); continue }
            if inComment { if t.contains("*/") { inComment = false }; continue }
            if t.hasPrefix("Raw Table Data") { break }
            guard let colon = line.range(of: " : ") else { continue }
            var head = String(line[..<colon.lowerBound])
            var value = String(line[colon.upperBound...])
            if t.hasPrefix("[") {
                guard let close = head.firstIndex(of: "]") else { continue }
                head = String(head[head.index(after: close)...])
            } else {
                // A decoded flag bit: `  Name : 0|1`.
                guard ["0", "1"].contains(value.trimmingCharacters(in: .whitespaces)) else { continue }
            }
            while value.trimmingCharacters(in: .whitespaces).hasSuffix("\\"), let next = lines.popFirst() {
                value += " " + next
            }
            entries.append(IaslEntry(head.trimmingCharacters(in: .whitespaces), value))
        }
        return entries
    }

    /// The entries iasl (20200925) writes for `table`, in its order and with its field names,
    /// built from what the decoder returned: every field of every structure.
    static func render(_ table: NFITTable) -> [IaslEntry] {
        let h = table.header
        var e: [IaslEntry] = [
            IaslEntry("Signature", "\"\(h.signature)\""),
            IaslEntry("Table Length", IaslEntry.hex(h.length)),
            IaslEntry("Revision", IaslEntry.hex(h.revision)),
            IaslEntry("Checksum", IaslEntry.hex(h.checksum)),
            IaslEntry("Oem ID", "\"\(h.oemID)\""),
            IaslEntry("Oem Table ID", "\"\(h.oemTableID)\""),
            IaslEntry("Oem Revision", IaslEntry.hex(h.oemRevision)),
            IaslEntry("Asl Compiler ID", "\"\(h.creatorID)\""),
            IaslEntry("Asl Compiler Revision", IaslEntry.hex(h.creatorRevision)),
            IaslEntry("Reserved", IaslEntry.hex(table.reserved)),
        ]
        func x<T: BinaryInteger>(_ name: String, _ v: T) { e.append(IaslEntry(name, IaslEntry.hex(v))) }
        func bit(_ name: String, _ on: Bool) { e.append(IaslEntry(name, on ? "1" : "0")) }
        for s in table.subtables {
            let names = ["System Physical Address Range", "Memory Range Map", "Interleave Info", "SMBIOS Information",
                         "NVDIMM Control Region", "NVDIMM Block Data Window Region", "Flush Hint Address",
                         "Platform Capabilities"]
            e.append(IaslEntry("Subtable Type", IaslEntry.hex(s.type) + (Int(s.type) < names.count ? " [\(names[Int(s.type)])]" : "")))
            x("Length", s.encodedLength)
            switch s {
            case .spaRange(let r):
                x("Range Index", r.rangeIndex)
                x("Flags (decoded below)", r.flags.rawValue)
                bit("Add/Online Operation Only", r.flags.contains(.addOnlineOnly))
                bit("Proximity Domain Valid", r.flags.contains(.proximityDomainValid))
                x("Reserved", r.reserved)
                x("Proximity Domain", r.proximityDomain)
                e.append(IaslEntry("Region Type GUID", r.rangeType.guid.description))
                x("Address Range Base", r.base)
                x("Address Range Length", r.length)
                x("Memory Map Attribute", r.memoryMappingAttribute)
            case .memoryDeviceMap(let m):
                x("Device Handle", m.deviceHandle.rawValue)
                x("Physical Id", m.physicalID)
                x("Region Id", m.regionID)
                x("Range Index", m.rangeIndex)
                x("Control Region Index", m.controlRegionIndex)
                x("Region Size", m.regionSize)
                x("Region Offset", m.regionOffset)
                x("Address Region Base", m.address)
                x("Interleave Index", m.interleaveIndex)
                x("Interleave Ways", m.interleaveWays)
                x("Flags", m.flags.rawValue)
                bit("Save to device failed", m.flags.contains(.saveFailed))
                bit("Restore from device failed", m.flags.contains(.restoreFailed))
                bit("Platform flush failed", m.flags.contains(.flushFailed))
                bit("Device not armed", m.flags.contains(.notArmed))
                bit("Health events observed", m.flags.contains(.smartEventsObserved))
                bit("Health events enabled", m.flags.contains(.healthEventsEnabled))
                bit("Mapping failed", m.flags.contains(.mapFailed))
                x("Reserved", m.reserved)
            case .interleave(let i):
                x("Interleave Index", i.interleaveIndex)
                x("Reserved", i.reserved)
                x("Line Count", i.lineOffsets.count)
                x("Line Size", i.lineSize)
                for line in i.lineOffsets { x("Line Offset", line) }
            case .smbiosManagementInformation(let m):
                x("Reserved", m.reserved)
                e.append(IaslEntry("SMBIOS Table Entries", IaslEntry.bytes(m.data)))
            case .controlRegion(let d):
                x("Region Index", d.regionIndex)
                x("Vendor Id", d.vendorID)
                x("Device Id", d.deviceID)
                x("Revision Id", d.revisionID)
                x("Subsystem Vendor Id", d.subsystemVendorID)
                x("Subsystem Device Id", d.subsystemDeviceID)
                x("Subsystem Revision Id", d.subsystemRevisionID)
                x("Valid Fields", d.validFields)
                x("Manufacturing Location", d.manufacturingLocation)
                x("Manufacturing Date", d.manufacturingDate)
                x("Reserved", d.reserved)
                x("Serial Number", d.serialNumber)
                x("Code", d.formatInterfaceCode)
                x("Window Count", d.windowCount)
                if let b = d.blockControl {
                    x("Window Size", b.windowSize)
                    x("Command Offset", b.commandOffset)
                    x("Command Size", b.commandSize)
                    x("Status Offset", b.statusOffset)
                    x("Status Size", b.statusSize)
                    x("Flags", b.flags)
                    bit("Windows buffered", b.buffered)
                    e.append(IaslEntry("Reserved1", IaslEntry.bytes(b.reserved)))
                }
            case .blockDataWindowRegion(let b):
                x("Region Index", b.regionIndex)
                x("Window Count", b.windowCount)
                x("Offset", b.offset)
                x("Size", b.size)
                x("Capacity", b.capacity)
                x("Start Address", b.startAddress)
            case .flushHintAddress(let f):
                x("Device Handle", f.deviceHandle.rawValue)
                x("Hint Count", f.hintAddresses.count)
                e.append(IaslEntry("Reserved", IaslEntry.bytes(f.reserved)))
                for a in f.hintAddresses { x("Hint Address", a) }
            case .platformCapabilities(let p):
                x("Highest Capability", p.highestCapability)
                e.append(IaslEntry("Reserved", IaslEntry.bytes(p.reserved)))
                x("Capabilities (decoded below)", p.capabilities.rawValue)
                bit("Cache Flush to NVDIMM", p.capabilities.contains(.cpuCacheFlushOnPowerLoss))
                bit("Memory Flush to NVDIMM", p.capabilities.contains(.memoryControllerFlushOnPowerLoss))
                bit("Memory Mirroring", p.capabilities.contains(.memoryMirroring))
                x("Reserved", p.reserved2)
            case .unknown(let u):
                e.append(IaslEntry("Raw Data", IaslEntry.bytes(u.body)))
            }
        }
        return e
    }
}
