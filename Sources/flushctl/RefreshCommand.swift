import ArgumentParser
import OrderedJSON
#if canImport(Glibc)
import Glibc
#endif
import FactCache
import HostFiles

/// `flushctl refresh`: writes the topology cache the unprivileged `list` and `plan` read.
struct RefreshCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "refresh",
        abstract: "Write the topology, flush hints and plans to the cache unprivileged commands read.",
        discussion: """
            Run as root, normally by the udev rule 60-flushctl.rules whenever an nd region, \
            namespace or dax device is added, removed or changed. Reads the topology through \
            libndctl and the flush hints from the root-only NFIT, runs the /dev/mem checks of \
            every region whose DIMMs all have hints, plans every enabled region's device-dax \
            and fsdax backends, and replaces the cache with one JSON document carrying a \
            generation (the previous one plus 1), the time and the kernel release. The file is \
            written to a temporary file in the same directory, fsynced and renamed, under an \
            flock on CACHE.lock, so concurrent refreshes never leave a partial file; a refresh \
            that finds the cache read from the host after it started writes nothing. Mode 0644; \
            the directory is created mode 0755. With --group, each enabled region's device-dax \
            character devices are given to that group with read and write permission, so an \
            unprivileged VMM in the group can open them (off by default).
            """
    )

    @Option(name: .customLong("cache"), help: ArgumentHelp("The cache file to replace.", valueName: "path"))
    var cache: String = TopologyCache.defaultPath

    @Option(name: .customLong("group"), help: ArgumentHelp("Give this group read/write access to the regions' device-dax devices (e.g. kvm).", valueName: "name"))
    var group: String?

    @Flag(name: .customLong("detach"), help: "Return at once and refresh outside udev's event: through systemd-run when systemd runs the host, else in a new session (what the udev rule uses; errors go to the journal or the kernel log).")
    var detach = false

    @Option(name: .customLong("started-at"), help: .hidden)
    var startedAt: Int64?

    func run() throws {
        let started = startedAt ?? TopologyCache.currentBootTime()
        if detach {
            // libndctl waits (up to its timeout, about 5000 polls) for udev's event queue to
            // drain before each sysfs scan; run inside a udev RUN+= program that queue holds
            // our own event, so the refresh must finish after udev's worker has returned.
            // The start time is taken now and passed on, so coalescing counts from the event.
            if access("/run/systemd/system", F_OK) == 0 {
                // systemd-udevd kills what its RUN+= programs leave in its cgroup once the
                // queue is idle: hand the refresh to systemd as a transient service instead.
                // Without systemd-run (a minimal image), a new session is the next best thing.
                if let tool = Self.systemdRunPaths.first(where: { access($0, X_OK) == 0 }) {
                    try Self.systemdRun(tool, cache: cache, group: group, startedAt: started)
                    return
                }
                FileHandleStderr.write("flushctl refresh: note: systemd runs this host but systemd-run is not in \(Self.systemdRunPaths.joined(separator: " or ")); refreshing in a new session instead\n")
            }
            switch fork() {
            case -1:
                throw HostError(message: "--detach: fork failed: \(String(cString: strerror(errno)))")
            case 0:
                _ = setsid()
                let null = open("/dev/null", O_RDWR)
                let log = open("/dev/kmsg", O_WRONLY)
                if null >= 0 { _ = dup2(null, 0); _ = dup2(null, 1) }
                if log >= 0 { _ = dup2(log, 2) } else if null >= 0 { _ = dup2(null, 2) }
            default:
                return
            }
        }
        let gid: gid_t? = try group.map { name throws -> gid_t in
            guard let entry = getgrnam(name) else { throw HostError(message: "--group \(name): no such group in the group database") }
            return entry.pointee.gr_gid
        }
        // The host is read under the cache's lock, after the snapshot time is taken, so a
        // refresh that started before that time may skip: the document already has its event.
        let outcome = try TopologyCache.refresh(path: cache, startedAt: started,
                                                group: group.flatMap { name in gid.map { (name, $0) } },
                                                log: { FileHandleStderr.write("flushctl refresh: \($0)\n") })
        if let generation = outcome.generation {
            FileHandleStderr.write("flushctl refresh: wrote \(cache) generation \(generation)\n")
        } else {
            FileHandleStderr.write("flushctl refresh: \(cache) was written after this refresh started; nothing to do\n")
        }
        // The cache is written whatever --group met; say what failed, and exit 1.
        for failure in outcome.groupFailures {
            FileHandleStderr.write("flushctl refresh: error: --group \(group ?? ""): \(failure)\n")
        }
        if !outcome.groupFailures.isEmpty { throw ExitCode(1) }
    }

    /// Where systemd-run is looked for.
    static let systemdRunPaths = ["/usr/bin/systemd-run", "/bin/systemd-run"]

    /// Queues `flushctl refresh` as a transient systemd service (`systemd-run --no-block`).
    static func systemdRun(_ tool: String, cache: String, group: String?, startedAt: Int64) throws {
        var selfPath = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &selfPath, selfPath.count - 1)
        guard n > 0 else { throw HostError(message: "--detach: cannot read /proc/self/exe: \(String(cString: strerror(errno)))") }
        let me = String(decoding: selfPath[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        var arguments = [tool, "--no-block", "--collect", "--quiet", "--", me, "refresh", "--cache", cache, "--started-at", String(startedAt)]
        if let group { arguments += ["--group", group] }
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, tool, nil, nil, &argv, environ)
        guard rc == 0 else { throw HostError(message: "--detach: cannot start \(tool): \(String(cString: strerror(rc)))") }
        var status: CInt = 0
        while waitpid(pid, &status, 0) < 0 {
            if errno != EINTR { throw HostError(message: "--detach: waitpid for \(tool) failed: \(String(cString: strerror(errno)))") }
        }
        guard status == 0 else { throw HostError(message: "--detach: \(arguments.joined(separator: " ")) failed (wait status \(status))") }
    }
}
