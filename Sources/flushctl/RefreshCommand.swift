import ArgumentParser
import FlushHint
import OrderedJSON
#if canImport(Glibc)
import Glibc
#endif

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
                try Self.systemdRun(cache: cache, group: group, startedAt: started)
                return
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
        let generation = try TopologyCache.write(path: cache, startedAt: started) { generation, snapshot in
            try Self.document(generation: generation, snapshot: snapshot, group: group.flatMap { name in gid.map { (name, $0) } })
        }
        if let generation {
            FileHandleStderr.write("flushctl refresh: wrote \(cache) generation \(generation)\n")
        } else {
            FileHandleStderr.write("flushctl refresh: \(cache) was written after this refresh started; nothing to do\n")
        }
    }

    /// Queues `flushctl refresh` as a transient systemd service (`systemd-run --no-block`).
    static func systemdRun(cache: String, group: String?, startedAt: Int64) throws {
        let candidates: [String] = ["/usr/bin/systemd-run", "/bin/systemd-run"]
        guard let tool = candidates.first(where: { access($0, X_OK) == 0 }) else {
            throw HostError(message: "--detach: systemd runs this host but systemd-run was not found in /usr/bin or /bin")
        }
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

    /// Reads the host and formats the cache document; with `group`, hands the device-dax
    /// devices to it on the way.
    static func document(generation: UInt64, snapshot: Int64, group: (name: String, gid: gid_t)?) throws -> [UInt8] {
        let read = try HostSnapshot.read()
        // A cache without hints would only make readers fall back: refuse instead.
        if let error = read.nfitError {
            if error.reason == .permissionDenied { throw HostError(message: "\(error); refresh must run as root (the udev rule runs it so)") }
            FileHandleStderr.write("flushctl refresh: note: flush hints unknown: \(error)\n")
        }
        let topology = read.topology

        var options = ListOptions()
        options.buses = true; options.dimms = true; options.regions = true; options.namespaces = true
        let listing = try topology.listing(options)

        // Root's checks once per region that could pass through.
        let host = HostFacts.readRunning()
        var regionsJSON: [JSONValue] = []
        var checksByRegion: [String: [Check]] = [:]
        for summary in TopologyCache.regions(of: topology) {
            var members: [(String, JSONValue)] = [
                ("dev", .string(summary.dev)),
                ("enabled", .bool(summary.enabled)),
                ("size", .integer(summary.size)),
                ("dimms", .array(summary.dimms.map { d in
                    var m: [(String, JSONValue)] = [("dev", .string(d.dev))]
                    if let h = d.handle { m.append(("handle", .hex(h))) }
                    return .object(m)
                })),
            ]
            if let region = topology.region(named: summary.dev) {
                let facts = RegionFacts(region: region, topology: topology)
                if HostPlanning.needsChecks(facts) {
                    let checks = HostPlanning.checks(for: facts, host: host)
                    checksByRegion[summary.dev] = checks
                    members.append(("checks", .array(checks.map(checkToJSON))))
                }
            }
            regionsJSON.append(.object(members))
        }

        var plans: [JSONValue] = []
        var daxDevices: [String] = []
        for region in topology.allRegions where region.enabled {
            let facts = RegionFacts(region: region, topology: topology)
            for ns in region.namespaces where ns.enabled {
                if let chardev = ns.chardev { daxDevices.append("/dev/" + chardev) }
                for path in [ns.chardev, ns.blockdev].compactMap({ $0 }).map({ "/dev/" + $0 }) {
                    do {
                        let backend = try BackendProbe.inspect(path: path)
                        let plan = try Planner.plan(backend: backend, region: facts, checks: checksByRegion[region.dev] ?? [])
                        plans.append(planToJSON(PlanReport(plan: plan, checks: [], note: nil, region: facts)))
                    } catch {
                        plans.append(.object([("backend", .string(path)), ("region", .string(region.dev)), ("error", .string("\(error)"))]))
                    }
                }
            }
        }

        if let group {
            for path in daxDevices {
                // chgrp, then add group read/write to whatever mode udev gave the node.
                guard chown(path, uid_t.max, group.gid) == 0 else {
                    throw HostError(message: "chgrp \(group.name) \(path) failed: \(String(cString: strerror(errno)))")
                }
                var st = stat()
                guard stat(path, &st) == 0, chmod(path, (st.st_mode & 0o7777) | 0o060) == 0 else {
                    throw HostError(message: "chmod g+rw \(path) failed: \(String(cString: strerror(errno)))")
                }
            }
        }

        let now = TopologyCache.currentUnixTime()
        var doc: [(String, JSONValue)] = [
            ("format", .string(TopologyCache.formatName)),
            ("version", .integer(TopologyCache.formatVersion)),
            ("generation", .integer(generation)),
            ("timestamp", .string(TopologyCache.iso8601(now))),
            ("unix_time", .integer(now)),
            ("snapshot_boottime_ns", .integer(snapshot)),
            ("boot_id", .string(try TopologyCache.currentBootID())),
            ("kernel", .string(TopologyCache.kernelRelease())),
            ("flush_hints", .bool(topology.hasFlushHints)),
        ]
        if let devices = read.deviceHints {
            doc.append(("hints_by_handle", .array(devices.sorted { $0.handle < $1.handle }.map { device in
                .object([("handle", .hex(device.handle)), ("flush_hints", .array(device.addresses.map { .hex($0) }))])
            })))
        }
        doc.append(("regions", .array(regionsJSON)))
        doc.append(("topology", listing.isEmpty ? JSONValue.array([]) : listingToJSON(listing)))
        doc.append(("plans", .array(plans)))
        return Array((JSONValue.object(doc).prettyPrinted() + "\n").utf8)
    }
}
