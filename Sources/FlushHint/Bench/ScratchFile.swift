import SystemPackage
#if canImport(Glibc)
import Glibc
#endif

/// A file flushctl bench creates for itself: `O_CREAT | O_EXCL` under a unique name
/// (`.flushctl-bench.<pid>.<random>`), mode 0600, never an existing file. It is removed by
/// ``remove()``, else when the value goes away, and if SIGINT, SIGTERM or SIGHUP arrives
/// while it exists (the handler unlinks it and re-raises the signal).
public final class ScratchFile {
    /// The file's path.
    public let path: String
    /// The open descriptor (read-write).
    public let descriptor: FileDescriptor
    private var removed = false

    /// Creates a new file in `directory`.
    public init(directory: String) throws(HostError) {
        var st = stat()
        guard stat(directory, &st) == 0 else {
            throw HostError(path: directory, operation: "stat", errno: Errno(rawValue: Glibc.errno))
        }
        guard st.st_mode & S_IFMT == S_IFDIR else {
            throw HostError(path: directory, operation: "scratch directory", errno: .notDirectory)
        }
        let base = directory.hasSuffix("/") && directory.count > 1 ? String(directory.dropLast()) : directory
        var attempt = 0
        while true {
            let name = ".flushctl-bench.\(getpid()).\(String(UInt32.random(in: 0...UInt32.max), radix: 16))"
            let candidate = (base == "/" ? "" : base) + "/" + name
            // Block the cleanup signals between creating the file and registering it.
            let fd = ScratchCleanup.whileBlocked { () -> CInt in
                let fd = open(candidate, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
                if fd >= 0 { ScratchCleanup.register(candidate) }
                return fd
            }
            if fd >= 0 {
                ScratchCleanup.unblock()
                self.path = candidate
                self.descriptor = FileDescriptor(rawValue: fd)
                return
            }
            let error = Errno(rawValue: Glibc.errno)
            attempt += 1
            if error == .fileExists && attempt < 16 { continue }
            if error == .interrupted { continue }
            throw HostError(path: candidate, operation: "open(O_CREAT|O_EXCL)", errno: error)
        }
    }

    /// Writes `buffer` at offset 0 (all of it, retrying short writes and EINTR).
    public func overwrite(_ buffer: UnsafeRawBufferPointer) throws(HostError) {
        var done = 0
        while done < buffer.count {
            let n = pwrite(descriptor.rawValue, buffer.baseAddress.map { $0 + done }, buffer.count - done, off_t(done))
            if n < 0 {
                if Glibc.errno == EINTR { continue }
                throw HostError(path: path, operation: "pwrite", errno: Errno(rawValue: Glibc.errno))
            }
            if n == 0 { throw HostError(path: path, operation: "pwrite", errno: .noSpace) }
            done += n
        }
    }

    /// Closes and unlinks the file. Idempotent.
    public func remove() throws(HostError) {
        guard !removed else { return }
        removed = true
        let closeError: Errno? = close(descriptor.rawValue) == 0 ? nil : Errno(rawValue: Glibc.errno)
        let unlinkResult = ScratchCleanup.whileBlocked { () -> (CInt, CInt) in
            let rc = unlink(path)
            let saved = Glibc.errno
            ScratchCleanup.unregister()
            return (rc, saved)
        }
        if unlinkResult.0 != 0 {
            throw HostError(path: path, operation: "unlink", errno: Errno(rawValue: unlinkResult.1))
        }
        if let closeError { throw HostError(path: path, operation: "close", errno: closeError) }
    }

    deinit { try? remove() }
}

/// The one scratch file that exists at a time, in a form a signal handler may use: a C string
/// and `unlink(2)`, both async-signal-safe.
enum ScratchCleanup {
    nonisolated(unsafe) static var pending: UnsafeMutablePointer<CChar>? = nil
    nonisolated(unsafe) static var installed = false
    static let signals: [CInt] = [SIGINT, SIGTERM, SIGHUP]

    /// Runs `body` with the cleanup signals blocked, so the handler never sees a half-updated path.
    static func whileBlocked<T>(_ body: () -> T) -> T {
        var set = sigset_t()
        var old = sigset_t()
        sigemptyset(&set)
        for s in signals { sigaddset(&set, s) }
        pthread_sigmask(SIG_BLOCK, &set, &old)
        defer { pthread_sigmask(SIG_SETMASK, &old, nil) }
        return body()
    }

    static func register(_ path: String) {
        if !installed {
            installed = true
            for s in signals {
                var action = sigaction()
                action.__sigaction_handler.sa_handler = scratchSignalHandler
                sigemptyset(&action.sa_mask)
                action.sa_flags = 0
                sigaction(s, &action, nil)
            }
        }
        free(pending)
        pending = strdup(path)
    }

    /// Unblocks the cleanup signals in this thread. A mask inherited blocked (a test runner's
    /// thread spawning flushctl does this) would otherwise hold SIGINT pending for the whole
    /// run and leave the file behind if the process is then killed harder.
    static func unblock() {
        var set = sigset_t()
        sigemptyset(&set)
        for s in signals { sigaddset(&set, s) }
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
    }

    static func unregister() {
        free(pending)
        pending = nil
    }
}

/// Unlinks the pending scratch file, restores the default action and re-raises the signal,
/// so the process ends as the signal says (exit status 128+N in a shell).
private func scratchSignalHandler(_ signal: CInt) {
    if let path = ScratchCleanup.pending { unlink(path) }
    Glibc.signal(signal, SIG_DFL)
    raise(signal)
}
