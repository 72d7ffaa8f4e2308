import Foundation
import Testing

/// Issue 20 (item 1, and the module half of item 4): the flushhint module on the emulated host,
/// booted without iomem=relaxed and put under lockdown (integrity) after it loaded. An unprivileged
/// VMM's way to a hint page: /dev/mem is refused, /dev/flushhint/region0 maps exactly the hint
/// pages region0's DIMMs use and nothing else. One boot per kernel (Debian 12's 6.1, backports'
/// 6.12) with scenario plan/flushhint-device: region0 (DIMMs 0x0001, 0x0101) uses 0x37ff8000 and
/// 0x37ff9000 and lists the HPET's page and a System RAM page as unused third hints; region1
/// (DIMM 0x1001) uses 0x37ffb000 and shares 0x37ff9000, and lists the unused 0x37ffc000.
/// `Tests/hostsim/tools/flushhint-probe` prints one line per case: `LABEL mmap=ok|ERRNO ...`.
@Suite(.serialized) struct FlushHintDeviceTests {
    static let node0 = "/dev/flushhint/region0", node1 = "/dev/flushhint/region1"

    static let commands: [String] = [
        // 0: debugfs first (to read the PAT reservations), then lockdown.
        "mount -t debugfs debugfs /sys/kernel/debug; mount -t securityfs securityfs /sys/kernel/security 2>/dev/null; "
            + "echo integrity > /sys/kernel/security/lockdown; cat /sys/kernel/security/lockdown",
        // 1: the nodes and what the module read from the NFIT.
        "ls -l /dev/flushhint/; for n in /sys/class/misc/flushhint-region*; do "
            + "echo \"${n##*/} range_index=$(cat $n/range_index) pages=$(tr ' \\n' ':,' <$n/hint_pages)\"; done",
        // 2: the control, the mapping that works, and every refusal.
        probes([
            "devmem /dev/mem 0x37ff8000",
            "-e -w 0x40 hint \(node0) 0x37ff8000",
            "-n 2 two-hint-pages \(node0) 0x37ff8000",
            "ram \(node0) 0x20000000",
            "hpet \(node0) 0xfed00000",
            "nfit-spa \(node0) 0x30000000",
            "unused \(node1) 0x37ffc000",
            "-n 2 hint-and-nonhint \(node0) 0x37ff9000",
            "other-region \(node0) 0x37ffb000",
            "-p private \(node0) 0x37ff8000",
        ]) + "; su -s /bin/sh -c 'flushhint-probe nobody \(node0) 0x37ff8000' nobody",
        // 3: the memory type reserved while a page is mapped.
        "flushhint-probe -x 'grep -i 37ff8000 /sys/kernel/debug/x86/pat_memtype_list >&2' pat \(node0) 0x37ff8000",
        // 4: a page shared with another region's DIMM, allowed by default, refused with allow_shared_pages=0.
        probes(["shared-region1 \(node1) 0x37ff9000"])
            + "; echo 0 > /sys/module/flushhint/parameters/allow_shared_pages; "
            + probes(["shared-region0-refused \(node0) 0x37ff9000", "shared-region1-refused \(node1) 0x37ff9000",
                      "own-page-still \(node0) 0x37ff8000"])
            + "; echo 1 > /sys/module/flushhint/parameters/allow_shared_pages",
        // 5: rmmod while a mapping lives.
        "flushhint-probe -x 'rmmod flushhint' rmmod-while-mapped \(node0) 0x37ff8000",
        // 6: the region disabled under a live mapping, then enabled again.
        probes(["-x 'ndctl disable-region region0' disable \(node0) 0x37ff8000",
                "after-disable \(node0) 0x37ff8000", "after-disable-shared \(node0) 0x37ff9000",
                "region1-still \(node1) 0x37ff9000"])
            + "; ndctl enable-region region0; " + probes(["after-enable \(node0) 0x37ff8000"]),
        // 7: the module again, unsigned, under lockdown.
        "rmmod flushhint; echo \"rmmod=$?\"; insmod /lib/modules/$(uname -r)/flushhint.ko; echo \"insmod=$?\"",
        // 8: the module's reasons and lockdown's.
        "dmesg | grep -e flushhint -e Lockdown",
    ]

    static func probes(_ cases: [String]) -> String {
        cases.map { "flushhint-probe \($0)" }.joined(separator: "; ")
    }

    /// The probe lines of `stdout` by label: "hint seek_end=EINVAL mmap=ok" -> ["hint": "seek_end=EINVAL mmap=ok"].
    static func lines(_ stdout: String) -> [String: String] {
        var found: [String: String] = [:]
        for line in stdout.split(separator: "\n") {
            let parts = line.split(separator: " ", maxSplits: 1)
            if parts.count == 2 { found[String(parts[0])] = String(parts[1]) }
        }
        return found
    }

    func expectAll(kernel: EmulatedHost.Kernel) throws {
        let work = try PlanHost.workDirectory()
        defer { try? FileManager.default.removeItem(at: work) }
        let probe = try PlanHost.staticTool("flushhint-probe", into: work)
        let scenario = try EmulatedHost.scenario(basedOn: "plan/flushhint-device", in: work,
                                                 binaries: [probe: "/usr/bin/flushhint-probe"])
        let boot = try EmulatedHost.boot(scenario: scenario, commands: Self.commands, kernel: kernel)
        let r = boot.results
        #expect(kernel == .debian ? boot.kernelRelease.hasPrefix("6.1.") : boot.kernelRelease.hasPrefix("6.12."))
        #expect(!boot.append.contains("iomem=relaxed"))
        for (i, result) in r.enumerated() {
            print("flushhint \(kernel.rawValue) [\(i)] \(result.command)\n\(result.stdout)\(result.stderr)")
        }
        #expect(r[0].stdout == "none [integrity] confidentiality\n", "lockdown: \(r[0].stdout) \(r[0].stderr)")

        // One node per region, root's alone, each with the pages of its DIMMs' hints.
        #expect(r[1].stdout.contains("crw-------    1 root     root") && r[1].stdout.contains(" region0\n")
                && r[1].stdout.contains(" region1\n"), "\(r[1].stdout)")
        #expect(r[1].stdout.contains("flushhint-region0 range_index=1 pages=0x37ff8000,0xfed00000,0x37ff9000:shared,0x20000000,\n"))
        #expect(r[1].stdout.contains("flushhint-region1 range_index=2 pages=0x37ffb000,0x37ff9000:shared,0x37ffc000,\n"))

        let probes = Self.lines(r[2].stdout)
        #expect(probes["devmem"] == "open=EPERM", "the control: /dev/mem under lockdown")
        #expect(probes["hint"] == "seek_end=EINVAL mmap=ok wrote=1 read=1")
        #expect(probes["two-hint-pages"] == "mmap=ok")
        for label in ["ram", "hpet", "nfit-spa", "unused", "hint-and-nonhint", "other-region"] {
            #expect(probes[label] == "mmap=EPERM", "\(label): \(probes[label] ?? "no line")")
        }
        #expect(probes["private"] == "mmap=EINVAL")
        #expect(probes["nobody"] == "open=EACCES")

        #expect(Self.lines(r[3].stdout)["pat"] == "mmap=ok command=0 access=ok")
        #expect(r[3].stderr.contains("[mem 0x0000000037ff8000-0x0000000037ff9000] uncached-minus"), "\(r[3].stderr)")
        #expect(!r[3].stderr.contains("write-back"))

        let shared = Self.lines(r[4].stdout)
        #expect(shared["shared-region1"] == "mmap=ok")
        #expect(shared["shared-region0-refused"] == "mmap=EPERM")
        #expect(shared["shared-region1-refused"] == "mmap=EPERM")
        #expect(shared["own-page-still"] == "mmap=ok")

        #expect(Self.lines(r[5].stdout)["rmmod-while-mapped"] == "mmap=ok command=1 access=ok")
        #expect(r[5].stderr.contains("can't unload module 'flushhint': Resource temporarily unavailable"), "\(r[5].stderr)")

        let revoked = Self.lines(r[6].stdout)
        #expect(revoked["disable"] == "mmap=ok command=0 access=SIGBUS", "the live mapping is zapped")
        #expect(revoked["after-disable"] == "mmap=EPERM")
        #expect(revoked["after-disable-shared"] == "mmap=EPERM", "still claimed for region1, but not region0's now")
        #expect(revoked["region1-still"] == "mmap=ok")
        #expect(revoked["after-enable"] == "mmap=ok")

        #expect(r[7].stdout == "rmmod=0\ninsmod=1\n")
        #expect(r[7].stderr.contains("Operation not permitted"), "\(r[7].stderr)")

        // Each refusal for the rule under test.
        let log = r[8].stdout
        for reason in [
            "Lockdown: flushhint-probe: /dev/mem,kmem,port is restricted",
            "region0: pid", // the module names the region and the process
            "page 0x0000000020000000: System RAM",
            "page 0x00000000fed00000: not claimed as exactly this page by the nd bus",
            "page 0x0000000030000000: no flush hint of the region's DIMMs in the NFIT",
            "region1: pid",
            "page 0x0000000037ffc000: not claimed as exactly this page by the nd bus",
            "page 0x0000000037ffa000: no flush hint of the region's DIMMs in the NFIT",
            "page 0x0000000037ffb000: no flush hint of the region's DIMMs in the NFIT",
            "mmap at 0x0000000037ff8000: MAP_PRIVATE (only MAP_SHARED)",
            "page 0x0000000037ff9000: also holds hints of other regions' DIMMs (allow_shared_pages=0)",
            "page 0x0000000037ff8000: the region is disabled",
            "page 0x0000000037ff9000: the region is disabled",
            "Lockdown: insmod: unsigned module loading is restricted",
        ] {
            #expect(log.contains(reason), "dmesg lacks \(reason)")
        }
    }

    @Test func debianKernel() throws { try expectAll(kernel: .debian) }

    /// QEMU 10's memory-backend-file on the node, under lockdown (the host's QEMU runs as root
    /// here): it maps the page at its offset, shared, and neither sizes nor truncates the node
    /// (its log stays empty: no "ftruncate: Invalid argument").
    @Test func qemuMapsTheNode() throws {
        let (_, run) = try EmulatedHost.nested(
            scenario: PlanCheckFlushTests.planScenario("flushhint-device"),
            hostSetup: ["mount -t securityfs securityfs /sys/kernel/security 2>/dev/null; echo integrity > /sys/kernel/security/lockdown"],
            guest: EmulatedHost.Guest(qemuArguments: [
                "-object", "memory-backend-file,id=fh0,mem-path=\(Self.node0),offset=0x37ff8000,size=4096,share=on"]),
            steps: [.host("grep flushhint /proc/$GUEST_QEMU_PID/maps; cat $GUEST_WORK/qemu.log"), .guest("uname -r")])
        let lines = run.steps[0].stdout.split(separator: "\n")
        #expect(lines.count == 1, "one mapping and an empty QEMU log: \(run.steps[0].stdout)")
        #expect(lines.first?.contains(" rw-s 37ff8000 ") == true && lines.first?.hasSuffix(" \(Self.node0)") == true,
                "\(run.steps[0].stdout)")
        #expect(run.steps[1].status == 0)
    }

    @Test func backportsKernel() throws { try expectAll(kernel: .backports) }
}
