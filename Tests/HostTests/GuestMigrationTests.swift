import Foundation
import Testing

/// Issue 22 item 3: what QEMU 10 does when a guest with flushctl's recipes is migrated, saved or
/// dumped, and that the recipes that must not be refuse it. One boot of the emulated host
/// (2-way interleave, device-dax, iomem=relaxed; docs/emulated-host.md) with three guests
/// under KVM, each driven over QMP (`Tests/hostsim/tools/qmp.c`):
///
/// 1. passthrough **without** the recipe's migration blocker (its four arguments taken out of
///    qemu.args), to show what would happen: a marker the host writes at the end of the first
///    hint page (no hint there) is in the migration stream QEMU writes to a file (the source
///    read the page) and in a dump of that page; a destination QEMU started from the same
///    command line (`Tests/hostsim/tools/qemu-again`) and fed the stream writes the saved bytes
///    back over the host page, the hint register and the marker, both changed meanwhile;
/// 2. passthrough as `flushctl qemu` wrote it: `migrate` to `file:` and to `exec:`, `savevm`
///    and `snapshot-save` are refused with the blocker's message and write nothing, and
///    `query-migrate` lists it; `dump-guest-memory` is not refused (the recipe's requirement);
///    a QEMU with `-only-migratable` refuses to start the recipe;
/// 3. fsync (virtio-pmem on a file): no blocker, a migration to a file completes, and a
///    destination that loads it (under strace) syncs nothing of the file it wrote the pages into.
@Suite(.serialized) struct GuestMigrationTests {
    /// The 8 bytes the host writes into the hint page, little-endian "FLUSHMIG".
    static let marker = "0x47494D4853554C46"
    /// What the host writes over the marker and the hint before the destination loads.
    static let clobber = "0x44524542424F4C43"
    /// Where QEMU's device memory starts for a 256 MiB pc guest: the first hint page's guest address.
    static let firstGuestPage: UInt64 = 0x1_0000_0000

    @Test func passthroughIsRefusedAndFsyncMigrates() throws {
        let layout = try PlanLayout(scenario: PlanCheckFlushTests.planScenario("guest-interleave-devdax"))
        let region = try #require(layout.regions.first)
        let page = try #require(region.usablePages.first)
        let hint = try #require(region.dimms.flatMap(\.hints).first { $0 & ~0xfff == page })
        let markerAddress = page + 0xff8
        try #require(!layout.allHints.contains(markerAddress), "the marker must not be a hint")
        let work = try PlanHost.workDirectory()
        defer { try? FileManager.default.removeItem(at: work) }
        let qmpTool = try PlanHost.staticTool("qmp", into: work)
        let again = EmulatedHost.repositoryRoot.appendingPathComponent("Tests/hostsim/tools/qemu-again").path
        let (found, stracePath) = try EmulatedHost.shell("command -v strace")
        let strace = stracePath.trimmingCharacters(in: .whitespacesAndNewlines)
        try #require(found == 0 && !strace.isEmpty, "needs strace on the build machine (Tests/install-deps)")
        let scenario = try EmulatedHost.scenario(basedOn: "plan/guest-interleave-devdax", in: work, setup: ["mkdir -p /tmp/q /tmp/m"],
                                                 binaries: [qmpTool: "/usr/bin/qmp", again: "/usr/bin/qemu-again", strace: "/usr/bin/strace"])
        let src = "/tmp/q/src", dst = "/tmp/q/dst", state = "/tmp/m/state"
        let peek = "devmem \(PlanHints.hex(hint)) 64; devmem \(PlanHints.hex(markerAddress)) 64"
        let dumpPage = Self.qmp(src, "dump-guest-memory", #"{"paging":false,"protocol":"file:/tmp/m/dump","begin":\#(Self.firstGuestPage),"length":4096}"#)
            + "; ls -l /tmp/m/dump | awk '{print \"dump bytes\", $5}'; echo markers $(grep -c FLUSHMIG /tmp/m/dump); rm -f /tmp/m/dump"

        // 1. Without the blocker.
        let bare: [EmulatedHost.Step] = [
            .guest("echo 1 > /sys/bus/nd/devices/region0/deep_flush"),                                             // 0
            .host("devmem \(PlanHints.hex(markerAddress)) 64 \(Self.marker); \(peek)"),                            // 1
            .host(Self.qmp(src, "migrate", #"{"uri":"file:\#(state)"}"#) + "; " + Self.waitMigration(src)
                  + "; ls -l \(state) | awk '{print \"state bytes\", $5}'; echo markers $(grep -c FLUSHMIG \(state))"), // 2
            .host(dumpPage),                                                                                        // 3
            .host("qemu-again $GUEST_QEMU_PID \(dst) /tmp/m/dst.log -incoming defer >/tmp/m/dst.pid && " + Self.waitSocket(dst)
                  + " && devmem \(PlanHints.hex(hint)) 64 \(Self.clobber) && devmem \(PlanHints.hex(markerAddress)) 64 \(Self.clobber) && \(peek) && "
                  + Self.qmp(dst, "migrate-incoming", #"{"uri":"file:\#(state)"}"#) + " && " + Self.waitMigration(dst)
                  + "; \(peek); " + Self.qmp(dst, "quit") + "; " + Self.qmp(src, "quit") + "; rm -f \(state)"),      // 4
        ]
        // 2. As written: refused.
        let refused: [EmulatedHost.Step] = [
            .guest("for d in /sys/bus/pci/devices/*; do echo $(cat $d/vendor):$(cat $d/device) $([ -e $d/driver ] && basename $(readlink $d/driver) || echo none); done"), // 0
            .host(Self.qmp(src, "query-migrate")),                                                                   // 1
            .host(Self.qmp(src, "migrate", #"{"uri":"file:\#(state)"}"#) + "; ls \(state)"),                         // 2
            .host(Self.qmp(src, "migrate", #"{"uri":"exec:cat >\#(state)"}"#) + "; ls \(state)"),                    // 3
            .host(Self.qmp(src, "human-monitor-command", #"{"command-line":"savevm s1"}"#)),                        // 4
            .host(Self.qmp(src, "snapshot-save", #"{"job-id":"s1","tag":"s1","vmstate":"none","devices":[]}"#)
                  + "; sleep 1; " + Self.qmp(src, "query-jobs")),                                                     // 5
            .host("devmem \(PlanHints.hex(markerAddress)) 64 \(Self.marker); " + dumpPage),                        // 6
            .host("pid=$(qemu-again $GUEST_QEMU_PID /tmp/q/only /tmp/m/only.log -only-migratable); i=0; "
                  + "while kill -0 $pid 2>/dev/null && [ $i -lt 300 ]; do i=$((i + 1)); usleep 100000; done; "
                  + "kill -0 $pid 2>/dev/null && { kill $pid; echo still running; }; cat /tmp/m/only.log"),              // 7
        ]
        // 3. fsync: migratable.
        let fsync: [EmulatedHost.Step] = [
            .host(Self.qmp("/tmp/q/fs", "query-migrate")),                                                           // 0
            .host(Self.qmp("/tmp/q/fs", "migrate", #"{"uri":"file:\#(state)"}"#) + "; " + Self.waitMigration("/tmp/q/fs")), // 1
            // A destination loads it under strace: does QEMU sync the file it wrote the pages into?
            .host("strace -f -y -qq -e trace=openat,msync,fsync,fdatasync,sync_file_range,syncfs -o /tmp/m/sync.trace "
                  + "qemu-again $GUEST_QEMU_PID /tmp/q/fsd /tmp/m/fsd.log -incoming defer >/tmp/m/fsd.pid & "
                  + Self.waitSocket("/tmp/q/fsd") + " && " + Self.qmp("/tmp/q/fsd", "migrate-incoming", #"{"uri":"file:\#(state)"}"#)
                  + " && " + Self.waitMigration("/tmp/q/fsd") + "; " + Self.qmp("/tmp/q/fsd", "quit") + "; " + Self.qmp("/tmp/q/fs", "quit")
                  + "; wait; rm -f \(state); t=/tmp/m/sync.trace; echo opens $(grep -c 'openat(.*fs.img' $t) msyncs $(grep -c 'msync(' $t) "
                  + "fsyncs $(grep -E 'fsync\\(|fdatasync\\(|sync_file_range\\(|syncfs\\(' $t | grep -c fs.img); grep -E 'fs.img|msync' $t >&2; true"), // 2
        ]
        let recipe = "flushctl qemu /dev/dax0.0 --out /tmp/vm --guest-ram 256M --json >/tmp/vm.json; s=$?; cat /tmp/vm.json; exit $s"
        // The recipe's arguments are option/value pairs; take out the blocker's two.
        let strip = "awk 'NR % 2 { o = $0; next } $0 !~ /^(memory-backend-ram,id=nomig,|ivshmem-plain,id=nomig0,)/ { print o; print }' /tmp/vm/qemu.args >/tmp/bare.args && wc -l </tmp/vm/qemu.args && wc -l </tmp/bare.args"
        let boot = try EmulatedHost.boot(scenario: scenario, commands: [
            recipe,                                                                                                  // 0
            strip,                                                                                                   // 1
            EmulatedHost.guestRunCommand(Self.guest(args: "/tmp/bare.args", json: "/tmp/vm.json", qmp: src), steps: bare),   // 2
            EmulatedHost.guestRunCommand(Self.guest(args: "/tmp/vm/qemu.args", json: "/tmp/vm.json", qmp: src), steps: refused), // 3
            "truncate -s 64M /tmp/m/fs.img && flushctl qemu /tmp/m/fs.img --out /tmp/vmf --guest-ram 256M --json >/tmp/vmf.json; s=$?; cat /tmp/vmf.json; exit $s", // 4
            EmulatedHost.guestRunCommand(Self.guest(args: "/tmp/vmf/qemu.args", json: "/tmp/vmf.json", qmp: "/tmp/q/fs"), steps: fsync), // 5
        ], guest: true, timeout: 900)

        // The recipe: passthrough, not migratable, the blocker in its arguments.
        let json = try PlanJSON.object(boot.results[0])
        #expect(json["method"] as? String == "passthrough", "\(json["reason"] ?? "")")
        let migration = try #require(json["migration"] as? [String: Any])
        #expect(migration["migratable"] as? Bool == false)
        #expect((migration["refused_by"] as? String)?.contains(Self.blocked) == true)
        #expect((migration["not_refused"] as? String)?.hasPrefix("dump-guest-memory") == true)
        let args = json["qemu_args"] as? [String] ?? []
        #expect(args.contains("ivshmem-plain,id=nomig0,memdev=nomig,master=off"), "\(args)")
        #expect(boot.results[1].stdout.split(separator: "\n") == ["\(args.count)", "\(args.count - 4)"], "\(boot.results[1])")

        // 1. Without the blocker, the source reads the hint page into the stream and the dump,
        // and the destination writes it back over the host page.
        let b = try GuestPassthroughTests.guestRun(boot, index: 2, steps: bare.count).steps
        #expect(b.allSatisfy { $0.status == 0 }, "every step succeeds: \(b.enumerated().filter { $0.element.status != 0 })")
        let before = Self.words(b[1].stdout)
        #expect(before.count == 2 && before[1] == Self.marker, "\(b[1].stdout)")
        let migrated = Self.migrateResult(b[2].stdout)
        #expect(migrated?["status"] as? String == "completed", "\(b[2].stdout)")
        #expect(b[2].stdout.contains("\nmarkers 1\n"), "the stream holds the hint page: \(b[2].stdout)")
        #expect(b[3].stdout.contains("\nmarkers 1\n") && b[3].stdout.contains("dump bytes "), "the dump holds the hint page: \(b[3].stdout)")
        let reload = Self.words(b[4].stdout)
        // hint, marker clobbered; destination completed; hint and marker as the source saved them.
        #expect(reload.count >= 4 && Array(reload[0..<2]) == [Self.clobber, Self.clobber], "\(b[4].stdout)")
        #expect(Self.migrateResult(b[4].stdout)?["status"] as? String == "completed", "\(b[4].stdout)")
        #expect(Array(reload.suffix(2)) == before, "the destination wrote the saved page back: \(b[4].stdout)")
        let ram = migrated?["ram"] as? [String: Any]
        print("guest migration, no blocker: source total-time \(migrated?["total-time"] ?? "?") ms, downtime \(migrated?["downtime"] ?? "?") ms, transferred \(ram?["transferred"] ?? "?") bytes; \(b[2].stdout.split(whereSeparator: \.isNewline).filter { $0.hasPrefix("state") }.joined())")

        // 2. With it: refused, nothing written, dump not refused, -only-migratable refuses the guest.
        let r = try GuestPassthroughTests.guestRun(boot, index: 3, steps: refused.count).steps
        #expect(r[0].stdout.contains("0x1af4:0x1110 none\n"), "the ivshmem device, no driver bound: \(r[0].stdout)")
        #expect(r[1].stdout.contains("\"blocked-reasons\": [\"\(Self.blocked)\"]"), "\(r[1].stdout)")
        for step in r[2...3] {
            #expect(step.stdout.hasPrefix("{\"error\": {\"class\": \"GenericError\", \"desc\": \"\(Self.blocked)\"}}"), "\(step.stdout)")
            #expect(step.stderr.contains("No such file"), "nothing written: \(step.stderr)")
        }
        #expect(r[4].stdout.contains("Error: \(Self.blocked)"), "savevm: \(r[4].stdout)")
        #expect(r[5].stdout.contains("\"error\": \"\(Self.blocked)\""), "snapshot-save: \(r[5].stdout)")
        #expect(r[6].stdout.hasPrefix("{\"return\": {}}") && r[6].stdout.contains("\nmarkers 1\n"), "dump-guest-memory is not refused: \(r[6].stdout)")
        #expect(r[7].stdout.contains("disallowing migration blocker (--only-migratable) for: \(Self.blocked)"), "\(r[7].stdout)")

        // 3. fsync: no blocker, migrates.
        let fsJSON = try PlanJSON.object(boot.results[4])
        #expect(fsJSON["method"] as? String == "fsync")
        #expect((fsJSON["migration"] as? [String: Any])?["migratable"] as? Bool == true)
        #expect(!(fsJSON["qemu_args"] as? [String] ?? []).contains { $0.contains("ivshmem") })
        let f = try GuestPassthroughTests.guestRun(boot, index: 5, steps: fsync.count).steps
        #expect(f[0].stdout.hasPrefix("{\"return\": {}}"), "no blocked-reasons: \(f[0].stdout)")
        let fsMigrated = Self.migrateResult(f[1].stdout)
        #expect(fsMigrated?["status"] as? String == "completed", "\(f[1].stdout)")
        // The destination completes its load, and QEMU 10.0.2 syncs nothing of the file it wrote
        // the guest's pmem into (hence the destination requirement: fsync it before the guest runs).
        #expect(Self.migrateResult(f[2].stdout)?["status"] as? String == "completed", "\(f[2].stdout)")
        // (strace saw the destination open the file: it was tracing the right process.)
        #expect(f[2].stdout.hasSuffix("opens 1 msyncs 0 fsyncs 0\n"), "\(f[2].stdout)\(f[2].stderr)")
        print("guest migration, fsync: total-time \(fsMigrated?["total-time"] ?? "?") ms; destination: \(f[2].stdout.split(whereSeparator: \.isNewline).last ?? ""); wall \(boot.wallSeconds) s")
    }

    /// The none recipe (a DIMM without hints, device-dax): its guest has its pmem, and the
    /// blocker refuses `migrate` and `savevm` as it does for passthrough.
    @Test func noneIsRefused() throws {
        let work = try PlanHost.workDirectory()
        defer { try? FileManager.default.removeItem(at: work) }
        let qmpTool = try PlanHost.staticTool("qmp", into: work)
        let scenario = try EmulatedHost.scenario(basedOn: "plan/guest-nohints-devdax", in: work, setup: ["mkdir -p /tmp/q"],
                                                 binaries: [qmpTool: "/usr/bin/qmp"])
        let sock = "/tmp/q/none"
        let steps: [EmulatedHost.Step] = [
            .guest("ls /dev | grep pmem"),                                                                           // 0
            .host(Self.qmp(sock, "query-migrate")),                                                                  // 1
            .host(Self.qmp(sock, "migrate", #"{"uri":"file:/tmp/state"}"#) + "; ls /tmp/state"),                    // 2
            .host(Self.qmp(sock, "human-monitor-command", #"{"command-line":"savevm s1"}"#)),                       // 3
        ]
        let boot = try EmulatedHost.boot(scenario: scenario, commands: [
            "flushctl qemu /dev/dax0.0 --out /tmp/vm --guest-ram 256M --json >/tmp/vm.json; s=$?; cat /tmp/vm.json; exit $s",
            EmulatedHost.guestRunCommand(Self.guest(args: "/tmp/vm/qemu.args", json: "/tmp/vm.json", qmp: sock), steps: steps),
        ], guest: true, timeout: 600)
        let json = try PlanJSON.object(boot.results[0])
        #expect(json["method"] as? String == "none", "\(json["reason"] ?? "")")
        let migration = json["migration"] as? [String: Any] ?? [:]
        #expect(migration["migratable"] as? Bool == false && migration["not_refused"] == nil, "\(migration)")
        let s = try GuestPassthroughTests.guestRun(boot, index: 1, steps: steps.count).steps
        print("guest migration, none: wall \(boot.wallSeconds) s")
        #expect(s[0].stdout == "pmem0\n", "the guest has its pmem: \(s[0].stdout)\(s[0].stderr)")
        #expect(s[1].stdout.contains("\"blocked-reasons\": [\"\(Self.blocked)\"]"), "\(s[1].stdout)")
        #expect(s[2].stdout.hasPrefix("{\"error\": {\"class\": \"GenericError\", \"desc\": \"\(Self.blocked)\"}}"), "\(s[2].stdout)")
        #expect(s[2].stderr.contains("No such file"), "nothing written: \(s[2].stderr)")
        #expect(s[3].stdout.contains("Error: \(Self.blocked)"), "savevm: \(s[3].stdout)")
    }

    /// QEMU's error for a blocked migration or save.
    static let blocked = "Migration is disabled when using feature 'peer mode' in device 'ivshmem'"

    /// The guest with `args` (qemu.args), the `-m` from `json` and a QMP socket.
    static func guest(args: String, json: String, qmp: String) -> EmulatedHost.Guest {
        EmulatedHost.Guest(qemuArguments: ["-qmp", "unix:\(qmp),server=on,wait=off"], argumentsFile: args,
                           memoryCommand: #"sed -n 's/^ *"option":"-m \(.*\)",$/\1/p' "# + json, timeout: 240)
    }

    /// `qmp SOCKET COMMAND [ARGUMENTS]` with the arguments single-quoted.
    static func qmp(_ socket: String, _ command: String, _ arguments: String? = nil) -> String {
        "qmp \(socket) \(command)" + (arguments.map { " '\($0)'" } ?? "")
    }

    /// Waits (60 s at most) until `query-migrate` on `socket` says completed or failed; prints its answer.
    static func waitMigration(_ socket: String) -> String {
        "i=0; until qmp \(socket) query-migrate | grep -Eq '\"status\": \"(completed|failed)\"'; do [ $i -lt 600 ] || break; i=$((i + 1)); usleep 100000; done; qmp \(socket) query-migrate"
    }

    /// Waits (30 s at most) until a QEMU answers on `socket`.
    static func waitSocket(_ socket: String) -> String {
        "i=0; until qmp \(socket) query-status >/dev/null 2>&1; do [ $i -lt 300 ] || exit 1; i=$((i + 1)); usleep 100000; done"
    }

    /// The `0x…` words of `text`, in order (devmem's answers; QMP's CR LF lines between them).
    static func words(_ text: String) -> [String] {
        text.split(whereSeparator: { $0.isNewline || $0 == " " }).map(String.init).filter { $0.hasPrefix("0x") }
    }

    /// The last `query-migrate` answer in `text` with a status. (QMP ends its lines with CR LF,
    /// one Character in Swift: split at any newline.)
    static func migrateResult(_ text: String) -> [String: Any]? {
        text.split(whereSeparator: \.isNewline).reversed().lazy.compactMap { line -> [String: Any]? in
            guard line.hasPrefix("{\"return\": {"),
                  let answer = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let result = answer["return"] as? [String: Any], result["status"] != nil else { return nil }
            return result
        }.first
    }
}
