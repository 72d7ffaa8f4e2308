import Glibc
import Testing
import NFIT
@testable import NVDIMMTopology

@Suite struct NFITSourceTests {
    /// A minimal valid NFIT: one SPA range, hints for two DIMMs, a second (ignored) structure for
    /// the first, and an empty structure for a third.
    func tableBytes() throws -> [UInt8] {
        let table = NFITTable(subtables: [
            .spaRange(NFITSPARange(rangeIndex: 1, rangeType: .persistentMemory, base: 0x30000000, length: 0x2000000)),
            .flushHintAddress(NFITFlushHintAddress(deviceHandle: NFITDeviceHandle(rawValue: 0x1),
                                                   hintAddresses: [0x37fff000, 0x37fff040])),
            .flushHintAddress(NFITFlushHintAddress(deviceHandle: NFITDeviceHandle(rawValue: 0x101),
                                                   hintAddresses: [0x37ffe000])),
            .flushHintAddress(NFITFlushHintAddress(deviceHandle: NFITDeviceHandle(rawValue: 0x1),
                                                   hintAddresses: [0x40000000])),
            .flushHintAddress(NFITFlushHintAddress(deviceHandle: NFITDeviceHandle(rawValue: 0x1001),
                                                   hintAddresses: [])),
        ])
        return try table.sealed().encode()
    }

    @Test func hintsByHandleFromTableBytes() throws {
        let hints = try NFITFlushHints.devices(fromTableBytes: try tableBytes())
        // The first structure for a handle counts, as in the kernel; an empty one gives [].
        #expect(hints == [NFITDeviceHints(handle: 0x1, addresses: [0x37fff000, 0x37fff040]),
                          NFITDeviceHints(handle: 0x101, addresses: [0x37ffe000]),
                          NFITDeviceHints(handle: 0x1001, addresses: [])])
    }

    @Test func garbageIsAnInvalidTableNamingThePath() {
        #expect(throws: NFITReadError.self) {
            try NFITFlushHints.devices(fromTableBytes: [0x4e, 0x46], path: "/tmp/x")
        }
        do {
            _ = try NFITFlushHints.devices(fromTableBytes: Array("DSDTxxxx".utf8), path: "/tmp/x")
            Issue.record("decoded a DSDT as an NFIT")
        } catch {
            guard case .invalid = error.reason else { Issue.record("wrong reason \(error.reason)"); return }
            #expect(error.description.hasPrefix("/tmp/x is not a valid NFIT"))
        }
    }

    @Test func missingFileIsAbsent() {
        do {
            _ = try NFITFlushHints.read(path: "/nonexistent/flushctl-test/NFIT")
            Issue.record("read a file that does not exist")
        } catch {
            #expect(error.reason == .absent)
        }
    }

    @Test func permissionDeniedNamesTheFileAndPrivilege() {
        let e = NFITReadError(path: "/sys/firmware/acpi/tables/NFIT", reason: .permissionDenied)
        #expect(e.description.contains("/sys/firmware/acpi/tables/NFIT"))
        #expect(e.description.contains("root"))
        #expect(e.description.contains("CAP_DAC_READ_SEARCH"))
    }

    /// The table read from a file: its hints in table order; a table whose length runs past
    /// the file is an invalid NFIT.
    @Test func readsAFileOrSaysWhyNot() throws {
        let path = "/tmp/flushctl-nfitsource-\(getpid())"
        defer { unlink(path) }
        func store(_ bytes: [UInt8]) {
            let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
            #expect(fd >= 0)
            _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            close(fd)
        }
        store(try tableBytes())
        #expect(try NFITFlushHints.read(path: path).map(\.handle) == [0x1, 0x101, 0x1001])
        var corrupt = try tableBytes()
        corrupt[4] = 0xFF  // a length beyond the file
        store(corrupt)
        #expect(throws: NFITReadError.self) { try NFITFlushHints.read(path: path) }
    }
}
