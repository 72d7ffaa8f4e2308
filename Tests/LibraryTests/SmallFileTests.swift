import Glibc
import Testing
@testable import HostFiles

/// SmallFile's integer reading must read sysfs attributes exactly as `Int(_:)` after trimming
/// trailing newlines and spaces did before it was replaced by a byte parser.
@Suite struct SmallFileTests {
    static func reference(_ bytes: [UInt8]) -> Int? {
        var text = String(decoding: bytes, as: UTF8.self)
        while let last = text.last, last == "\n" || last == " " { text.removeLast() }
        return Int(text)
    }

    @Test(arguments: [
        "1\n", "0\n", "0", "", "\n", " ", "-1\n", "+7\n", "-", "+", "12 \n\n", " 1\n", "1x\n", "0x10\n",
        "9223372036854775807\n", "9223372036854775808\n", "-9223372036854775808\n", "-9223372036854775809\n",
        "00042", "1\r\n", "١\n", "1\n2\n", "-0", "18446744073709551616",
    ])
    func decimalIntegerMatchesIntInit(_ text: String) {
        let bytes = Array(text.utf8)
        #expect(SmallFile.decimalInteger(bytes) == Self.reference(bytes), "\(text.debugDescription)")
    }

    @Test func invalidUTF8IsNotANumber() {
        #expect(SmallFile.decimalInteger([0x31, 0xFF, 0x0A]) == nil)
        #expect(Self.reference([0x31, 0xFF, 0x0A]) == nil)
    }

    @Test func readsAFileToItsEndAndReportsErrno() throws {
        let bytes = try SmallFile.read("/proc/self/status")
        #expect(bytes.count > 100)
        #expect(String(decoding: bytes, as: UTF8.self).hasPrefix("Name:"))
        do {
            _ = try SmallFile.read("/nonexistent/flushctl-test")
            Issue.record("reading a missing file succeeded")
        } catch {
            #expect(error == .noSuchFileOrDirectory)
        }
        do {
            _ = try SmallFile.read("/")
            Issue.record("reading a directory succeeded")
        } catch {
            #expect(error == .isDirectory)
        }
        #expect(SmallFile.readInteger("/proc/sys/kernel/pid_max") ?? 0 > 0)
        let limited = try SmallFile.read("/proc/self/maps", limit: 10)
        #expect(limited.count >= 10 && limited.count <= 4096)
    }

    /// Files around the 4 KiB chunk size come back byte for byte: the reader's chunks are
    /// uninitialised storage trimmed to what read(2) returned, so a wrong count would show here.
    @Test(arguments: [0, 1, 4095, 4096, 4097, 8192, 10_000])
    func readsEveryByteAroundTheChunkSize(_ size: Int) throws {
        let path = "/tmp/flushctl-smallfile-\(getpid())-\(size)"
        defer { unlink(path) }
        let content = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        #expect(fd >= 0)
        let written = content.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
        #expect(written == size)
        #expect(try SmallFile.read(path) == content)
        // A limit stops at the first chunk that reaches it.
        let limited = try SmallFile.read(path, limit: 1)
        #expect(limited == Array(content.prefix(4096)))
    }
}
