import SystemPackage
#if canImport(Glibc)
import Glibc
#endif

// The package's one durable file replacement, for the topology cache (`flushctl refresh`, run as
// root, read by everyone) and `flushctl nfit build -o`. Everything happens relative to one
// descriptor of the directory, opened once, so a directory swapped for a link after the checks
// is not followed; no name in it is followed either: the temporary file is created O_EXCL |
// O_NOFOLLOW under a random name, the lock is opened O_NOFOLLOW, and renameat replaces the
// directory entry, never a file a planted link points at.


/// Which directories a durable file may be replaced in.
public enum DirectoryTrust: Sendable, Equatable {
    /// Owned by root or the effective user, and writable by neither group nor others: for
    /// files others trust (the cache root writes and everyone reads). In a directory someone
    /// else may write, they could plant or swap names at any moment.
    case ownerOnly
    /// Any directory: for files only the caller relies on (`nfit build -o`, often into /tmp).
    /// Names planted there are still never followed.
    case any
}

/// What is at a name of a ``DurableDirectory`` (not following a symbolic link).
public enum DirectoryEntryKind: Sendable, Equatable {
    /// Nothing.
    case absent
    /// A regular file.
    case regularFile
    /// A directory.
    case directory
    /// A symbolic link.
    case symbolicLink
    /// A device, FIFO or socket.
    case other
}

/// A directory opened once, in which files are replaced durably: a temporary file is written,
/// fsynced, renamed over the target and the directory fsynced, so a crash leaves the old file or
/// the new one, never part of one. Owns its descriptor.
public struct DurableDirectory: ~Copyable {
    /// The directory as given (for messages).
    public let path: String
    /// The open directory.
    public let descriptor: FileDescriptor

    /// Opens `path` (creating it and missing parents mode 0755 when `create` is set) and checks
    /// it against `trust`.
    ///
    /// - Throws: ``HostError``: with a message and no operation when the directory
    ///   is a symbolic link, not a directory, or refused by `trust` (naming its owner and mode).
    public init(path: String, trust: DirectoryTrust, create: Bool) throws(HostError) {
        if create { try Self.makeDirectories(path) }
        // O_NOFOLLOW: the last component must be the directory itself, not a link to one.
        var flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC
        if trust == .ownerOnly { flags |= O_NOFOLLOW }
        let fd: CInt
        do throws(HostError) {
            fd = try Self.retrying("open of the directory", path) { open(path, flags) }
        } catch {
            switch error.errno {
            case .tooManySymbolicLinkLevels?: throw HostError(path: path, message: "is a symbolic link; refusing to follow it (give the directory itself)")
            case .notDirectory?: throw HostError(path: path, message: "exists and is not a directory")
            default: throw error
            }
        }
        if trust == .ownerOnly {
            do throws(HostError) {
                try Self.checkOwnerOnly(fd, path)
            } catch {
                _ = close(fd)
                throw error
            }
        }
        self.path = path
        self.descriptor = FileDescriptor(rawValue: fd)
    }

    /// Refuses the open directory `fd` unless root or the effective user owns it and neither
    /// group nor others may write it.
    static func checkOwnerOnly(_ fd: CInt, _ path: String) throws(HostError) {
        var st = stat()
        try retrying("open of the directory", path) { fstat(fd, &st) }
        let euid = geteuid()
        let mode = st.st_mode & 0o7777
        guard (st.st_uid != 0 && st.st_uid != euid) || mode & 0o022 != 0 else { return }
        let owner = "uid \(st.st_uid)" + (userName(st.st_uid).map { " (\($0))" } ?? "")
        let octal = String(mode, radix: 8)
        let want = euid == 0 ? "root" : "root or uid \(euid)"
        throw HostError(path: path, message:
            "owned by \(owner) with mode \(String(repeating: "0", count: max(0, 4 - octal.count)) + octal): refusing to write there, "
            + "since whoever else may write the directory can plant links at the names written; "
            + "use a directory owned by \(want) and writable by no one else (chown, chmod go-w), such as the default /run/flushctl")
    }

    deinit { _ = close(descriptor.rawValue) }

    /// The path of `name` in this directory, for messages.
    public func pathOf(_ name: String) -> String { path == "/" ? "/" + name : path + "/" + name }

    /// What is at `name` (a symbolic link is reported, not followed).
    public func kind(of name: String) throws(HostError) -> DirectoryEntryKind {
        var st = stat()
        while fstatat(descriptor.rawValue, name, &st, AT_SYMLINK_NOFOLLOW) != 0 {
            let e = Glibc.errno
            if e == EINTR { continue }
            if e == ENOENT { return .absent }
            throw HostError(path: pathOf(name), operation: "check", errno: Errno(rawValue: e))
        }
        switch st.st_mode & S_IFMT {
        case S_IFREG: return .regularFile
        case S_IFDIR: return .directory
        case S_IFLNK: return .symbolicLink
        default: return .other
        }
    }

    /// Runs `body` holding `flock(LOCK_EX)` on the file `name` of this directory (created mode
    /// 0644 if missing). A symbolic link at `name` is refused, not followed.
    public func withLock<R>(_ name: String, _ body: () throws -> R) throws -> R {
        let lockPath = pathOf(name)
        let fd = openat(descriptor.rawValue, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o644)
        if fd < 0 {
            let e = Errno(rawValue: Glibc.errno)
            let why = e == .tooManySymbolicLinkLevels ? "; it is a symbolic link; refusing to follow it (remove it)" : ""
            throw HostError(path: lockPath, operation: "lock", message: "\(e)\(why)", errno: e)
        }
        defer { _ = close(fd) }
        var st = stat()
        _ = try Self.retrying("lock", lockPath) { fstat(fd, &st) }
        guard st.st_mode & S_IFMT == S_IFREG else {
            throw HostError(path: lockPath, message: "not a regular file; refusing to use it as the lock")
        }
        _ = try Self.retrying("lock", lockPath) { flock(fd, LOCK_EX) }
        return try body()
    }

    /// The bytes of the file `name`, up to `limit` (more is read as `limit + 1` bytes, so a
    /// caller can tell); `nil` when there is no such file. A symbolic link is refused.
    public func read(_ name: String, limit: Int) throws(HostError) -> [UInt8]? {
        let filePath = pathOf(name)
        let fd = openat(descriptor.rawValue, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        if fd < 0 {
            let e = Errno(rawValue: Glibc.errno)
            if e == .noSuchFileOrDirectory { return nil }
            throw HostError(path: filePath, operation: "read", errno: e)
        }
        defer { _ = close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while bytes.count <= limit {
            let n = try Self.retrying("read", filePath) { chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) } }
            if n == 0 { break }
            bytes += chunk[..<n]
        }
        return bytes.count > limit ? Array(bytes.prefix(limit + 1)) : bytes
    }

    /// Replaces `name` with a file holding `bytes`, mode `mode` whatever the umask: written to
    /// a new temporary file (random name, `O_CREAT | O_EXCL | O_NOFOLLOW`), fsynced, renamed
    /// over `name` and the directory fsynced. On failure the temporary file is removed and
    /// `name` is as it was (unless only the final directory fsync failed).
    public func replace(_ name: String, with bytes: [UInt8], mode: mode_t = 0o644) throws(HostError) {
        let target = pathOf(name)
        var temporary = ""
        var fd: CInt = -1
        // A random name nobody can plant something at in advance; O_EXCL makes a collision an
        // EEXIST, never a write into what is there.
        for attempt in 0..<16 {
            var random = SystemRandomNumberGenerator()
            let suffix = String(random.next() as UInt64, radix: 16)
            temporary = "\(name).tmp.\(String(repeating: "0", count: 16 - suffix.count))\(suffix)"
            fd = openat(descriptor.rawValue, temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
            if fd >= 0 { break }
            let e = Glibc.errno
            if e == EINTR || (e == EEXIST && attempt < 15) { continue }
            throw HostError(path: pathOf(temporary), operation: "open", errno: Errno(rawValue: e))
        }
        if fd < 0 { throw HostError(path: pathOf(temporary), operation: "open", errno: .interrupted) }
        let temporaryPath = pathOf(temporary)
        let file = fd
        var isOpen = true
        do throws(HostError) {
            try Self.retrying("fchmod", temporaryPath) { fchmod(file, mode) }
            var written = 0
            while written < bytes.count {
                let start = written
                written += try Self.retrying("write", temporaryPath) {
                    bytes.withUnsafeBytes { all in
                        let rest = UnsafeRawBufferPointer(rebasing: all[start...])
                        return Glibc.write(file, rest.baseAddress, rest.count)
                    }
                }
            }
            try Self.retrying("fsync", temporaryPath) { fsync(file) }
            // Not retried on EINTR: Linux has closed the descriptor whatever close returns.
            isOpen = false
            if close(file) != 0 { throw HostError(path: temporaryPath, operation: "close", errno: Errno(rawValue: Glibc.errno)) }
            let directoryFD = descriptor.rawValue, from = temporary
            try Self.retrying("rename", target) { renameat(directoryFD, from, directoryFD, name) }
        } catch {
            if isOpen { _ = close(file) }
            _ = unlinkat(descriptor.rawValue, temporary, 0)
            throw error
        }
        do throws(HostError) {
            let directoryFD = descriptor.rawValue
            try Self.retrying("fsync of the directory", path) { fsync(directoryFD) }
        } catch {
            throw HostError(path: path, operation: "fsync of the directory",
                            message: "\(error.message); \(target) was replaced but the new name may not survive a crash",
                            errno: error.errno)
        }
    }

    // MARK: Helpers

    /// Creates `path` and its missing parents, each mode 0755 whatever the umask (the chmod
    /// goes through a descriptor opened without following links).
    static func makeDirectories(_ path: String) throws(HostError) {
        var st = stat()
        if stat(path, &st) == 0 { return }
        let parent: String = {
            guard let slash = path.lastIndex(of: "/") else { return "." }
            let p = String(path[..<slash])
            return p.isEmpty ? "/" : p
        }()
        if parent != path && parent != "." { try makeDirectories(parent) }
        if mkdir(path, 0o755) != 0 {
            let e = Glibc.errno
            if e == EEXIST { return }
            throw HostError(path: path, operation: "mkdir", errno: Errno(rawValue: e))
        }
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        if fd >= 0 {
            _ = fchmod(fd, 0o755)
            _ = close(fd)
        }
    }

    /// The user name of `uid`, if the user database has one.
    static func userName(_ uid: uid_t) -> String? {
        guard let entry = getpwuid(uid), let name = entry.pointee.pw_name else { return nil }
        return String(cString: name)
    }

    /// Runs a call returning -1/errno (retrying EINTR), turning a failure into `operation`'s error.
    @discardableResult
    static func retrying<T: BinaryInteger>(_ operation: String, _ path: String, _ call: () -> T) throws(HostError) -> T {
        while true {
            let result = call()
            if result >= 0 { return result }
            let e = Glibc.errno
            if e == EINTR { continue }
            throw HostError(path: path, operation: operation, errno: Errno(rawValue: e))
        }
    }
}
