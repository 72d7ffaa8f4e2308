import ArgumentParser
import OrderedJSON
#if canImport(Glibc)
import Glibc
#endif
import FactCache
import HostFiles
import HostIO

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
            let outcome: BackgroundRefresh.Outcome
            do {
                outcome = try BackgroundRefresh.start(cache: cache, group: group, startedAt: started) { note in
                    FileHandleStderr.write("flushctl refresh: note: \(note)\n")
                }
            } catch {
                throw HostError(message: "--detach: \(error)")
            }
            guard outcome == .child else { return }
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
}
