import FsyncFallback
import Synchronization
import SystemPackage
#if canImport(Glibc)
import Glibc
#endif

/// Requesters that each write 4 KiB at their own offsets and then flush, in a loop, for a
/// fixed time, three ways: each thread calling fsync itself, concurrently (the kernel may merge
/// concurrent fsyncs: the stricter baseline); one fsync per request under one lock around
/// write and fsync (a VMM handling the trapped write under a global lock, as QEMU's BQL); and
/// through `CoalescingFsync`.
struct Benchmark {
    let directory: String
    let threadCounts: [Int]
    let seconds: Double
    let method: CoalescingFsync.SyncMethod
    let gathering: CoalescingFsync.Gathering
    /// Starts one requester thread (tests inject a failing one).
    var startThread: (@escaping @Sendable () -> Void) throws -> BenchThread = { try BenchThread($0) }

    static let block = 4096
    /// Blocks per requester, rewritten in turn (a preallocated image: no allocation per write).
    static let slots = 16

    func run() throws {
        let path = directory + "/fsync-bench-\(getpid()).img"
        let fd: FileDescriptor
        do {
            fd = try FileDescriptor.open(FilePath(path), .readWrite, options: [.create, .exclusiveCreate, .closeOnExec], permissions: .ownerReadWrite)
        } catch {
            throw BenchError(description: "\(path): open: \(error)")
        }
        defer { try? fd.close(); unlink(path) }
        let maxThreads = threadCounts.max() ?? 1
        for offset in stride(from: 0, to: maxThreads * Self.slots * Self.block, by: 1 << 20) {
            try writeBlock(fd, offset: Int64(offset), count: min(1 << 20, maxThreads * Self.slots * Self.block - offset), byte: 1, file: path)
        }
        guard Glibc.fsync(fd.rawValue) == 0 else { throw BenchError(description: "\(path): fsync: \(Errno(rawValue: Glibc.errno))") }

        let gatheringName = gathering == .off ? "off" : gathering == .adaptive ? "adaptive" : "custom"
        print("# fsync-bench: \(path), \(method), \(seconds) s per measurement, write 4 KiB then flush, gathering \(gatheringName)")
        print("# concurrent: each thread calls \(method) itself; serialized: one lock around write+\(method) (a VMM's global lock); ratios: coalesced / baseline")
        print("| requesters | concurrent (req/s) | serialized (req/s) | coalesced (req/s) | vs concurrent | vs serialized | \(method) calls/s | requests per \(method) | mean \(method) (µs) | bound N/mean (req/s) | coalesced / bound | gathered | windows expired | \(method)s on requester threads |")
        print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        let rawSync: @Sendable (FileDescriptor) -> String? = { [method] fd in
            let rc = method == .fsync ? Glibc.fsync(fd.rawValue) : Glibc.fdatasync(fd.rawValue)
            return rc == 0 ? nil : "\(method): \(Errno(rawValue: Glibc.errno))"
        }
        for n in threadCounts {
            let concurrent = try measure(threads: n, fd: fd, path: path, serialized: false, flush: rawSync)
            let serialized = try measure(threads: n, fd: fd, path: path, serialized: true, flush: rawSync)
            let flusher: CoalescingFsync
            do { flusher = try CoalescingFsync(descriptor: fd, file: path, method: method, gathering: gathering) } catch {
                throw BenchError(description: "\(error)")
            }
            let coalesced = try measure(threads: n, fd: fd, path: path, serialized: false) { _ in
                do throws(CoalescingFsyncError) { try flusher.flush(); return nil } catch { return error.description }
            }
            let stats = flusher.statistics
            flusher.shutdown()
            let syncRate = Double(stats.syncs) / coalesced.elapsed
            let perSync = stats.syncs == 0 ? 0 : Double(stats.requests) / Double(stats.syncs)
            // No request completes before an fsync started after it: N / latency is the ceiling.
            let (s, a) = stats.syncTime.components
            let meanLatency = stats.syncs == 0 ? 0 : (Double(s) + Double(a) / 1e18) / Double(stats.syncs)
            let bound = meanLatency > 0 ? Double(n) / meanLatency : 0
            print("| \(n) | \(fmt(concurrent.rate)) | \(fmt(serialized.rate)) | \(fmt(coalesced.rate)) | \(fmt(coalesced.rate / concurrent.rate, 2))x | \(fmt(coalesced.rate / serialized.rate, 2))x | \(fmt(syncRate)) | \(fmt(perSync, 1)) | \(fmt(meanLatency * 1e6)) | \(fmt(bound)) | \(fmt(bound > 0 ? coalesced.rate / bound : 0, 2)) | \(stats.gathered) | \(stats.windowsExpired) | \(stats.ledByRequesters) |")
        }
    }

    /// `x` with `digits` decimals (no Foundation in this binary).
    func fmt(_ x: Double, _ digits: Int = 0) -> String {
        guard x.isFinite else { return "\(x)" }
        var p = 1
        for _ in 0..<digits { p *= 10 }
        let scaled = Int((x * Double(p)).rounded())
        guard digits > 0 else { return String(scaled) }
        let fraction = String(scaled % p)
        return "\(scaled / p)." + String(repeating: "0", count: digits - fraction.count) + fraction
    }

    /// Runs `threads` requesters for `seconds`; the rate of completed requests. `serialized`:
    /// each request's write and flush run under one lock shared by all requesters.
    func measure(threads: Int, fd: FileDescriptor, path: String, serialized: Bool,
                 flush: @escaping @Sendable (FileDescriptor) -> String?) throws -> (rate: Double, elapsed: Double) {
        let lock = Mutex<Void>(())
        let stop = Atomic<Bool>(false)
        let completed = Atomic<Int>(0)
        let firstError = Mutex<String?>(nil)
        let start = ContinuousClock.now
        // Requester `t`: writes its own blocks and flushes, until `stop`.
        let requester = { (t: Int) -> @Sendable () -> Void in
            {
                let block = [UInt8](repeating: UInt8(truncatingIfNeeded: t), count: Self.block)
                var i = 0
                while !stop.load(ordering: .relaxed) {
                    let offset = Int64((t * Self.slots + i % Self.slots) * Self.block)
                    let request = { () -> String? in
                        let written = block.withUnsafeBytes { pwrite(fd.rawValue, $0.baseAddress, $0.count, off_t(offset)) }
                        if written != Self.block {
                            return "\(path): pwrite at \(offset): \(written < 0 ? "\(Errno(rawValue: Glibc.errno))" : "short write")"
                        }
                        return flush(fd)
                    }
                    if let error = serialized ? lock.withLock({ _ in request() }) : request() {
                        firstError.withLock { $0 = $0 ?? error }
                        stop.store(true, ordering: .relaxed)
                        return
                    }
                    completed.wrappingAdd(1, ordering: .relaxed)
                    i += 1
                }
            }
        }
        var workers: [BenchThread] = []
        do {
            for t in 0..<threads { workers.append(try startThread(requester(t))) }
        } catch {
            // The caller closes the descriptor once this returns: stop the requesters already
            // running, and wait for them, first.
            stop.store(true, ordering: .relaxed)
            for w in workers { w.join() }
            throw error
        }
        usleep(UInt32(seconds * 1_000_000))
        stop.store(true, ordering: .relaxed)
        for w in workers { w.join() }
        let elapsed = ContinuousClock.now - start
        if let error = firstError.withLock({ $0 }) { throw BenchError(description: error) }
        let secs = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return (Double(completed.load(ordering: .relaxed)) / secs, secs)
    }
}

/// A pthread running a closure; `join()` waits for it.
final class BenchThread {
    private let tid: pthread_t

    init(_ body: @escaping @Sendable () -> Void) throws {
        final class Box { let body: @Sendable () -> Void; init(_ b: @escaping @Sendable () -> Void) { body = b } }
        let context = Unmanaged.passRetained(Box(body)).toOpaque()
        var tid = pthread_t()
        let rc = pthread_create(&tid, nil, { context in
            guard let context else { return nil }
            Unmanaged<Box>.fromOpaque(context).takeRetainedValue().body()
            return nil
        }, context)
        guard rc == 0 else {
            Unmanaged<Box>.fromOpaque(context).release()
            throw BenchError(description: "pthread_create: \(Errno(rawValue: rc))")
        }
        self.tid = tid
    }

    func join() { pthread_join(tid, nil) }
}
