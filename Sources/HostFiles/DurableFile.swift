import SystemPackage
#if canImport(Glibc)
import Glibc
#endif

// The package's one durable file replacement, for the topology cache (`flushctl refresh`, run as
// root, read by everyone), `flushctl nfit build -o` and the files of `flushctl qemu --out`. Everything happens relative to one
// descriptor of the directory, opened once, so a directory swapped for a link after the checks
// is not followed; no name in it is followed either: the temporary file is created O_EXCL |
// O_NOFOLLOW under a random name, the lock is opened O_NOFOLLOW, and renameat replaces the
// directory entry, never a file a planted link points at.


/// Which directories a durable file may be replaced (or a trusted file read) in.
public enum DirectoryTrust: Sendable, Equatable {
    /// Owned by root or the effective user, and writable by neither group nor others; so is
    /// every directory on the way to it, except that one may be a sticky directory such as
    /// /tmp (whose entries only their owners can rename), and a symbolic link on the way must
    /// be root's or the effective user's. For files others trust or that steer what root runs
    /// (the cache root writes and everyone reads, `flushctl qemu --out`). In a directory
    /// someone else may write, they could plant or swap names at any moment.
    case ownerOnly
    /// Any directory: for files only the caller relies on (`nfit build -o`, often into /tmp).
    /// Names planted there are still never followed.
    case any
}

/// What is at a name of a ``DurableDirectory`` (not following a symbolic link).
public enum DirectoryEntryKind: String, Sendable, Equatable, CustomStringConvertible {
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

    /// `a directory`, `a symbolic link`, ….
    public var description: String {
        switch self {
        case .absent: return "nothing"
        case .regularFile: return "a regular file"
        case .directory: return "a directory"
        case .symbolicLink: return "a symbolic link"
        case .other: return "a device, FIFO or socket"
        }
    }
}

/// A directory opened once, in which files are replaced durably: a temporary file is written,
/// fsynced, renamed over the target and the directory fsynced, so a crash leaves the old file or
/// the new one, never part of one. Owns its descriptor.
public struct DurableDirectory: ~Copyable {
    /// The directory as given (for messages).
    public let path: String
    /// The open directory.
    public let descriptor: FileDescriptor

    /// How far the directory is trusted: ``read(_:limit:)`` checks files against it too.
    public let trust: DirectoryTrust

    /// Opens `path` (creating it and missing parents mode 0755 when `create` is set) and checks
    /// it against `trust`. With ``DirectoryTrust/ownerOnly`` the path is walked one component
    /// at a time from `/` (or the working directory), each opened relative to the one before
    /// and checked on its descriptor, so nothing can be swapped in between a check and a use;
    /// a directory it makes is made there (`mkdirat`), opened without following a link and
    /// then checked like one that existed.
    ///
    /// - Throws: ``HostError``: with a message and no operation when the directory
    ///   is a symbolic link, not a directory, or refused by `trust` (naming its owner and mode).
    public init(path: String, trust: DirectoryTrust, create: Bool) throws(HostError) {
        let fd: CInt
        if trust == .ownerOnly {
            fd = try Self.openOwnerOnly(path, create: create)
        } else {
            if create { try Self.makeDirectories(path) }
            do throws(HostError) {
                fd = try Self.retrying("open of the directory", path) { open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
            } catch {
                if error.errno == .notDirectory { throw HostError(path: path, message: "exists and is not a directory") }
                throw error
            }
        }
        self.path = path
        self.trust = trust
        self.descriptor = FileDescriptor(rawValue: fd)
    }

    /// Opens the directory `path` for ``DirectoryTrust/ownerOnly``: component by component,
    /// each checked with ``checkTrusted(_:_:kind:final:)``; the last one never through a link.
    static func openOwnerOnly(_ path: String, create: Bool) throws(HostError) -> CInt {
        let absolute = path.hasPrefix("/")
        var walked = absolute ? "/" : "."
        var fd = try retrying("open of the directory", walked) { open(walked, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        // The components still to walk, the next one last; a link on the way adds its target's.
        var pending = Array(components(of: path).reversed())
        var links = 0
        do throws(HostError) {
            try checkTrusted(fd, walked, kind: "directory", final: pending.isEmpty)
            while let name = pending.popLast() {
                let last = pending.isEmpty
                let next = walked == "/" ? "/" + name : (walked == "." && !absolute ? name : walked + "/" + name)
                var st = stat()
                var exists = true
                do {
                    try systemCall { fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) }
                } catch .noSuchFileOrDirectory {
                    exists = false
                } catch {
                    throw HostError(path: next, operation: "check", errno: error)
                }
                let flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW
                var made = false
                if !exists {
                    guard create else { throw HostError(path: next, operation: "open of the directory", errno: .noSuchFileOrDirectory) }
                    do {
                        try systemCall { mkdirat(fd, name, 0o755) }
                        made = true
                    } catch .fileExists {
                    } catch {
                        throw HostError(path: next, operation: "mkdir", errno: error)
                    }
                } else if st.st_mode & S_IFMT == S_IFLNK {
                    if last {
                        let owner = "uid \(st.st_uid)" + (userName(st.st_uid).map { " (\($0))" } ?? "")
                        throw HostError(path: next, message: "is a symbolic link owned by \(owner); refusing to follow it (give the directory itself)")
                    }
                    // A link on the way is followed only when root or the caller made it; the
                    // directory holding it is trusted, so no one else can swap it meanwhile.
                    // Its target is walked like the rest, so every directory on the way to the
                    // directory is checked, whatever links lead there.
                    try checkOwner(st, next, kind: "symbolic link")
                    links += 1
                    guard links <= 40 else { throw HostError(path: next, message: "too many symbolic links on the way") }
                    let target = try readLink(fd, name, next)
                    if target.hasPrefix("/") {
                        let root = try retrying("open of the directory", "/") { open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
                        _ = close(fd)
                        fd = root
                        walked = "/"
                        try checkTrusted(fd, walked, kind: "directory", final: false)
                    }
                    pending += components(of: target).reversed()
                    continue
                }
                let parent = fd
                let opened: CInt
                do throws(HostError) {
                    opened = try retrying("open of the directory", next) { openat(parent, name, flags) }
                } catch {
                    switch error.errno {
                    case .tooManySymbolicLinkLevels?: throw HostError(path: next, message: "is a symbolic link; refusing to follow it (give the directory itself)")
                    case .notDirectory?: throw HostError(path: next, message: "exists and is not a directory")
                    default: throw error
                    }
                }
                _ = close(fd)
                fd = opened
                walked = next
                // Mode 0755 whatever the umask, on what mkdirat made (not on what someone
                // else made at the name first: that is refused just below).
                if made { _ = fchmod(fd, 0o755) }
                try checkTrusted(fd, walked, kind: "directory", final: last)
            }
        } catch {
            _ = close(fd)
            throw error
        }
        return fd
    }

    /// The names of `path` between slashes, without empty ones and `.`.
    static func components(of path: String) -> [String] {
        path.split(separator: "/").map(String.init).filter { $0 != "." }
    }

    /// The target of the symbolic link `name` in the directory `fd` (`path` for messages).
    static func readLink(_ fd: CInt, _ name: String, _ path: String) throws(HostError) -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = try retrying("readlink", path) { readlinkat(fd, name, &buffer, buffer.count - 1) }
        return String(decoding: buffer.prefix(n).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Refuses the open file or directory `fd` unless root or the effective user owns it and
    /// neither group nor others may write it; a directory on the way (not `final`) may instead
    /// be sticky, as /tmp is.
    static func checkTrusted(_ fd: CInt, _ path: String, kind: String, final: Bool) throws(HostError) {
        var st = stat()
        try retrying("check", path) { fstat(fd, &st) }
        try checkOwner(st, path, kind: kind)
        let mode = st.st_mode & 0o7777
        if mode & 0o022 == 0 || (!final && mode & S_ISVTX != 0) { return }
        throw refusal(st, path, kind: kind)
    }

    /// Refuses `st` (of `path`, a `kind`) unless root or the effective user owns it.
    static func checkOwner(_ st: stat, _ path: String, kind: String) throws(HostError) {
        if st.st_uid == 0 || st.st_uid == geteuid() { return }
        throw refusal(st, path, kind: kind)
    }

    /// The error for a `kind` at `path` someone else controls: its owner and mode, and what to do.
    static func refusal(_ st: stat, _ path: String, kind: String) -> HostError {
        let euid = geteuid()
        let owner = "uid \(st.st_uid)" + (userName(st.st_uid).map { " (\($0))" } ?? "")
        let want = euid == 0 ? "root" : "root or uid \(euid)"
        return HostError(path: path, message:
            "\(kind) owned by \(owner) with mode \(octalMode(UInt32(st.st_mode))): refusing to trust it, "
            + "since someone other than \(want) may change what is there; "
            + "use one owned by \(want) and writable by no one else (chown, chmod go-w)")
    }

    deinit { _ = close(descriptor.rawValue) }

    /// The path of `name` in this directory, for messages.
    public func pathOf(_ name: String) -> String { path == "/" ? "/" + name : path + "/" + name }

    /// What is at `name` (a symbolic link is reported, not followed).
    public func kind(of name: String) throws(HostError) -> DirectoryEntryKind {
        var st = stat()
        do {
            try systemCall { fstatat(descriptor.rawValue, name, &st, AT_SYMLINK_NOFOLLOW) }
        } catch .noSuchFileOrDirectory {
            return .absent
        } catch {
            throw HostError(path: pathOf(name), operation: "check", errno: error)
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
            let e = Errno.last
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
    /// caller can tell); `nil` when there is no such file. A symbolic link is refused. In an
    /// ``DirectoryTrust/ownerOnly`` directory the file must be a regular file owned by root or
    /// the effective user and writable by neither group nor others, checked on the descriptor
    /// read from.
    public func read(_ name: String, limit: Int) throws(HostError) -> [UInt8]? {
        let filePath = pathOf(name)
        let fd = openat(descriptor.rawValue, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        if fd < 0 {
            let e = Errno.last
            if e == .noSuchFileOrDirectory { return nil }
            if e == .tooManySymbolicLinkLevels { throw HostError(path: filePath, message: "is a symbolic link; refusing to follow it") }
            throw HostError(path: filePath, operation: "read", errno: e)
        }
        defer { _ = close(fd) }
        if trust == .ownerOnly {
            var st = stat()
            try Self.retrying("read", filePath) { fstat(fd, &st) }
            guard st.st_mode & S_IFMT == S_IFREG else { throw HostError(path: filePath, message: "not a regular file") }
            try Self.checkTrusted(fd, filePath, kind: "file", final: true)
        }
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
            do {
                let directoryFD = descriptor.rawValue, name = temporary
                fd = try systemCall { openat(directoryFD, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode) }
                break
            } catch .fileExists where attempt < 15 {
                continue
            } catch {
                throw HostError(path: pathOf(temporary), operation: "open", errno: error)
            }
        }
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
            if close(file) != 0 { throw HostError(path: temporaryPath, operation: "close", errno: Errno.last) }
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
        do {
            try systemCall { mkdir(path, 0o755) }
        } catch .fileExists {
            return
        } catch {
            throw HostError(path: path, operation: "mkdir", errno: error)
        }
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        if fd >= 0 {
            _ = fchmod(fd, 0o755)
            _ = close(fd)
        }
    }

    /// The user name of `uid`, if the user database has one.
    package static func userName(_ uid: uid_t) -> String? {
        guard let entry = getpwuid(uid), let name = entry.pointee.pw_name else { return nil }
        return String(cString: name)
    }

    /// ``systemCall(_:)`` of `call`, its failure as `operation`'s error on `path`.
    @discardableResult
    static func retrying<T: BinaryInteger>(_ operation: String, _ path: String, _ call: () -> T) throws(HostError) -> T {
        do { return try systemCall(call) } catch { throw HostError(path: path, operation: operation, errno: error) }
    }
}

extension DurableDirectory {
    /// Writes `bytes` as the regular file `name` (mode 0644) through ``replace(_:with:mode:)``,
    /// refusing whatever else is at the name (a directory, a link, a device: never replaced) and,
    /// unless `overwrite`, an existing file.
    public func writeRegularFile(_ name: String, _ bytes: [UInt8], overwrite: Bool) throws(OutputFileError) {
        let kind: DirectoryEntryKind
        do { kind = try self.kind(of: name) } catch { throw .io(error) }
        switch kind {
        case .absent: break
        case .regularFile: if !overwrite { throw .exists(path: pathOf(name)) }
        case .directory, .symbolicLink, .other: throw .notRegularFile(path: pathOf(name), kind)
        }
        do { try replace(name, with: bytes, mode: 0o644) } catch { throw .io(error) }
    }
}

/// Why an output file was not written.
public enum OutputFileError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Something other than a regular file is at the path, which is never replaced: what it is.
    case notRegularFile(path: String, DirectoryEntryKind)
    /// A regular file is there, and overwriting it was not asked for.
    case exists(path: String)
    /// The directory could not be read or the file written (the step and its errno).
    case io(HostError)

    /// One line.
    public var description: String {
        switch self {
        case .notRegularFile(let path, let kind): return "\(path): \(kind) is there, not a regular file; refusing to replace it"
        case .exists(let path): return "\(path): already exists; refusing to overwrite it"
        case .io(let error): return error.description
        }
    }
}

/// The permission bits of `mode` as four octal digits (`0644`), as chmod takes them.
package func octalMode(_ mode: UInt32) -> String {
    let digits = String(mode & 0o7777, radix: 8)
    return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
}
