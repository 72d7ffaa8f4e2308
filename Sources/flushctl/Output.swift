import SystemPackage

/// Writes to standard error without Foundation.
enum FileHandleStderr {
    static func write(_ text: String) { writeAll(.standardError, text) }
}

/// Writes to standard output in one `write(2)` (for a short text), bypassing `print`'s stdio
/// buffer; used by output printed once, at the end, such as `list`'s.
enum FileHandleStdout {
    static func write(_ text: String) { writeAll(.standardOutput, text) }
}

/// Writes all of `text` to `fd` (swift-system retries EINTR and short writes); gives up
/// silently on other errors, as `print` does.
private func writeAll(_ fd: FileDescriptor, _ text: String) {
    _ = try? fd.writeAll(text.utf8)
}
