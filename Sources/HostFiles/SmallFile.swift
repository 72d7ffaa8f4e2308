import Glibc
import SystemPackage

/// Reading whole small files (sysfs and procfs attributes, ACPI tables) without Foundation.
/// sysfs and procfs files report size 0, so they are read to end of file. The package's one
/// file reader: the commands and the planning code map its `Errno` into their own errors.
package enum SmallFile {
    /// The bytes of the file at `path`, up to about `limit` bytes (reading stops at the first
    /// 4 KiB chunk that reaches it; a caller that must refuse larger files asks for one more byte
    /// than it accepts and compares).
    ///
    /// - Throws: the `Errno` of `open` or `read` (e.g. `EACCES` for a root-only file, `EISDIR`).
    package static func read(_ path: String, limit: Int = 1 << 24) throws(Errno) -> [UInt8] {
        do {
            // swift-system retries EINTR for both calls.
            let fd = try FileDescriptor.open(FilePath(path), .readOnly, options: [.closeOnExec], retryOnInterrupt: true)
            return try fd.closeAfter { () throws(Errno) -> [UInt8] in
                var bytes: [UInt8] = []
                let chunkSize = 4096
                while bytes.count < limit {
                    var failure: Errno?
                    // Each chunk is read into fresh uninitialised storage: filling it first (as
                    // appending zeros would) costs more than the read of a sysfs attribute.
                    let chunk = [UInt8](unsafeUninitializedCapacity: chunkSize) { buffer, count in
                        do {
                            count = try fd.read(into: UnsafeMutableRawBufferPointer(buffer), retryOnInterrupt: true)
                        } catch {
                            count = 0
                            failure = error as? Errno ?? .ioError
                        }
                    }
                    if let failure { throw failure }
                    if chunk.isEmpty { break }
                    if bytes.isEmpty { bytes = chunk } else { bytes.append(contentsOf: chunk) }
                }
                return bytes
            }
        } catch let error as Errno {
            throw error
        } catch {
            throw .ioError
        }
    }

    /// Whether `path` exists (following symlinks).
    package static func exists(_ path: String) -> Bool {
        access(path, F_OK) == 0
    }

    /// The whole file as UTF-8 text (invalid bytes are repaired, not trapped on).
    ///
    /// - Throws: ``HostError`` naming the file, with the `Errno` of ``read(_:limit:)``.
    package static func readText(_ path: String) throws(HostError) -> String {
        String(decoding: try readBytes(path), as: UTF8.self)
    }

    /// The whole file, as ``read(_:limit:)`` with its error as a ``HostError`` naming the file.
    package static func readBytes(_ path: String) throws(HostError) -> [UInt8] {
        do {
            return try read(path)
        } catch {
            throw HostError(path: path, message: "cannot read: \(error)", errno: error)
        }
    }

    /// A sysfs attribute holding one decimal integer (`"1\n"`), or `nil` when the file is
    /// absent, unreadable or holds something else (what `Int(_:)` would refuse once trailing
    /// newlines and spaces are dropped).
    package static func readInteger(_ path: String) -> Int? {
        guard let bytes = try? read(path, limit: 64) else { return nil }
        return decimalInteger(bytes)
    }

    /// `Int(text)` for `bytes` as text, trailing newlines and spaces ignored: an optional sign
    /// and at least one ASCII digit, nothing else; `nil` on overflow.
    package static func decimalInteger(_ bytes: [UInt8]) -> Int? {
        var end = bytes.count
        while end > 0, bytes[end - 1] == UInt8(ascii: "\n") || bytes[end - 1] == UInt8(ascii: " ") { end -= 1 }
        var i = 0
        var negative = false
        if i < end, bytes[i] == UInt8(ascii: "-") || bytes[i] == UInt8(ascii: "+") {
            negative = bytes[i] == UInt8(ascii: "-"); i += 1
        }
        guard i < end else { return nil }
        // Accumulated negatively so that Int.min parses.
        var value = 0
        while i < end {
            let digit = Int(bytes[i]) - Int(UInt8(ascii: "0"))
            guard digit >= 0 && digit <= 9 else { return nil }
            let (times10, o1) = value.multipliedReportingOverflow(by: 10)
            let (next, o2) = times10.subtractingReportingOverflow(digit)
            if o1 || o2 { return nil }
            value = next
            i += 1
        }
        if negative { return value }
        return value == .min ? nil : -value
    }
}
