import Foundation
import Testing

/// Issue 19 items 1, 5 and 9 on the emulated host: the file planned is the device that holds its
/// blocks, the path QEMU is given fails when the device is gone, and QEMU maps a pc-dimm pmem
/// with MAP_SYNC as the plan requires.
@Suite(.serialized) struct BackendPathTests {
    /// Item 1: XFS with a realtime device on a second region. A realtime file's blocks are on
    /// region1 while its st_dev names region0's /dev/pmem0: it is never planned, flushed or
    /// recipe'd on region0.
    @Test func anXFSRealtimeFileIsNeverPlannedOnTheDataDevicesRegion() throws {
        let scenario = PlanCheckFlushTests.planScenario("xfs-realtime")
        let layout = try PlanLayout(scenario: scenario)
        let hints = layout.allHints
        let r = try EmulatedHost.run(scenario: scenario, commands: [
            "xfs_io -c 'lsattr -v' /mnt/vm/rt /mnt/vm/data",                                        // 0
            "flushctl plan /mnt/vm/rt --json",                                                     // 1
            PlanHints.zero(hints),                                                                 // 2
            "flushctl flush /mnt/vm/rt --json",                                                    // 3
            PlanHints.read(hints),                                                                 // 4
            "flushctl qemu /mnt/vm/rt --out /tmp/rt --json",                                       // 5
            "flushctl plan /mnt/vm/data --json",                                                   // 6
        ])
        // The scenario is what it says: one realtime file, one ordinary one.
        #expect(r[0].stdout.contains("[realtime] /mnt/vm/rt"), "\(r[0].stdout)\(r[0].stderr)")
        #expect(r[0].stdout.contains("[] /mnt/vm/data"), "\(r[0].stdout)")

        let rt = try PlanJSON.object(r[1])
        #expect(rt["method"] as? String == "fsync", "\(rt)")
        #expect(rt["backend_kind"] as? String == "file")
        #expect(rt["region"] == nil, "a realtime file is tied to \(rt["region"] ?? "")")
        #expect(rt["ranges"] == nil)
        #expect((rt["reason"] as? String ?? "").contains("XFS realtime file (FS_XFLAG_REALTIME)"), "\(rt["reason"] ?? "")")

        // flush fsyncs the file and writes no hint itself. The fsync reaches the device that
        // holds the blocks: XFS flushes the realtime device, /dev/pmem1, whose driver writes one
        // hint of region1's DIMM (nvdimm_flush); region0's hints stay 0.
        #expect(PlanHints.values(r[2]) == PlanHints.zeros(hints), "zeroed: \(r[2].stdout)")
        #expect(r[3].status == 0, "\(r[3].stderr)")
        #expect(try PlanJSON.object(r[3])["result"] as? String == "fsync /mnt/vm/rt: done", "\(r[3].stdout)")
        let written = PlanHints.values(r[4])
        #expect(layout.regions[0].allHints.allSatisfy { written[$0] == 0 }, "region0's hints: \(r[4].stdout)")
        #expect(layout.regions[1].allHints.filter { written[$0] == 1 }.count == 1, "region1's hints: \(r[4].stdout)")

        // qemu: the fsync recipe (virtio-pmem), not region0's hint pages.
        #expect(r[5].status == 0, "\(r[5].stderr)")
        let recipe = try PlanJSON.object(r[5])
        #expect(recipe["method"] as? String == "fsync")
        #expect(recipe["hint_pages"] == nil)
        #expect((recipe["qemu_args"] as? [String] ?? []).contains { $0.hasPrefix("virtio-pmem-pci,") })

        // The control: the ordinary file is region0's, and passes through (iomem=relaxed).
        let data = try PlanJSON.object(r[6])
        #expect(data["backend_kind"] as? String == "dax_file")
        #expect(data["region"] as? String == "region0")
        #expect(data["method"] as? String == "passthrough", "\(data["reason"] ?? "")")
    }

    /// `qstart ARGS JSON SECONDS`: QEMU 10 started paused (-S, TCG: only its start-up is looked at)
    /// with a recipe's arguments and the -m from its JSON, stopped by SIGTERM after SECONDS. A
    /// QEMU that started prints "terminating on signal 15"; one that could not, its error.
    static let qstart = """
        qstart() {
          m=$(sed -n 's/^ *"option":"-m \\(.*\\)",$/\\1/p' "$2"); secs=$3; file=$1
          set --
          while IFS= read -r a; do set -- "$@" "$a"; done < "$file"
          timeout "$secs" /opt/qemu/usr/bin/qemu-system-x86_64 -L /opt/qemu/usr/share/qemu -L /opt/qemu/usr/share/seabios \\
            -machine pc -accel tcg -m "$m" -S -nodefaults -display none -no-reboot "$@"
        }
        """

    /// Writes `qstart` to /tmp/qs.sh, which the commands source.
    static let writeQstart = "cat >/tmp/qs.sh <<'QS'\n\(qstart)\nQS\n"

    /// `command` with `qstart` defined.
    static func withQstart(_ command: String) -> String { ". /tmp/qs.sh; " + command }

    /// Items 5 and 9, in one boot of `plan/guest-backends` (QEMU 10 and udev in the host):
    ///
    /// * item 9: the passthrough recipe of a DAX file has pmem=on, and QEMU maps it with
    ///   MAP_SHARED_VALIDATE|MAP_SYNC (strace); without pmem=on QEMU maps it MAP_SHARED only.
    /// * item 5: the recipe of /dev/dax0.0 names udev's /dev/flushctl/dax0.0/device. Once the
    ///   namespace is destroyed, that QEMU fails to start and creates nothing, while the same
    ///   recipe naming /dev/dax0.0 (as flushctl wrote it before) starts and makes /dev/dax0.0 a
    ///   regular file; flushctl then refuses that file.
    @Test func recipesFailClosedAndMapTheirPmemWithMapSync() throws {
        let mmaps = "grep '</mnt/vm/full>' /tmp/mm"
        let boot = try EmulatedHost.boot(scenario: PlanCheckFlushTests.planScenario("guest-backends"), commands: [
            Self.writeQstart,
            "flushctl qemu /mnt/vm/full --out /tmp/vf --guest-ram 256M --json >/tmp/vf.json; s=$?; cat /tmp/vf.json; exit $s", // 0
            ("strace -f -y -qq -e trace=mmap -o /tmp/mm sh -c '. /tmp/qs.sh; qstart /tmp/vf/qemu.args /tmp/vf.json 8'; \(mmaps)"), // 1
            ("sed 's/,pmem=on$//' /tmp/vf/qemu.args >/tmp/plain.args && strace -f -y -qq -e trace=mmap -o /tmp/mm sh -c '. /tmp/qs.sh; qstart /tmp/plain.args /tmp/vf.json 8'; \(mmaps)"), // 2
            "flushctl qemu /dev/dax0.0 --out /tmp/vm --guest-ram 256M --json >/tmp/vm.json; s=$?; cat /tmp/vm.json; exit $s", // 3
            "flushctl plan /dev/dax0.0 --json",                                                     // 4
            Self.withQstart("qstart /tmp/vm/qemu.args /tmp/vm.json 5"),                            // 5
            "ndctl destroy-namespace -f namespace0.0 >/dev/null 2>&1 && udevadm settle -t 60; ls /dev/flushctl; ls /dev/dax0.0", // 6
            Self.withQstart("qstart /tmp/vm/qemu.args /tmp/vm.json 20; s=$?; ls -d /dev/flushctl/dax0.0 /dev/dax0.0; exit $s"), // 7
            Self.withQstart("sed 's#mem-path=/dev/flushctl/dax0.0/device#mem-path=/dev/dax0.0#' /tmp/vm/qemu.args >/tmp/old.args && qstart /tmp/old.args /tmp/vm.json 5; stat -c %F /dev/dax0.0"), // 8
            "flushctl qemu /dev/dax0.0 --out /tmp/vm2 --guest-ram 256M",                            // 9
        ], guest: true)
        #expect(boot.results[0].status == 0)
        let r = Array(boot.results.dropFirst())

        // Item 9: pmem=on, and QEMU asked for MAP_SYNC on the file (and got it: no warning).
        #expect(r[0].status == 0, "\(r[0].stderr)")
        let dax = try PlanJSON.object(r[0])
        #expect(dax["method"] as? String == "passthrough", "\(dax["reason"] ?? "")")
        let daxArgs = dax["qemu_args"] as? [String] ?? []
        #expect(daxArgs.contains("memory-backend-file,id=pm0,mem-path=/mnt/vm/full,size=0x400000,share=on,pmem=on"), "\(daxArgs)")
        #expect(r[1].stderr.contains("terminating on signal 15"), "QEMU did not start: \(r[1].stderr)")
        #expect(!r[1].stderr.contains("requesting persistence across crashes"), "\(r[1].stderr)")
        let synced = r[1].stdout.split(separator: "\n")
        #expect(!synced.isEmpty && synced.allSatisfy { $0.contains("MAP_SHARED_VALIDATE") && $0.contains("MAP_SYNC") }, "\(r[1].stdout)")
        // What QEMU does without pmem=on: a MAP_SHARED mapping, which the plan's promise does not hold for.
        let plain = r[2].stdout.split(separator: "\n")
        #expect(!plain.isEmpty && plain.allSatisfy { $0.contains("MAP_SHARED|") && !$0.contains("MAP_SYNC") }, "\(r[2].stdout)")

        // Item 5: the recipe names udev's link, and records the device it leads to.
        #expect(r[3].status == 0, "\(r[3].stderr)")
        let recipe = try PlanJSON.object(r[3])
        let pmem = recipe["pmem"] as? [String: Any] ?? [:]
        #expect(pmem["path"] as? String == "/dev/flushctl/dax0.0/device", "\(pmem)")
        #expect((pmem["device_number"] as? String)?.contains(":") == true, "\(pmem)")
        let args = recipe["qemu_args"] as? [String] ?? []
        #expect(args.contains { $0.hasPrefix("memory-backend-file,id=pm0,mem-path=/dev/flushctl/dax0.0/device,") }, "\(args)")
        #expect(!args.contains { $0.contains("mem-path=/dev/dax0.0") })
        #expect(try PlanJSON.object(r[4])["vmm_path"] as? String == "/dev/flushctl/dax0.0/device")
        #expect(r[5].stderr.contains("terminating on signal 15"), "QEMU did not start with the device there: \(r[5].stderr)")

        // The namespace goes: udev takes the link and its directory with it.
        #expect(r[6].stdout.split(separator: "\n").map(String.init) == ["pmem1"], "\(r[6].stdout)\(r[6].stderr)")
        #expect(r[6].stderr.contains("/dev/dax0.0: No such file or directory"), "\(r[6].stderr)")
        // QEMU refuses to start, and creates nothing.
        #expect(r[7].status != 0)
        #expect(r[7].stderr.contains("can't open backing store /dev/flushctl/dax0.0/device for guest RAM: No such file or directory"), "\(r[7].stderr)")
        #expect(!r[7].stderr.contains("terminating on signal 15"))
        #expect(r[7].stderr.contains("/dev/flushctl/dax0.0: No such file or directory") && r[7].stderr.contains("/dev/dax0.0: No such file or directory"), "\(r[7].stdout)\(r[7].stderr)")

        // The control: the recipe as it named the device before starts, and makes a RAM file of it.
        #expect(r[8].stderr.contains("terminating on signal 15"), "\(r[8].stderr)")
        #expect(r[8].stdout == "regular file\n", "\(r[8].stdout)")
        // That file is no backend flushctl gives a VMM.
        PlanJSON.expectOneLineError(r[9], "flushctl qemu: error: no path for QEMU that fails when the backend is gone: /dev/dax0.0 is in /dev, the root of a mounted filesystem: when it is not mounted, QEMU creates a new, empty dax0.0 in the directory beneath and carries on; keep the backend in a directory of that filesystem (e.g. /dev/vm/dax0.0)")
    }
}
