import SystemPackage
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Group commit for one open file: many threads (a VMM's vCPUs) ask for a flush, and each
/// fsync (or fdatasync) serves every request made before it started.
///
/// Leader/follower: a blocking request without a timeout or cancellation that finds no fsync
/// in flight and nobody to gather runs the fsync on its own thread (no hand-off: a lone
/// requester pays what calling fsync itself costs); requests made meanwhile share the next
/// fsync, which one of them runs (the last of a gathered batch, at once). Requests that must be
/// able to give up (timeout, cancellation) and async ones never run an fsync: a leader or the
/// background flusher thread runs it for them, at the cost of one hand-off.
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
    /// moving average). While requests keep arriving, each keeps the window open for at least
    /// half its length more, up to twice its length in all: a large batch coming back on few
    /// cores takes longer than a small one, and a requester that misses the batch waits a whole
    /// fsync more. With one requester the estimate is one, so it never waits.
    public struct Gathering: Sendable, Equatable {
        /// The longest wait before one fsync, however slow fsync is.
        public var maximumWait: Duration
        /// The wait as a fraction of the recent fsync latency.
        public var latencyFraction: Double

        /// A window of `min(maximumWait, latencyFraction × recent fsync latency)` (extended by
        /// arrivals to at most twice that). Negative or
        /// non-finite values count as zero (no gathering); a `maximumWait` above 10 s as 10 s.
        public init(maximumWait: Duration, latencyFraction: Double) {
            self.maximumWait = maximumWait
            self.latencyFraction = latencyFraction
        }

        /// The default: half an fsync's latency, at most 500 µs (one fsync, 1 ms, with arrivals).
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
        /// fsyncs run on a requester's own thread (the rest ran on the flusher thread).
        public var ledByRequesters: UInt64 = 0
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
    /// Without `timeout` and `cancellation` the call may run that fsync on its own thread (when
    /// none is in flight and nobody is to be gathered); with either it never does (it could not
    /// give up inside fsync), and another thread runs it: one hand-off more.
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

    /// How many requests were accepted, how many fsyncs ran (and where), and how often gathering waited.
    public var statistics: Statistics { engine.statistics() }

    /// Fails pending requests with `.shutDown`, refuses new ones, and waits for an fsync in
    /// flight to return (whichever thread runs it; the request of a requester running it gets
    /// that fsync's own result). Afterwards the descriptor may be closed. Calling it again does nothing.
    public func shutdown() {
        engine.shutDown()
        if let tid = thread.withLock({ t -> pthread_t? in defer { t = nil }; return t }) {
            pthread_join(tid, nil)
        }
    }
}

/// The shared state, the rules for who runs the next fsync, and the flusher thread's loop.
/// Every `core` access holds `mutex`.
///
/// Who runs an fsync (docs/fsync-fallback.md, "Leaders and the flusher thread"): a blocking
/// request without a timeout or a cancellation token may *lead*: when it finds the next fsync
/// due (nothing in flight, no gathering window holding it back) it runs that fsync on its own
/// thread, for itself and every request pending at that moment. Requests that cannot lead (a
/// timeout or a token: they must be able to give up, which a thread inside fsync cannot; async
/// ones: they have no thread to lend) hand the work to the flusher thread, which then runs or
/// gathers exactly as a leader would. Whoever runs fsync *n*, the requests it satisfies are
/// those pending when it starts, so the started-after rule is decided in one place
/// (`runSync`), whoever runs it.
final class FsyncEngine: @unchecked Sendable {
    struct Core {
        /// fsyncs started, and completed (one at a time, so they complete in order).
        var started: UInt64 = 0
        var completed: UInt64 = 0
        /// Whether fsync number `started` is running (on a leader's thread or the flusher's).
        var inFlight = false
        /// The first failed fsync; no fsync runs after it.
        var failure: (generation: UInt64, errno: Errno)?
        var shutDown = false
        var requests: UInt64 = 0
        /// Requests waiting for fsync `started + 1` (accepted, not given up): the next batch.
        var pendingNext = 0
        /// Of those, the ones that may lead it (they never give up, so this never exceeds `pendingNext`).
        var leadersNext = 0
        /// Requests pending when the fsync in flight (or the last one) started.
        var pendingAtStart = 0
        /// The gathering window after the last fsync: the next one is held back until `end`
        /// (monotonic nanoseconds) unless `target` requests are pending before that. An
        /// arrival before `end` moves it to at least `extension` from then, never past `limit`.
        var window: (end: Int64, target: Int, extension: Int64, limit: Int64)?
        /// Windows opened so far, and the one a waiting request times (one timer per window:
        /// the others sleep without a deadline, so an expiry wakes one thread, not the batch).
        var windowID: UInt64 = 0
        var timedWindow: UInt64 = 0
        /// Recent fsync latency in nanoseconds (exponential moving average; 0: none yet).
        var latencyNanoseconds: Double = 0
        var gathered: UInt64 = 0
        var windowsExpired: UInt64 = 0
        var syncNanoseconds: Int64 = 0
        var ledByRequesters: UInt64 = 0
        /// A request that cannot lead asked the flusher thread to run or gather the next fsync.
        var flusherWanted = false
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
    /// The flusher thread waits here for work (a request that cannot lead, or shutdown).
    private let work = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    /// `shutdown()` waits here for the fsync in flight, whichever thread runs it.
    private let idle = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    /// Waiting requests, by the parity of the fsync they need, so that a completed fsync wakes
    /// only its own waiters, not those of the next one (with 32 vCPUs on few cores the needless
    /// wake-ups cost more than the fsync): `leaders` for requests that may lead (one of them is
    /// woken alone to take over the next fsync), `done` for the others. Failure, shutdown and
    /// cancellation wake all four.
    private let leaders = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 2)
    private let done = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 2)

    /// The conditions requests needing fsync `generation` wait on.
    private func leaderCondition(for generation: UInt64) -> UnsafeMutablePointer<pthread_cond_t> { leaders + Int(generation & 1) }
    private func condition(for generation: UInt64) -> UnsafeMutablePointer<pthread_cond_t> { done + Int(generation & 1) }

    /// Wakes every waiting request and the flusher thread (lock held).
    private func wakeAll() {
        pthread_cond_broadcast(leaders)
        pthread_cond_broadcast(leaders + 1)
        pthread_cond_broadcast(done)
        pthread_cond_broadcast(done + 1)
        pthread_cond_signal(work)
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
        for c in [work, idle, leaders, leaders + 1, done, done + 1] { pthread_cond_init(c, &attributes) }
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        for c in [work, idle, leaders, leaders + 1, done, done + 1] { pthread_cond_destroy(c) }
        pthread_mutex_destroy(mutex)
        done.deallocate()
        leaders.deallocate()
        idle.deallocate()
        work.deallocate()
        mutex.deallocate()
    }

    func withCore<T>(_ body: (inout Core) -> T) -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return body(&core)
    }

    /// The counters, an expired empty gathering window counted.
    func statistics() -> CoalescingFsync.Statistics {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        closeExpiredEmptyWindow()
        return CoalescingFsync.Statistics(requests: core.requests, syncs: core.completed, gathered: core.gathered,
                                          windowsExpired: core.windowsExpired, syncTime: .nanoseconds(core.syncNanoseconds),
                                          ledByRequesters: core.ledByRequesters)
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

    /// Monotonic nanoseconds as a `timespec`, for `pthread_cond_timedwait`.
    static func monotonicTimespec(_ nanoseconds: Int64) -> timespec {
        timespec(tv_sec: Int(nanoseconds / 1_000_000_000), tv_nsec: Int(nanoseconds % 1_000_000_000))
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

    /// A gathering window that ended with no request pending holds nothing back any more: it
    /// is closed (and counted as expired), so that the next request starts an fsync at once.
    private func closeExpiredEmptyWindow() {
        if let window = core.window, core.pendingNext == 0, Self.monotonicNanoseconds() >= window.end {
            core.windowsExpired += 1
            core.window = nil
        }
    }

    /// Whether fsync `started + 1` may start now (lock held): none in flight, a request needs
    /// it, no failure or shutdown, and no gathering window holds it back.
    private func nextIsDue() -> Bool {
        guard !core.inFlight, core.pendingNext > 0, core.failure == nil, !core.shutDown else { return false }
        guard let window = core.window else { return true }
        return core.pendingNext >= window.target || Self.monotonicNanoseconds() >= window.end
    }

    /// Accepts a request (lock held): the generation it needs, or why it is refused.
    private func accept(mayLead: Bool) -> Result<UInt64, CoalescingFsyncError> {
        if let failure = core.failure {
            return .failure(CoalescingFsyncError(file: file, reason: .failedEarlier(failure.errno)))
        }
        if core.shutDown { return .failure(CoalescingFsyncError(file: file, reason: .shutDown)) }
        if core.window != nil { closeExpiredEmptyWindow() }
        core.requests += 1
        core.pendingNext += 1
        if mayLead { core.leadersNext += 1 }
        // Requests still coming: keep the window open for the rest (32 requesters on 2 cores
        // come back over more than half an fsync). An ended window is not reopened.
        if let window = core.window, core.pendingNext < window.target {
            let now = Self.monotonicNanoseconds()
            if now < window.end { core.window!.end = min(max(window.end, now + window.extension), window.limit) }
        }
        // Not the fsync in flight (number `started`, if any): the next one.
        return .success(core.started + 1)
    }

    /// A request that needs fsync `needed` gives up (lock held): if that fsync has not started,
    /// it no longer counts towards the next batch. (Only requests that cannot lead give up.)
    private func withdraw(_ needed: UInt64) {
        if needed > core.started && core.pendingNext > 0 { core.pendingNext -= 1 }
    }

    /// Makes sure someone runs or gathers the next fsync (lock held), for a caller that will
    /// not: a request that cannot lead, or a leader whose own fsync just completed.
    ///
    /// With a request that may lead waiting, one of them is woken when the fsync is due, or,
    /// after a completion, also to time the gathering window (it went to sleep while an fsync
    /// was in flight, so without a deadline). Otherwise the flusher thread does it.
    private func summon(afterCompletion: Bool) {
        guard !core.inFlight, core.pendingNext > 0, core.failure == nil, !core.shutDown else { return }
        if core.leadersNext > 0 {
            if afterCompletion || nextIsDue() { pthread_cond_signal(leaderCondition(for: core.started + 1)) }
        } else {
            core.flusherWanted = true
            pthread_cond_signal(work)
        }
    }

    /// Runs fsync `started + 1` on the calling thread, for every request pending now, and
    /// returns its outcome (lock held on entry; released during the call; held on return only
    /// for the flusher thread, a requester returns at once). This is the only place an fsync
    /// starts, so whoever runs it, a request is satisfied only by an fsync that started after
    /// it: a request made from here on needs the next one.
    private func runSync(byRequester: Bool) -> Result<Void, CoalescingFsyncError> {
        if let window = core.window {
            core.gathered += 1
            if core.pendingNext < window.target { core.windowsExpired += 1 }
            core.window = nil
        }
        core.started += 1
        let generation = core.started
        core.inFlight = true
        core.pendingAtStart = core.pendingNext
        core.pendingNext = 0
        core.leadersNext = 0
        if byRequester { core.ledByRequesters += 1 }
        pthread_mutex_unlock(mutex)
        let start = Self.monotonicNanoseconds()
        let error = sync()
        let end = Self.monotonicNanoseconds()
        pthread_mutex_lock(mutex)
        core.inFlight = false
        core.completed = generation
        let elapsed = end - start
        core.syncNanoseconds += elapsed
        let latency = Double(elapsed)
        core.latencyNanoseconds = core.latencyNanoseconds == 0 ? latency : core.latencyNanoseconds + (latency - core.latencyNanoseconds) / 8
        // Record a failure before anyone learns that this fsync completed: `outcome` reads
        // `completed >= needed` as success unless a failure is recorded.
        if let error { core.failure = (generation, error) }
        // Gathering: a blocked requester cannot ask again before its fsync completes, so those
        // pending at the start and those that arrived during it are different requesters. If
        // fewer than that wait for the next fsync, hold it back for the others, for at most the
        // window. With one requester the estimate is one: no window, its next request leads at once.
        let active = core.pendingAtStart + core.pendingNext
        let window = min(maximumWaitNanoseconds, latencyFraction * core.latencyNanoseconds)
        if error == nil, active > 1, window >= 1_000, core.pendingNext < active {
            core.window = (end + Int64(window), active, Int64(window / 2), end + Int64(2 * window))
            core.windowID += 1
        }
        // Resumed once the lock is released (`flushAsync` says why).
        let answered = takeAnsweredAsyncWaiters()
        if core.shutDown { pthread_cond_broadcast(idle) }
        // The runner's own request needed exactly this fsync: its result is this fsync's
        // (computed from its own error, so that no path can turn a failure into success).
        let result: Result<Void, CoalescingFsyncError> =
            error.map { .failure(CoalescingFsyncError(file: file, reason: .syncFailed($0))) } ?? .success(())
        if error != nil {
            wakeAll()   // the next fsync's waiters fail too, and the flusher thread ends
            pthread_mutex_unlock(mutex)
            answered.resume()
            if !byRequester { pthread_mutex_lock(mutex) }
            return result
        }
        if byRequester {
            summon(afterCompletion: true)
        } else if core.pendingNext > 0 {
            core.flusherWanted = true   // the flusher thread goes on: it runs or gathers the next one
        }
        // Outside the lock: woken requesters would otherwise block at once on the lock this
        // thread still holds, and wake one another in turn (on 2 cores that chain costs more
        // than the wake-ups). The state changed under the lock, so no waiter can miss it.
        pthread_mutex_unlock(mutex)
        pthread_cond_broadcast(leaderCondition(for: generation))
        pthread_cond_broadcast(condition(for: generation))
        answered.resume()
        if !byRequester { pthread_mutex_lock(mutex) }
        return result
    }

    /// A blocking request without a timeout or cancellation: it may lead.
    func flush() throws(CoalescingFsyncError) {
        pthread_mutex_lock(mutex)
        let needed: UInt64
        switch accept(mayLead: true) {
        case .success(let generation): needed = generation
        case .failure(let error):
            pthread_mutex_unlock(mutex)
            throw error
        }
        var timing: UInt64?   // the window this request times, if any
        while true {
            if let result = outcome(needed) {
                pthread_mutex_unlock(mutex)
                return try result.get()
            }
            // Nothing in flight and nobody left to gather: run it here, with no hand-off
            // (returns with the lock released).
            if needed == core.started + 1 && nextIsDue() {
                return try runSync(byRequester: true).get()
            }
            if needed == core.started + 1, !core.inFlight, let window = core.window,
               timing == core.windowID || core.timedWindow != core.windowID {
                // Gathering: this request times the window (the last of the batch leads at once).
                core.timedWindow = core.windowID
                timing = core.windowID
                var deadline = Self.monotonicTimespec(window.end)
                pthread_cond_timedwait(leaderCondition(for: needed), mutex, &deadline)
            } else {
                pthread_cond_wait(leaderCondition(for: needed), mutex)
            }
        }
    }

    /// A blocking request with a deadline or a cancellation token: it never runs an fsync
    /// (a thread inside fsync cannot give up), so a leader or the flusher thread runs it.
    func flush(deadline: timespec?, cancellation: FsyncCancellation?) throws(CoalescingFsyncError) {
        if deadline == nil && cancellation == nil { return try flush() }
        var wakeID: Int?
        if let cancellation {
            wakeID = cancellation.register { [self] in
                pthread_mutex_lock(mutex)
                pthread_cond_broadcast(done)
                pthread_cond_broadcast(done + 1)
                pthread_mutex_unlock(mutex)
            }
            if wakeID == nil { throw CoalescingFsyncError(file: file, reason: .cancelled) }
        }
        defer { if let wakeID { cancellation?.unregister(wakeID) } }

        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        let needed = try accept(mayLead: false).get()
        summon(afterCompletion: false)
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

    /// An async request: queued for the flusher thread (or a leader) to answer.
    ///
    /// Continuations are resumed only with the lock released, here and wherever a request is
    /// answered: resuming takes the task's status lock, which a thread cancelling the task
    /// holds while its `onCancel` waits for our lock (issue 19: both block for ever).
    func flushAsync() async -> Result<Void, CoalescingFsyncError> {
        let id = withCore { core -> UInt64 in
            defer { core.nextAsyncID += 1 }
            core.unqueued.insert(core.nextAsyncID)
            return core.nextAsyncID
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                pthread_mutex_lock(mutex)
                core.unqueued.remove(id)
                let refused: CoalescingFsyncError?
                if core.cancelledEarly.remove(id) != nil {
                    refused = CoalescingFsyncError(file: file, reason: .cancelled)
                } else {
                    switch accept(mayLead: false) {
                    case .failure(let error):
                        refused = error
                    case .success(let needed):
                        refused = nil
                        core.asyncWaiters[id] = (needed, continuation)
                        summon(afterCompletion: false)
                    }
                }
                pthread_mutex_unlock(mutex)
                // Queued: whoever removes it from `asyncWaiters` resumes it (exactly once).
                if let refused { continuation.resume(returning: .failure(refused)) }
            }
        } onCancel: {
            pthread_mutex_lock(mutex)
            var answered = AnsweredAsyncWaiters()
            if let waiter = core.asyncWaiters.removeValue(forKey: id) {
                if let result = outcome(waiter.needed) {
                    answered.append(waiter.continuation, result)
                } else {
                    withdraw(waiter.needed)
                    answered.append(waiter.continuation, .failure(CoalescingFsyncError(file: file, reason: .cancelled)))
                }
            } else if core.unqueued.contains(id) {
                // Cancelled before it was queued: fail it when it is. (Already answered: nothing to do.)
                core.cancelledEarly.insert(id)
            }
            pthread_mutex_unlock(mutex)
            answered.resume()
        }
    }

    /// Async requests answered under the lock, to resume once it is released.
    struct AnsweredAsyncWaiters {
        private var answers: [(CheckedContinuation<Result<Void, CoalescingFsyncError>, Never>, Result<Void, CoalescingFsyncError>)] = []

        mutating func append(_ continuation: CheckedContinuation<Result<Void, CoalescingFsyncError>, Never>,
                             _ result: Result<Void, CoalescingFsyncError>) {
            answers.append((continuation, result))
        }

        /// Call with the lock released.
        func resume() {
            for (continuation, result) in answers { continuation.resume(returning: result) }
        }
    }

    /// Removes every async request whose outcome is known (lock held); the caller resumes them
    /// after unlocking.
    private func takeAnsweredAsyncWaiters() -> AnsweredAsyncWaiters {
        var answered = AnsweredAsyncWaiters()
        if core.asyncWaiters.isEmpty { return answered }
        for (id, waiter) in core.asyncWaiters {
            if let result = outcome(waiter.needed) {
                core.asyncWaiters[id] = nil
                answered.append(waiter.continuation, result)
            }
        }
        return answered
    }

    /// Fails pending requests, refuses new ones, and waits until no fsync is in flight (a
    /// leader's included), so the descriptor may be closed once the flusher thread is joined.
    func shutDown() {
        pthread_mutex_lock(mutex)
        var answered = AnsweredAsyncWaiters()
        if !core.shutDown {
            core.shutDown = true
            wakeAll()
            answered = takeAnsweredAsyncWaiters()
        }
        pthread_mutex_unlock(mutex)
        answered.resume()
        pthread_mutex_lock(mutex)
        while core.inFlight { pthread_cond_wait(idle, mutex) }
        pthread_mutex_unlock(mutex)
    }

    /// The flusher thread: runs or gathers the next fsync when a request that cannot lead
    /// needs it (a leader's completed fsync hands on to it when no request that may lead is
    /// waiting); sleeps otherwise. Ends at shutdown or after a failed fsync.
    func runFlusher() {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        while true {
            // After a failure no fsync runs again: its success would prove nothing.
            if core.shutDown || core.failure != nil { return }
            if core.window != nil { closeExpiredEmptyWindow() }
            if nextIsDue() {
                _ = runSync(byRequester: false)
            } else if core.flusherWanted, !core.inFlight, core.pendingNext > 0, let window = core.window {
                var deadline = Self.monotonicTimespec(window.end)
                pthread_cond_timedwait(work, mutex, &deadline)
            } else {
                core.flusherWanted = false
                pthread_cond_wait(work, mutex)
            }
        }
    }
}
