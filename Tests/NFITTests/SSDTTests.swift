import Foundation
import Testing
@testable import NFIT
import TestSupport

/// The AML writer checked against ACPICA's iasl both ways: iasl -d reads the SSDT we write
/// back as the ASL we meant, and iasl compiles that ASL to the bytes we write.
@Suite struct SSDTTests {
    /// Handles covering every integer encoding iasl picks: One, a word, a dword, Zero.
    static let handles: [UInt32] = [0x0001, 0x0101, 0x0012_0034, 0x0000]

    /// The ASL of `ACPISSDT.nvdimmRoot(handles:)`, as iasl disassembles it (comments aside).
    static let asl = """
        DefinitionBlock ("", "SSDT", 2, "FLUSHC", "FLUSHCTL", 0x00000001)
        {
            Scope (\\_SB)
            {
                Device (NVDR)
                {
                    Name (_HID, "ACPI0012")
                    Method (_STA, 0, NotSerialized)
                    {
                        Return (0x0F)
                    }

                    Device (NV00)
                    {
                        Name (_ADR, One)
                    }

                    Device (NV01)
                    {
                        Name (_ADR, 0x0101)
                    }

                    Device (NV02)
                    {
                        Name (_ADR, 0x00120034)
                    }

                    Device (NV03)
                    {
                        Name (_ADR, Zero)
                    }
                }
            }
        }
        """

    /// ASL with comments, blank lines and spacing removed, for comparing iasl's listing to ours.
    static func normalized(_ text: String) -> [String] {
        var out: [String] = []
        var inComment = false
        for raw in text.components(separatedBy: "\n") {
            var line = raw
            if inComment {
                guard let end = line.range(of: "*/") else { continue }
                line = String(line[end.upperBound...]); inComment = false
            }
            while let start = line.range(of: "/*") {
                if let end = line.range(of: "*/", range: start.upperBound..<line.endIndex) {
                    line.removeSubrange(start.lowerBound..<end.upperBound)
                } else {
                    line = String(line[..<start.lowerBound]); inComment = true
                }
            }
            if let slash = line.range(of: "//") { line = String(line[..<slash.lowerBound]) }
            let compact = line.filter { !$0.isWhitespace }
            if !compact.isEmpty { out.append(compact) }
        }
        return out
    }

    @Test func disassemblesToTheASLWeMeant() throws {
        let bytes = try ACPISSDT.nvdimmRoot(handles: Self.handles).encode()
        let dsl = try Support.disassemble(bytes)
        #expect(!dsl.contains("Incorrect checksum"), "\(dsl)")
        #expect(dsl.contains("Length           0x\(String(format: "%08X", bytes.count))"), "\(dsl)")
        let body = dsl.range(of: "DefinitionBlock").map { String(dsl[$0.lowerBound...]) } ?? ""
        #expect(Self.normalized(body) == Self.normalized(Self.asl))
    }

    @Test func iaslCompilesTheASLToOurBytes() throws {
        let dir = try Support.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let source = dir.appendingPathComponent("nvdr.asl")
        try Self.asl.write(to: source, atomically: true, encoding: .utf8)
        let compiled = try Support.compile(source)
        let ours = try ACPISSDT.nvdimmRoot(handles: Self.handles).encode()
        #expect(compiled.count == ours.count)
        // iasl writes its own creator ID and revision (bytes 28-35), hence another checksum.
        let skip = Set([9] + Array(28..<36))
        let differing = (0..<min(compiled.count, ours.count)).filter { !skip.contains($0) && compiled[$0] != ours[$0] }
        #expect(differing.isEmpty, "bytes differ at \(differing)")
        #expect(ours.reduce(UInt8(0), &+) == 0)
        #expect(ours.count > 36 && ours[0..<4] == Array("SSDT".utf8)[...])
    }

    /// A package past 63 bytes needs a multi-byte PkgLength: 40 DIMMs make the device's body
    /// long enough for two bytes and the encoding must still be what iasl writes.
    @Test func longPackagesMatchIasl() throws {
        let many = (0..<40).map { UInt32($0) << 4 | 1 }
        let ours = try ACPISSDT.nvdimmRoot(handles: many).encode()
        var lines = ["DefinitionBlock (\"\", \"SSDT\", 2, \"FLUSHC\", \"FLUSHCTL\", 0x00000001)", "{", "Scope (\\_SB) {",
                     "Device (NVDR) {", "Name (_HID, \"ACPI0012\")", "Method (_STA, 0, NotSerialized) { Return (0x0F) }"]
        for (i, h) in many.enumerated() {
            lines.append(String(format: "Device (NV%02X) { Name (_ADR, 0x%X) }", i, h))
        }
        lines += ["}", "}", "}"]
        let dir = try Support.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let source = dir.appendingPathComponent("many.asl")
        try lines.joined(separator: "\n").write(to: source, atomically: true, encoding: .utf8)
        let compiled = try Support.compile(source)
        let skip = Set([9] + Array(28..<36))
        #expect(compiled.count == ours.count)
        #expect((0..<min(compiled.count, ours.count)).allSatisfy { skip.contains($0) || compiled[$0] == ours[$0] })
    }

    @Test func refusesWhatACPICannotName() {
        #expect(throws: AMLEncodeError.self) { try ACPISSDT.nvdimmRoot(handles: Array(0..<257)) }
        #expect(throws: AMLEncodeError.self) { try ACPISSDT.nvdimmRoot(handles: [1, 2, 1]) }
        #expect(throws: AMLEncodeError.self) { try ACPISSDT(objects: [.device("1BAD", [])]).encode() }
        #expect(throws: AMLEncodeError.self) { try ACPISSDT(objects: [.device("TOOLONG", [])]).encode() }
        #expect(throws: AMLEncodeError.self) { try ACPISSDT(objects: [.name("_STR", .string("é"))]).encode() }
    }

    @Test func packageLengthEncoding() throws {
        var w = ByteWriter()
        try AML.package(Array(repeating: 0, count: 62), into: &w)
        #expect(w.bytes.first == 63)
        w = ByteWriter()
        try AML.package(Array(repeating: 0, count: 63), into: &w)
        // 63 + 2 = 65 = 0x41: lead 0x41 (one more byte, low nibble 1), then 0x04.
        #expect(Array(w.bytes.prefix(2)) == [0x41, 0x04])
        w = ByteWriter()
        try AML.package(Array(repeating: 0, count: 4093), into: &w)
        // 4093 + 2 = 4095 = 0xFFF, the most two bytes hold: lead 0x4F, then 0xFF.
        #expect(Array(w.bytes.prefix(2)) == [0x4F, 0xFF])
        w = ByteWriter()
        try AML.package(Array(repeating: 0, count: 4094), into: &w)
        // 4094 + 3 = 4097 = 0x1001 needs three: lead 0x81, then 0x00, 0x01.
        #expect(Array(w.bytes.prefix(3)) == [0x81, 0x00, 0x01])
    }
}
