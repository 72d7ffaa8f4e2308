import CLibc

/// A C `errno` value: the part of swift-system's `Errno` that the shared `list` sources use
/// (swift-system does not build as Embedded Swift). The front prints one only when it cannot
/// run the flushctl program (`CoreProgram`); any other error sends the command line to that
/// program, which reports it.
public struct Errno: Error, Equatable {
    /// The C value (`EACCES`, …).
    public var rawValue: CInt
    /// The error for a C value.
    public init(rawValue: CInt) { self.rawValue = rawValue }

    /// `ENOMEM`.
    public static var noMemory: Errno { Errno(rawValue: ENOMEM) }
    /// `EACCES`.
    public static var permissionDenied: Errno { Errno(rawValue: EACCES) }
    /// `EPERM`.
    public static var notPermitted: Errno { Errno(rawValue: EPERM) }
    /// `ENOENT`.
    public static var noSuchFileOrDirectory: Errno { Errno(rawValue: ENOENT) }
}

extension Errno: CustomStringConvertible {
    /// The C library's message (`strerror`).
    public var description: String { String(cString: strerror(rawValue)) }
}
