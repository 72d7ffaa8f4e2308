import Glibc

/// Writes to standard error without Foundation.
enum FileHandleStderr {
    static func write(_ text: String) { writeAll(2, text) }
}

/// Writes to standard output in one `write(2)` (for a short text), bypassing `print`'s stdio
/// buffer; used by output printed once, at the end, such as `list`'s.
enum FileHandleStdout {
    static func write(_ text: String) { writeAll(1, text) }
}

/// Writes all of `text` to `fd`, retrying on EINTR; gives up silently on other errors, as
/// `print` does.
private func writeAll(_ fd: CInt, _ text: String) {
    var text = text
    text.withUTF8 { buffer in
        var rest = UnsafeRawBufferPointer(buffer)
        while !rest.isEmpty {
            let n = write(fd, rest.baseAddress, rest.count)
            if n <= 0 { if n < 0 && errno == EINTR { continue }; return }
            rest = UnsafeRawBufferPointer(rebasing: rest[n...])
        }
    }
}
