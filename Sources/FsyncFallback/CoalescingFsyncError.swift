import SystemPackage
import Synchronization

/// Why a `CoalescingFsync` request was not satisfied. A request that throws made nothing
/// durable as far as the caller may know: the guest must be told its flush failed.
public struct CoalescingFsyncError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What went wrong.
    public enum Reason: Sendable, Equatable {
        /// The fsync this request waited for failed with this error. Data written before the
        /// request may be lost (the kernel may have dropped the dirty pages).
        case syncFailed(Errno)
        /// An earlier fsync of this file failed with this error; the instance is failed and
        /// never reports success again. Reopen the file and make a new instance.
        case failedEarlier(Errno)
        /// The request's deadline passed before an fsync that started after it completed.
        case timedOut
        /// The request was cancelled (its `FsyncCancellation` or its task) before an fsync
        /// that started after it completed.
        case cancelled
        /// The instance was shut down before an fsync that started after the request completed.
        case shutDown
        /// The instance could not start its flusher thread (`pthread_create`'s errno).
        case cannotStart(Errno)
    }

    /// The file the instance flushes, as given to it (for messages only).
    public var file: String
    /// What went wrong.
    public var reason: Reason

    /// Creates an error.
    public init(file: String, reason: Reason) {
        self.file = file
        self.reason = reason
    }

    /// The errno of a failed fsync (this request's or an earlier one's); `nil` otherwise.
    public var errno: Errno? {
        switch reason {
        case .syncFailed(let e), .failedEarlier(let e): return e
        case .timedOut, .cancelled, .shutDown, .cannotStart: return nil
        }
    }

    /// The error as one line, naming the file and what to do.
    public var description: String {
        switch reason {
        case .syncFailed(let e):
            return "\(file): fsync failed: \(e) (errno \(e.rawValue)); data written before this flush may be lost; reopen the file"
        case .failedEarlier(let e):
            return "\(file): an earlier fsync failed: \(e) (errno \(e.rawValue)); no flush of this descriptor can succeed; reopen the file"
        case .timedOut:
            return "\(file): flush timed out before an fsync started after it completed; nothing is known to be durable"
        case .cancelled:
            return "\(file): flush cancelled before an fsync started after it completed; nothing is known to be durable"
        case .shutDown:
            return "\(file): flush refused: the coalescing fsync was shut down"
        case .cannotStart(let e):
            return "\(file): cannot start the fsync thread: pthread_create: \(e) (errno \(e.rawValue))"
        }
    }
}

/// Cancels the blocking `CoalescingFsync.flush` calls it is passed to, from any thread.
///
/// A cancelled request throws `CoalescingFsyncError.Reason.cancelled` (unless its fsync
/// already completed). Cancelling is permanent: later requests given this token fail at once.
public final class FsyncCancellation: Sendable {
    private struct State {
        var cancelled = false
        var nextID = 0
        var wakers: [Int: @Sendable () -> Void] = [:]
    }

    private let state = Mutex(State())

    /// Creates a token that is not cancelled.
    public init() {}

    /// Whether `cancel()` was called.
    public var isCancelled: Bool { state.withLock { $0.cancelled } }

    /// Cancels every request waiting with this token and every later one.
    public func cancel() {
        let wakers = state.withLock { s -> [@Sendable () -> Void] in
            if s.cancelled { return [] }
            s.cancelled = true
            defer { s.wakers = [:] }
            return Array(s.wakers.values)
        }
        // Outside our lock: a waker takes the instance's lock.
        for wake in wakers { wake() }
    }

    /// Registers `wake` to run on cancellation; returns nil (and registers nothing) if already cancelled.
    func register(_ wake: @escaping @Sendable () -> Void) -> Int? {
        state.withLock { s in
            if s.cancelled { return nil }
            let id = s.nextID
            s.nextID += 1
            s.wakers[id] = wake
            return id
        }
    }

    /// Removes a waker registered with `register`.
    func unregister(_ id: Int) {
        _ = state.withLock { $0.wakers.removeValue(forKey: id) }
    }
}
