import ArgumentParser
import FsyncFallback
import OrderedJSON
import Synchronization
import SystemPackage
#if canImport(Glibc)
import Glibc
#endif

/// Measures `CoalescingFsync` against one fsync per request, concurrent and serialized
/// (docs/performance.md), and, with
/// `--check-errors`, shows what it reports when the file's device fails (Tests/HostTests/FsyncErrorTests).
@main
struct FsyncBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fsync-bench",
        abstract: "Requests per second of write-4KiB-then-flush: coalesced fsync vs one fsync per request (concurrent and serialized).")

    @Option(help: "Directory for the temporary test file (its filesystem is what is measured).")
    var directory: String = "/tmp"

    @Option(help: "Comma-separated requester thread counts.")
    var threads: String = "1,2,8,32"

    @Option(help: "Seconds per measurement.")
    var seconds: Double = 3

    @Option(help: "fsync or fdatasync.")
    var method: String = "fsync"

    @Option(help: "CoalescingFsync gathering: adaptive (the default) or off (an fsync starts as soon as a request needs it).")
    var gathering: String = "adaptive"

    @Option(name: .customLong("check-errors"), help: .hidden)
    var checkErrors: String?

    @Option(name: .customLong("break"), help: .hidden)
    var breakCommand: String?

    func validate() throws {
        guard method == "fsync" || method == "fdatasync" else {
            throw ValidationError("--method \(method): expected fsync or fdatasync")
        }
        guard gathering == "adaptive" || gathering == "off" else {
            throw ValidationError("--gathering \(gathering): expected adaptive or off")
        }
        guard seconds > 0, seconds <= 600 else { throw ValidationError("--seconds \(seconds): expected 0 < seconds <= 600") }
        guard let counts = threadCounts, !counts.isEmpty else {
            throw ValidationError("--threads \(threads): expected comma-separated counts from 1 to 1024")
        }
        _ = counts
    }

    var threadCounts: [Int]? {
        let parts = threads.split(separator: ",").map { Int(String($0.filter { $0 != " " })) }
        guard parts.allSatisfy({ $0 != nil && $0! >= 1 && $0! <= 1024 }) else { return nil }
        return parts.compactMap { $0 }
    }

    /// Runs the command; any error is one line `fsync-bench: error: ...` on stderr and exit 2
    /// (the team's convention), `--help` prints help.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            if exitCode(for: error) == .success { exit(withError: error) }
            let line = Array("fsync-bench: error: \(message(for: error))\n".utf8)
            _ = line.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
            Glibc.exit(2)
        }
    }

    var syncMethod: CoalescingFsync.SyncMethod { method == "fdatasync" ? .fdatasync : .fsync }

    func run() throws {
        if let file = checkErrors {
            print(try ErrorCheck(file: file, breakCommand: breakCommand, method: syncMethod).run().prettyPrinted())
            return
        }
        try Benchmark(directory: directory, threadCounts: threadCounts ?? [], seconds: seconds, method: syncMethod,
                      gathering: gathering == "off" ? .off : .adaptive).run()
    }
}

/// A one-line error for the command's stderr.
struct BenchError: Error, CustomStringConvertible {
    let description: String
}

/// Runs `sh -c command`; returns its exit status.
func shell(_ command: String) throws -> Int32 {
    var pid = pid_t()
    let argv: [UnsafeMutablePointer<CChar>?] = ["/bin/sh", "-c", command].map { $0.withCString { strdup($0) } } + [nil]
    defer { for p in argv { free(p) } }
    let rc = posix_spawn(&pid, "/bin/sh", nil, nil, argv, environ)
    guard rc == 0 else { throw BenchError(description: "cannot run /bin/sh -c '\(command)': \(Errno(rawValue: rc))") }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    return (status >> 8) & 0xff
}

/// Writes `count` bytes of `byte` at `offset`; throws on any short or failed write.
func writeBlock(_ fd: FileDescriptor, offset: Int64, count: Int, byte: UInt8, file: String) throws {
    let block = [UInt8](repeating: byte, count: count)
    do {
        let n = try block.withUnsafeBytes { try fd.writeAll(toAbsoluteOffset: offset, $0) }
        guard n == count else { throw BenchError(description: "\(file): wrote \(n) of \(count) bytes at offset \(offset)") }
    } catch let e as BenchError { throw e } catch {
        throw BenchError(description: "\(file): write at offset \(offset): \(error)")
    }
}
