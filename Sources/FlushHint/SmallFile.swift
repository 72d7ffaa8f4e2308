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
        let fd: FileDescriptor
        do {
            fd = try FileDescriptor.open(FilePath(path), .readOnly, options: [.closeOnExec])
        } catch let error as Errno { throw error } catch { throw Errno.ioError }
        defer { try? fd.close() }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while bytes.count < limit {
            let n: Int
            do {
                n = try chunk.withUnsafeMutableBytes { try fd.read(into: $0, retryOnInterrupt: true) }
            } catch let error as Errno { throw error } catch { throw Errno.ioError }
            if n == 0 { break }
            bytes.append(contentsOf: chunk[..<n])
        }
        return bytes
    }

    /// A sysfs attribute holding one decimal integer (`"1\n"`), or `nil` when the file is
    /// absent, unreadable or holds something else.
    package static func readInteger(_ path: String) -> Int? {
        guard let bytes = try? read(path, limit: 64) else { return nil }
        var text = String(decoding: bytes, as: UTF8.self)
        while let last = text.last, last == "\n" || last == " " { text.removeLast() }
        return Int(text)
    }
}
