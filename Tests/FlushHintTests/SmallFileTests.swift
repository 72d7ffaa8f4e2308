import Testing
@testable import FlushHint

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
}
