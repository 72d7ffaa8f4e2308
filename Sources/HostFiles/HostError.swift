import SystemPackage

/// The one error shape for reading, inspecting and acting on the host: where (a file, device
/// or region), which step failed, what was wrong (and what to do), and the `Errno` behind it
/// as a value, so a caller can tell `EACCES` from `EIO` without parsing text.
public struct HostError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Where: the file, device or region involved; `nil` when the message says it.
    public var path: String?
    /// The step that failed (`open`, `write`, `fsync`, `schedule`, …), when one call did.
    public var operation: String?
    /// What was wrong, naming the line or field where it applies, and what to do.
    public var message: String
    /// The system error behind it, when there is one.
    public var errno: Errno?

    /// An error about `path`, in step `operation`, caused by `errno`.
    public init(path: String? = nil, operation: String? = nil, message: String, errno: Errno? = nil) {
        self.path = path
        self.operation = operation
        self.message = message
        self.errno = errno
    }

    /// An error caused by `errno` in step `operation` on `path`, the errno's text as the message.
    public init(path: String?, operation: String, errno: Errno) {
        self.init(path: path, operation: operation, message: "\(errno)", errno: errno)
    }

    /// An error in step `operation` on `path` caused by `cause`: its `Errno` kept as a value
    /// when it is one (swift-system's calls throw them untyped).
    public init(path: String?, operation: String, cause: any Error) {
        self.init(path: path, operation: operation, message: "\(cause)", errno: cause as? Errno)
    }

    /// One line: `PATH: OPERATION: MESSAGE`, leaving out what is absent.
    public var description: String {
        [path, operation, message].compactMap { $0 }.joined(separator: ": ")
    }
}
