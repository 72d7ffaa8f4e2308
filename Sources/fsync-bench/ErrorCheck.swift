import FsyncFallback
import OrderedJSON
import SystemPackage
#if canImport(Glibc)
import Glibc
#endif

/// `fsync-bench --check-errors FILE --break CMD`: write and flush through `CoalescingFsync`,
/// run CMD (which makes the device fail), write and flush again, then compare what the
/// component reports with what raw fsync calls return. Prints one JSON object.
struct ErrorCheck {
    let file: String
    let breakCommand: String?
    let method: CoalescingFsync.SyncMethod

    /// A flush's outcome as JSON: `{"ok":true}` or the error's reason, errno and message.
    func outcome(_ body: () throws(CoalescingFsyncError) -> Void) -> JSONValue {
        do {
            try body()
            return .object([("ok", .bool(true))])
        } catch {
            var fields: [(String, JSONValue)] = [("ok", .bool(false)), ("reason", .string(Self.name(error.reason)))]
            if let e = error.errno { fields.append(("errno", .int(Int64(e.rawValue)))) }
            fields.append(("message", .string(error.description)))
            return .object(fields)
        }
    }

    static func name(_ reason: CoalescingFsyncError.Reason) -> String {
        switch reason {
        case .syncFailed: return "sync_failed"
        case .failedEarlier: return "failed_earlier"
        case .timedOut: return "timed_out"
        case .cancelled: return "cancelled"
        case .shutDown: return "shut_down"
        case .cannotStart: return "cannot_start"
        }
    }

    /// A raw fsync of `fd`: its return value and errno.
    static func rawFsync(_ fd: CInt) -> JSONValue {
        let rc = Glibc.fsync(fd)
        let error = rc == 0 ? 0 : Glibc.errno
        return .object([("rc", .int(Int64(rc))), ("errno", .int(Int64(error)))])
    }

    func run() throws -> JSONValue {
        let fd: FileDescriptor
        do {
            fd = try FileDescriptor.open(FilePath(file), .readWrite, options: [.create, .closeOnExec], permissions: .ownerReadWrite)
        } catch {
            throw BenchError(description: "\(file): open: \(error)")
        }
        defer { try? fd.close() }
        let flusher: CoalescingFsync
        do { flusher = try CoalescingFsync(descriptor: fd, file: file, method: method) } catch {
            throw BenchError(description: "\(error)")
        }
        defer { flusher.shutdown() }
        let size = 64 * 1024
        var steps: [(String, JSONValue)] = []

        try writeBlock(fd, offset: 0, count: size, byte: 0xa5, file: file)
        steps.append(("flush_before_break", outcome { () throws(CoalescingFsyncError) in try flusher.flush(timeout: .seconds(60)) }))

        // Dirty pages that have not reached the device yet when it starts failing.
        try writeBlock(fd, offset: Int64(size), count: size, byte: 0x5a, file: file)
        if let breakCommand {
            let status = try shell(breakCommand)
            steps.append(("break_status", .int(Int64(status))))
        }
        steps.append(("flush_after_break", outcome { () throws(CoalescingFsyncError) in try flusher.flush(timeout: .seconds(60)) }))
        steps.append(("flush_again", outcome { () throws(CoalescingFsyncError) in try flusher.flush(timeout: .seconds(60)) }))
        // What the kernel says to the same descriptor now: after reporting a writeback error
        // once (errseq_t), fsync may well return 0 although the data is gone.
        steps.append(("raw_fsync_same_fd", Self.rawFsync(fd.rawValue)))
        steps.append(("raw_fsync_same_fd_again", Self.rawFsync(fd.rawValue)))
        let second = open(file, O_RDONLY | O_CLOEXEC)
        if second >= 0 {
            steps.append(("raw_fsync_new_fd", Self.rawFsync(second)))
            close(second)
        } else {
            steps.append(("raw_fsync_new_fd", .object([("open_errno", .int(Int64(Glibc.errno)))])))
        }
        steps.append(("flush_after_raw_fsync", outcome { () throws(CoalescingFsyncError) in try flusher.flush(timeout: .seconds(60)) }))
        let stats = flusher.statistics
        steps.append(("statistics", .object([("requests", .uint(stats.requests)), ("syncs", .uint(stats.syncs))])))
        return .object([("file", .string(file))] + steps)
    }
}
