import Synchronization
import SystemPackage
#if canImport(Glibc)
import Glibc
#endif
import HostFiles

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
    /// This file's entry in the signal handler's list (its path as a C string).
    private let cleanupSlot: UnsafeMutablePointer<CChar>

    /// Creates a new file in `directory`.
    public init(directory: String) throws(HostError) {
        var st = stat()
        guard stat(directory, &st) == 0 else {
            throw HostError(path: directory, operation: "stat", errno: Errno.last)
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
            let (fd, slot) = ScratchCleanup.whileBlocked { () -> (CInt, UnsafeMutablePointer<CChar>?) in
                let fd = open(candidate, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
                return (fd, fd >= 0 ? ScratchCleanup.register(candidate) : nil)
            }
            if fd >= 0, let slot {
                ScratchCleanup.unblock()
                self.path = candidate
                self.descriptor = FileDescriptor(rawValue: fd)
                self.cleanupSlot = slot
                return
            }
            let error = Errno.last
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
            let fd = descriptor.rawValue, start = done
            let n: Int
            do {
                n = try systemCall { pwrite(fd, buffer.baseAddress.map { $0 + start }, buffer.count - start, off_t(start)) }
            } catch {
                throw HostError(path: path, operation: "pwrite", errno: error)
            }
            if n == 0 { throw HostError(path: path, operation: "pwrite", errno: .noSpace) }
            done += n
        }
    }

    /// Closes and unlinks the file. Idempotent.
    public func remove() throws(HostError) {
        guard !removed else { return }
        removed = true
        let closeError: Errno? = close(descriptor.rawValue) == 0 ? nil : Errno.last
        let unlinkResult = ScratchCleanup.whileBlocked { () -> (CInt, CInt) in
            let rc = unlink(path)
            let saved = Errno.last.rawValue
            ScratchCleanup.unregister(cleanupSlot)
            return (rc, saved)
        }
        if unlinkResult.0 != 0 {
            throw HostError(path: path, operation: "unlink", errno: Errno(rawValue: unlinkResult.1))
        }
        if let closeError { throw HostError(path: path, operation: "close", errno: closeError) }
    }

    deinit { try? remove() }
}

/// Every scratch file that exists, in a form a signal handler may use: one C string per file
/// (`unlink(2)` is async-signal-safe), in a list guarded by a spin lock.
///
/// Several files may exist at once (tests run in parallel; a caller may hold two), so each file
/// registers and unregisters its own entry. Every thread that takes the lock blocks the cleanup
/// signals first (`whileBlocked`), and the handler runs with them blocked, so the handler never
/// spins on a lock held by the thread it interrupted; on another thread it waits a few
/// instructions for the holder to finish.
enum ScratchCleanup {
    private static let lock = Atomic<Bool>(false)
    /// The registered paths (`count` of them, in storage for `capacity`); under `lock`.
    nonisolated(unsafe) private static var paths: UnsafeMutablePointer<UnsafeMutablePointer<CChar>>?
    nonisolated(unsafe) private static var count = 0
    nonisolated(unsafe) private static var capacity = 0
    nonisolated(unsafe) private static var installed = false
    static let signals: [CInt] = [SIGINT, SIGTERM, SIGHUP]

    /// Runs `body` with the cleanup signals blocked, so the handler never sees a half-updated list.
    static func whileBlocked<T>(_ body: () -> T) -> T {
        var set = sigset_t()
        var old = sigset_t()
        sigemptyset(&set)
        for s in signals { sigaddset(&set, s) }
        pthread_sigmask(SIG_BLOCK, &set, &old)
        defer { pthread_sigmask(SIG_SETMASK, &old, nil) }
        return body()
    }

    /// Takes the lock (the cleanup signals must be blocked in this thread).
    private static func withLock<T>(_ body: () -> T) -> T {
        while !lock.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged { sched_yield() }
        defer { lock.store(false, ordering: .releasing) }
        return body()
    }

    /// Adds `path` to the list (signals blocked); returns its entry, for `unregister`.
    static func register(_ path: String) -> UnsafeMutablePointer<CChar> {
        let entry = strdup(path)!
        withLock {
            if !installed {
                installed = true
                var mask = sigset_t()
                sigemptyset(&mask)
                for s in signals { sigaddset(&mask, s) }
                for s in signals {
                    var action = sigaction()
                    action.__sigaction_handler.sa_handler = scratchSignalHandler
                    // The other cleanup signals wait until the handler has re-raised: it holds the lock.
                    action.sa_mask = mask
                    action.sa_flags = 0
                    sigaction(s, &action, nil)
                }
            }
            if count == capacity {
                capacity = Swift.max(8, capacity * 2)
                paths = realloc(paths, capacity * MemoryLayout<UnsafeMutablePointer<CChar>>.stride)!
                    .assumingMemoryBound(to: UnsafeMutablePointer<CChar>.self)
            }
            paths![count] = entry
            count += 1
        }
        return entry
    }

    /// Removes the entry `register` returned (signals blocked), and frees it.
    static func unregister(_ entry: UnsafeMutablePointer<CChar>) {
        withLock {
            guard let paths, let index = (0..<count).first(where: { paths[$0] == entry }) else { return }
            count -= 1
            paths[index] = paths[count]
        }
        free(entry)
    }

    /// Unlinks every registered file (what the handler does before re-raising the signal).
    static func unlinkAll() {
        withLock {
            for i in 0..<count { unlink(paths![i]) }
        }
    }

    /// The registered paths (for tests).
    static var registered: [String] {
        whileBlocked { withLock { (0..<count).map { String(cString: paths![$0]) } } }
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
}

/// Unlinks every scratch file, restores the default action and re-raises the signal, so the
/// process ends as the signal says (exit status 128+N in a shell).
private func scratchSignalHandler(_ signal: CInt) {
    ScratchCleanup.unlinkAll()
    Glibc.signal(signal, SIG_DFL)
    raise(signal)
}
