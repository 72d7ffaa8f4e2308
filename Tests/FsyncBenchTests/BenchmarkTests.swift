import Foundation
import Synchronization
import SystemPackage
import Testing
@testable import fsync_bench

/// fsync-bench's own code: what it does when it cannot start all its requester threads.
@Suite struct BenchmarkTests {
    /// The third `pthread_create` fails: the two requesters already running are stopped and
    /// joined before `measure` throws, so none is left writing to the descriptor the caller
    /// then closes.
    @Test func failedThreadStartStopsAndJoinsTheStartedRequesters() throws {
        let path = FileManager.default.temporaryDirectory.path + "/fsync-bench-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = try FileDescriptor.open(FilePath(path), .readWrite, options: [.create, .exclusiveCreate], permissions: .ownerReadWrite)
        defer { try? fd.close(); unlink(path) }
        let running = Atomic<Int>(0)
        let started = Mutex(0)
        var bench = Benchmark(directory: "/unused", threadCounts: [4], seconds: 600, method: .fsync, gathering: .adaptive)
        bench.startThread = { body in
            let n = started.withLock { $0 += 1; return $0 }
            if n == 3 { throw BenchError(description: "pthread_create: Resource temporarily unavailable (injected)") }
            return try BenchThread {
                running.add(1, ordering: .sequentiallyConsistent)
                body()
                running.subtract(1, ordering: .sequentiallyConsistent)
            }
        }
        #expect(throws: BenchError.self) {
            _ = try bench.measure(threads: 4, fd: fd, path: path, serialized: false) { _ in usleep(100); return nil }
        }
        #expect(started.withLock { $0 } == 3)
        usleep(50_000)   // a requester left running would have started by now
        #expect(running.load(ordering: .sequentiallyConsistent) == 0, "requesters still running after measure threw")
    }
}
