import HostFiles
import SystemPackage
#if canImport(Glibc)
import Glibc
#endif

/// Handing a refresh to the background, as the udev rule asks (`flushctl refresh --detach`).
///
/// libndctl waits (up to its timeout, about 5000 polls) for udev's event queue to drain before
/// each sysfs scan; run inside a udev RUN+= program that queue holds its own event, so the
/// refresh must finish after udev's worker has returned. systemd-udevd kills what its RUN+=
/// programs leave in its cgroup once the queue is idle, so where systemd runs the host the
/// refresh goes to systemd as a transient service; elsewhere (or without systemd-run, a
/// minimal image) into a new session.
public enum BackgroundRefresh {
    /// Where systemd-run is looked for.
    public static let systemdRunPaths = ["/usr/bin/systemd-run", "/bin/systemd-run"]

    /// What this process does next.
    public enum Outcome: Sendable, Equatable {
        /// systemd runs the refresh (`tool` queued it): this process is done.
        case queued(tool: String)
        /// A child in a new session runs the refresh: this process (the parent) is done.
        case forked
        /// This process is that child, its standard streams on /dev/null and /dev/kmsg: refresh now.
        case child
    }

    /// Starts the refresh of `cache` (`flushctl refresh --cache CACHE --started-at T [--group G]`)
    /// outside this process, or forks. `note` hears why systemd-run was not used where systemd runs.
    public static func start(cache: String, group: String?, startedAt: Int64,
                             note: (String) -> Void) throws(BackgroundRefreshError) -> Outcome {
        if access("/run/systemd/system", F_OK) == 0 {
            if let tool = systemdRunPaths.first(where: { access($0, X_OK) == 0 }) {
                try systemdRun(tool, cache: cache, group: group, startedAt: startedAt)
                return .queued(tool: tool)
            }
            note("systemd runs this host but systemd-run is not in \(systemdRunPaths.joined(separator: " or ")); refreshing in a new session instead")
        }
        switch fork() {
        case -1:
            throw .fork(Errno.last)
        case 0:
            _ = setsid()
            let null = open("/dev/null", O_RDWR)
            let log = open("/dev/kmsg", O_WRONLY)
            if null >= 0 { _ = dup2(null, 0); _ = dup2(null, 1) }
            if log >= 0 { _ = dup2(log, 2) } else if null >= 0 { _ = dup2(null, 2) }
            return .child
        default:
            return .forked
        }
    }

    /// Queues `flushctl refresh` as a transient systemd service (`systemd-run --no-block`) and
    /// waits for systemd-run, which returns once the unit is queued.
    static func systemdRun(_ tool: String, cache: String, group: String?, startedAt: Int64) throws(BackgroundRefreshError) {
        var selfPath = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &selfPath, selfPath.count - 1)
        guard n > 0 else { throw .executablePath(Errno.last) }
        let me = String(decoding: selfPath[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        var arguments = [tool, "--no-block", "--collect", "--quiet", "--", me, "refresh", "--cache", cache, "--started-at", String(startedAt)]
        if let group { arguments += ["--group", group] }
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, tool, nil, nil, &argv, environ)
        guard rc == 0 else { throw .spawn(tool: tool, Errno(rawValue: rc)) }
        var status: CInt = 0
        do { try systemCall { waitpid(pid, &status, 0) } } catch { throw .wait(tool: tool, error) }
        guard status == 0 else { throw .failed(command: arguments.joined(separator: " "), status: status) }
    }
}

/// Why a refresh could not be handed to the background.
public enum BackgroundRefreshError: Error, Sendable, Equatable, CustomStringConvertible {
    /// fork(2) failed.
    case fork(Errno)
    /// /proc/self/exe could not be read, so systemd-run cannot be told what to run.
    case executablePath(Errno)
    /// systemd-run could not be started.
    case spawn(tool: String, Errno)
    /// Waiting for systemd-run failed.
    case wait(tool: String, Errno)
    /// systemd-run exited with a failure (its wait status).
    case failed(command: String, status: CInt)

    /// One line.
    public var description: String {
        switch self {
        case .fork(let e): return "fork failed: \(e)"
        case .executablePath(let e): return "cannot read /proc/self/exe: \(e)"
        case .spawn(let tool, let e): return "cannot start \(tool): \(e)"
        case .wait(let tool, let e): return "waitpid for \(tool) failed: \(e)"
        case .failed(let command, let status): return "\(command) failed (wait status \(status))"
        }
    }
}
