import SystemPackage
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Group commit for one open file: many threads (a VMM's vCPUs) ask for a flush, and one
/// background thread runs fsync (or fdatasync) for all of them.
///
/// Rules (docs/fsync-fallback.md says why):
/// - **Started after**: a request is satisfied only by an fsync that started after the
///   request was made, never by the one in flight when it arrived (writes made just before
///   the request may have missed that one). Requests that arrive during one fsync share the next.
/// - **Sticky errors**: when an fsync fails, every request it would have satisfied fails with
///   its errno (`.syncFailed`), and from then on every request fails with that errno
///   (`.failedEarlier`). The kernel may have dropped the dirty pages and reports a writeback
///   error once per descriptor, so a later fsync returning 0 proves nothing. To recover, close
///   the descriptor, reopen the file, check the data, and make a new instance.
/// - A request that times out, is cancelled, or is pending at `shutdown()` fails with its own
///   reason; it is never reported as flushed.
///
/// ```swift
/// let fd = try FileDescriptor.open("/var/lib/vm/pmem0.img", .readWrite)
/// let flusher = try CoalescingFsync(descriptor: fd, file: "/var/lib/vm/pmem0.img")
/// // in each vCPU thread, on a trapped flush-hint write:
/// do { try flusher.flush(timeout: .seconds(30)) } catch { /* tell the guest: flush failed */ }
/// // on VM shutdown, before closing fd:
/// flusher.shutdown()
/// ```
///
/// The instance does not own the descriptor: keep it open until `shutdown()` returns
/// (dropping the last reference also shuts down).
public final class CoalescingFsync: Sendable {
    /// The system call each flush makes.
    public enum SyncMethod: Sendable, Equatable {
        /// `fsync(2)`: data and all metadata. The default: when unsure, the safer call.
        case fsync
        /// `fdatasync(2)`: data and the metadata needed to read it back (size, allocation),
        /// not timestamps. Enough for a preallocated image file, and cheaper.
        case fdatasync
    }

    /// How long the flusher may hold back an fsync for requesters that are about to ask
    /// (group commit, like PostgreSQL's `commit_delay`/`commit_siblings`, but adaptive).
    ///
    /// After fsync *k* completes, the flusher estimates how many requesters are active: the
    /// requests pending when *k* started plus those that arrived while it ran (a blocked
    /// requester cannot ask twice, so these are different requesters). If fewer than that wait
    /// for the next fsync, it waits until that many do, or until the window ends: the smaller
    /// of `maximumWait` and `latencyFraction` times the recent fsync latency (an exponential
    /// moving average). With one requester the estimate is one, so it never waits.
    public struct Gathering: Sendable, Equatable {
        /// The longest wait before one fsync, however slow fsync is.
        public var maximumWait: Duration
        /// The wait as a fraction of the recent fsync latency.
        public var latencyFraction: Double

        /// A window of `min(maximumWait, latencyFraction × recent fsync latency)`. Negative or
        /// non-finite values count as zero (no gathering); a `maximumWait` above 10 s as 10 s.
        public init(maximumWait: Duration, latencyFraction: Double) {
            self.maximumWait = maximumWait
            self.latencyFraction = latencyFraction
        }

        /// The default: at most half an fsync's latency, and never more than 500 µs.
        public static let adaptive = Gathering(maximumWait: .microseconds(500), latencyFraction: 0.5)
        /// No gathering: an fsync starts as soon as one request needs it (the behaviour before
        /// gathering existed; requesters in a loop then split into two alternating batches).
        public static let off = Gathering(maximumWait: .zero, latencyFraction: 0)
    }

    /// Counters since the instance was made.
    public struct Statistics: Sendable, Equatable {
        /// `flush` calls accepted (refused ones, after a failure or shutdown, are not counted).
        public var requests: UInt64
        /// fsync calls completed, successful or not.
        public var syncs: UInt64
        /// fsyncs the flusher held back for more requests to arrive (at least one was pending).
        public var gathered: UInt64 = 0
        /// Gathering windows that ended before the expected number of requests was pending
        /// (the fsync then started with those there were).
        public var windowsExpired: UInt64 = 0
        /// Time spent in the fsync calls, all together (divided by `syncs`: the mean latency).
        public var syncTime: Duration = .zero
    }

    private let engine: FsyncEngine
    private let thread: Mutex<pthread_t?>

    /// Flushes `descriptor` (which must stay open until `shutdown()` returns) with `method`.
    /// `file` names it in error messages; `gathering` bounds how long an fsync may be held back
    /// for requesters about to ask. Throws `.cannotStart` if the flusher thread cannot be
    /// started (the errno of `pthread_create`).
    public convenience init(descriptor: FileDescriptor, file: String, method: SyncMethod = .fsync,
                            gathering: Gathering = .adaptive) throws(CoalescingFsyncError) {
        let fd = descriptor.rawValue
        try self.init(file: file, gathering: gathering) {
            while true {
                let rc = method == .fsync ? Glibc.fsync(fd) : Glibc.fdatasync(fd)
                if rc == 0 { return nil }
                let error = Glibc.errno
                // EINTR: interrupted before the kernel reported anything; a new call is a new
                // fsync started after every waiting request, so retrying is sound.
                if error == EINTR { continue }
                return Errno(rawValue: error)
            }
        }
    }

    /// An instance whose flushes call `sync` (nil: success; an errno: failure). For tests.
    init(file: String, gathering: Gathering = .adaptive, sync: @escaping @Sendable () -> Errno?) throws(CoalescingFsyncError) {
        let engine = FsyncEngine(file: file, gathering: gathering, sync: sync)
        self.engine = engine
        var tid = pthread_t()
        let context = Unmanaged.passRetained(engine).toOpaque()
        let rc = pthread_create(&tid, nil, { context in
            guard let context else { return nil }
            let engine = Unmanaged<FsyncEngine>.fromOpaque(context).takeRetainedValue()
            engine.runFlusher()
            return nil
        }, context)
        guard rc == 0 else {
            Unmanaged<FsyncEngine>.fromOpaque(context).release()
            throw CoalescingFsyncError(file: file, reason: .cannotStart(Errno(rawValue: rc)))
        }
        self.thread = Mutex(tid)
    }

    deinit { shutdown() }

    /// The file named in error messages.
    public var file: String { engine.file }

    /// Blocks until an fsync that started after this call completes successfully.
    ///
    /// Throws `.syncFailed` if that fsync failed, `.failedEarlier` if an earlier one did (then
    /// every later call throws too), `.timedOut` after `timeout`, `.cancelled` once
    /// `cancellation` is cancelled, `.shutDown` after `shutdown()`.
    public func flush(timeout: Duration? = nil, cancellation: FsyncCancellation? = nil) throws(CoalescingFsyncError) {
        try engine.flush(deadline: timeout.map(FsyncEngine.deadline(after:)), cancellation: cancellation)
    }

    /// `flush()` for async callers: suspends instead of blocking. Cancelling the task fails the
    /// request with `.cancelled` (unless its fsync already completed).
    public func flush() async throws(CoalescingFsyncError) {
        try await engine.flushAsync().get()
    }

    /// The first fsync error, once one happened; the instance then refuses every request.
    public var failure: Errno? { engine.withCore { $0.failure?.errno } }

    /// How many requests were accepted, how many fsyncs ran, and how often gathering waited.
    public var statistics: Statistics {
        engine.withCore {
            Statistics(requests: $0.requests, syncs: $0.completed, gathered: $0.gathered, windowsExpired: $0.windowsExpired,
                       syncTime: .nanoseconds($0.syncNanoseconds))
        }
    }

    /// Fails pending requests with `.shutDown`, refuses new ones, and waits for an fsync in
    /// flight to return. Afterwards the descriptor may be closed. Calling it again does nothing.
    public func shutdown() {
        engine.beginShutdown()
        if let tid = thread.withLock({ t -> pthread_t? in defer { t = nil }; return t }) {
            pthread_join(tid, nil)
        }
    }
}

/// The shared state and the flusher thread's loop. Every `core` access holds `mutex`.
final class FsyncEngine: @unchecked Sendable {
    struct Core {
        /// fsyncs started, and completed (one at a time, so they complete in order).
        var started: UInt64 = 0
        var completed: UInt64 = 0
        /// The highest generation a request needs (a request made while `started` is n needs n + 1).
        var wanted: UInt64 = 0
        /// The first failed fsync; the flusher stops there.
        var failure: (generation: UInt64, errno: Errno)?
        var shutDown = false
        var requests: UInt64 = 0
        /// Requests waiting for fsync `started + 1` (accepted, not given up): the next batch.
        var pendingNext = 0
        /// Requests pending when the fsync in flight (or the last one) started.
        var pendingAtStart = 0
        /// Requesters active around the last fsync: pending at its start plus arrived during it.
        var active = 0
        /// While the flusher gathers, the number of pending requests it waits for (else 0).
        var gatherTarget = 0
        /// Recent fsync latency in nanoseconds (exponential moving average; 0: none yet).
        var latencyNanoseconds: Double = 0
        var gathered: UInt64 = 0
        var windowsExpired: UInt64 = 0
        var syncNanoseconds: Int64 = 0
        /// Suspended async requests by id.
        var asyncWaiters: [UInt64: (needed: UInt64, continuation: CheckedContinuation<Result<Void, CoalescingFsyncError>, Never>)] = [:]
        /// Async ids handed out but not queued yet, and those of them whose task was already cancelled.
        var unqueued: Set<UInt64> = []
        var cancelledEarly: Set<UInt64> = []
        var nextAsyncID: UInt64 = 0
    }

    let file: String
    private let sync: @Sendable () -> Errno?
    /// The gathering window's bounds, in nanoseconds and as a fraction of the fsync latency.
    private let maximumWaitNanoseconds: Double
    private let latencyFraction: Double
    private var core = Core()
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    /// Signalled when a request needs a new fsync, or on shutdown.
    private let work = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    /// Two conditions: requests that need an even-numbered fsync wait on the first, odd on the
    /// second. A completed fsync wakes only its own waiters, not those of the next one (with 32
    /// vCPUs on few cores the needless wake-ups cost more than the fsync). Failure, shutdown
    /// and cancellation wake both.
    private let done = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 2)

    /// The condition a request needing fsync `generation` waits on.
    private func condition(for generation: UInt64) -> UnsafeMutablePointer<pthread_cond_t> { done + Int(generation & 1) }

    /// Wakes every waiting request (lock held).
    private func wakeAll() {
        pthread_cond_broadcast(done)
        pthread_cond_broadcast(done + 1)
    }

    init(file: String, gathering: CoalescingFsync.Gathering, sync: @escaping @Sendable () -> Errno?) {
        self.file = file
        self.sync = sync
        let (seconds, attoseconds) = gathering.maximumWait.components
        let cap = Double(seconds) * 1e9 + Double(attoseconds) / 1e9
        self.maximumWaitNanoseconds = cap.isFinite && cap > 0 ? min(cap, 10e9) : 0
        self.latencyFraction = gathering.latencyFraction.isFinite && gathering.latencyFraction > 0 ? gathering.latencyFraction : 0
        var mutexAttributes = pthread_mutexattr_t()
        pthread_mutexattr_init(&mutexAttributes)
        // Spin briefly before sleeping: every critical section here is a few instructions.
        pthread_mutexattr_settype(&mutexAttributes, Int32(PTHREAD_MUTEX_ADAPTIVE_NP))
        pthread_mutex_init(mutex, &mutexAttributes)
        pthread_mutexattr_destroy(&mutexAttributes)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        // Deadlines on the monotonic clock: a wall-clock step must not fire or stall timeouts.
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(work, &attributes)
        pthread_cond_init(done, &attributes)
        pthread_cond_init(done + 1, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(done + 1)
        pthread_cond_destroy(done)
        pthread_cond_destroy(work)
        pthread_mutex_destroy(mutex)
        done.deallocate()
        work.deallocate()
        mutex.deallocate()
    }

    func withCore<T>(_ body: (inout Core) -> T) -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return body(&core)
    }

    /// The monotonic time `duration` from now (negative: now; capped at ten years, which
    /// keeps the arithmetic from overflowing).
    static func deadline(after duration: Duration) -> timespec {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let (seconds, attoseconds) = duration.components
        guard seconds >= 0, attoseconds >= 0 else { return now }
        var nanoseconds = Int64(now.tv_nsec) + attoseconds / 1_000_000_000
        let wholeSeconds = Int64(now.tv_sec) + min(seconds, 315_360_000) + nanoseconds / 1_000_000_000
        nanoseconds %= 1_000_000_000
        return timespec(tv_sec: Int(wholeSeconds), tv_nsec: Int(nanoseconds))
    }

    /// Now on the monotonic clock, in nanoseconds.
    static func monotonicNanoseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
    }

    /// The outcome of a request that needs fsync number `needed`; nil while still pending.
    private func outcome(_ needed: UInt64) -> Result<Void, CoalescingFsyncError>? {
        if let failure = core.failure, failure.generation <= needed {
            let reason: CoalescingFsyncError.Reason = failure.generation == needed ? .syncFailed(failure.errno) : .failedEarlier(failure.errno)
            return .failure(CoalescingFsyncError(file: file, reason: reason))
        }
        if core.completed >= needed { return .success(()) }
        if core.shutDown { return .failure(CoalescingFsyncError(file: file, reason: .shutDown)) }
        return nil
    }

    /// Accepts a request (lock held): the generation it needs, or why it is refused.
    private func accept() -> Result<UInt64, CoalescingFsyncError> {
        if let failure = core.failure {
            return .failure(CoalescingFsyncError(file: file, reason: .failedEarlier(failure.errno)))
        }
        if core.shutDown { return .failure(CoalescingFsyncError(file: file, reason: .shutDown)) }
        core.requests += 1
        // Not the fsync in flight (number `started`, if any): the next one.
        let needed = core.started + 1
        core.pendingNext += 1
        if core.gatherTarget > 0 {
            // The flusher is gathering: wake it once, when the batch it waits for is complete.
            core.wanted = needed
            if core.pendingNext == core.gatherTarget { pthread_cond_signal(work) }
        } else if core.wanted < needed {
            core.wanted = needed
            pthread_cond_signal(work)
        }
        return .success(needed)
    }

    /// A request that needs fsync `needed` gives up (lock held): if that fsync has not started,
    /// it no longer counts towards the batch the flusher may be gathering.
    private func withdraw(_ needed: UInt64) {
        if needed > core.started && core.pendingNext > 0 { core.pendingNext -= 1 }
    }

    func flush(deadline: timespec?, cancellation: FsyncCancellation?) throws(CoalescingFsyncError) {
        var wakeID: Int?
        if let cancellation {
            wakeID = cancellation.register { [self] in
                pthread_mutex_lock(mutex)
                wakeAll()
                pthread_mutex_unlock(mutex)
            }
            if wakeID == nil { throw CoalescingFsyncError(file: file, reason: .cancelled) }
        }
        defer { if let wakeID { cancellation?.unregister(wakeID) } }

        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        let needed = try accept().get()
        var deadline = deadline
        while true {
            if let result = outcome(needed) { return try result.get() }
            // Checked under our lock; `cancel()` broadcasts under it, so no wake-up is lost.
            if cancellation?.isCancelled == true {
                withdraw(needed)
                throw CoalescingFsyncError(file: file, reason: .cancelled)
            }
            if deadline != nil {
                if pthread_cond_timedwait(condition(for: needed), mutex, &deadline!) == ETIMEDOUT {
                    if let result = outcome(needed) { return try result.get() }
                    withdraw(needed)
                    throw CoalescingFsyncError(file: file, reason: .timedOut)
                }
            } else {
                pthread_cond_wait(condition(for: needed), mutex)
            }
        }
    }

    func flushAsync() async -> Result<Void, CoalescingFsyncError> {
        let id = withCore { core -> UInt64 in
            defer { core.nextAsyncID += 1 }
            core.unqueued.insert(core.nextAsyncID)
            return core.nextAsyncID
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                pthread_mutex_lock(mutex)
                defer { pthread_mutex_unlock(mutex) }
                core.unqueued.remove(id)
                if core.cancelledEarly.remove(id) != nil {
                    continuation.resume(returning: .failure(CoalescingFsyncError(file: file, reason: .cancelled)))
                    return
                }
                switch accept() {
                case .failure(let error):
                    continuation.resume(returning: .failure(error))
                case .success(let needed):
                    core.asyncWaiters[id] = (needed, continuation)
                }
            }
        } onCancel: {
            pthread_mutex_lock(mutex)
            defer { pthread_mutex_unlock(mutex) }
            if let waiter = core.asyncWaiters.removeValue(forKey: id) {
                if let result = outcome(waiter.needed) {
                    waiter.continuation.resume(returning: result)
                } else {
                    withdraw(waiter.needed)
                    waiter.continuation.resume(returning: .failure(CoalescingFsyncError(file: file, reason: .cancelled)))
                }
            } else if core.unqueued.contains(id) {
                // Cancelled before it was queued: fail it when it is. (Already answered: nothing to do.)
                core.cancelledEarly.insert(id)
            }
        }
    }

    /// Resumes every async request whose outcome is known (lock held).
    private func resumeAsyncWaiters() {
        for (id, waiter) in core.asyncWaiters {
            if let result = outcome(waiter.needed) {
                core.asyncWaiters[id] = nil
                waiter.continuation.resume(returning: result)
            }
        }
    }

    func beginShutdown() {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        guard !core.shutDown else { return }
        core.shutDown = true
        pthread_cond_signal(work)
        wakeAll()
        resumeAsyncWaiters()
    }

    /// The gathering window after an fsync completes, in nanoseconds (0: do not gather).
    private func gatherWindow() -> Double {
        min(maximumWaitNanoseconds, latencyFraction * core.latencyNanoseconds)
    }

    /// After an fsync completed (lock held): if fewer requests wait for the next one than
    /// requesters were active, wait for the others until the window ends. Only delays the
    /// next fsync's start, so every request it satisfies was still made before it started.
    private func gather() {
        let target = core.active
        let window = gatherWindow()
        // One active requester: nobody to wait for (its own next request starts the fsync at once).
        guard target > 1, window >= 1_000, target > core.pendingNext, !core.shutDown, core.failure == nil else { return }
        var deadline = Self.deadline(after: .nanoseconds(Int64(window)))
        core.gatherTarget = target
        defer { core.gatherTarget = 0 }
        while !core.shutDown && core.pendingNext < target {
            if pthread_cond_timedwait(work, mutex, &deadline) == ETIMEDOUT {
                if core.pendingNext < target { core.windowsExpired += 1 }
                break
            }
        }
        if core.pendingNext > 0 { core.gathered += 1 }
    }

    /// The flusher thread: one fsync at a time, each covering every request made before it
    /// started, the next one held back (`gather()`) while the rest of a batch is arriving.
    func runFlusher() {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        while true {
            while !core.shutDown && core.failure == nil && core.wanted <= core.started {
                pthread_cond_wait(work, mutex)
            }
            // After a failure no fsync runs again: its success would prove nothing.
            if core.shutDown || core.failure != nil { return }
            core.started += 1
            let generation = core.started
            core.pendingAtStart = core.pendingNext
            core.pendingNext = 0
            pthread_mutex_unlock(mutex)
            let start = Self.monotonicNanoseconds()
            let error = sync()
            let elapsed = Self.monotonicNanoseconds() - start
            let latency = Double(elapsed)
            pthread_mutex_lock(mutex)
            core.completed = generation
            core.syncNanoseconds += elapsed
            core.latencyNanoseconds = core.latencyNanoseconds == 0 ? latency : core.latencyNanoseconds + (latency - core.latencyNanoseconds) / 8
            // A blocked requester cannot ask again before its fsync completes, so those pending
            // at the start and those that arrived during it are different requesters.
            core.active = core.pendingAtStart + core.pendingNext
            // Record a failure before anyone learns that this fsync completed: `outcome` reads
            // `completed >= needed` as success unless a failure is recorded.
            if let error { core.failure = (generation, error) }
            resumeAsyncWaiters()
            if error != nil {
                wakeAll()   // the next fsync's waiters fail too
            } else {
                // Outside the lock: woken requesters would otherwise block at once on the lock
                // this thread still holds, and wake one another in turn (on 2 cores that chain
                // costs more than the wake-ups). The state changed under the lock, so no
                // waiter can miss it.
                pthread_mutex_unlock(mutex)
                pthread_cond_broadcast(condition(for: generation))
                pthread_mutex_lock(mutex)
            }
            gather()
        }
    }
}
