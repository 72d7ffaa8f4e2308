import Foundation
import Testing

/// Issue 22 item 2: `flushctl qemu --libvirt`'s domain, run by a real libvirtd. The emulated host
/// (`"libvirt": true`: bookworm-backports' libvirt 11.3 beside its QEMU 10, docs/emulated-host.md)
/// has the flushhint module and device-dax, no `iomem=relaxed`. In one boot: the printed domain
/// passes libvirt's schema and `domxml-to-native` shows every argument; started with libvirt's
/// default qemu.conf, QEMU cannot open the node (libvirt's private /dev lacks it: the control);
/// with the `cgroup_device_acl` flushctl printed, libvirt starts it as `libvirt-qemu`, the node's
/// group among its groups and no capability, and the guest's flushes write one usable hint of
/// each host DIMM with no MMIO exit. AppArmor is on (`libvirt-start --apparmor`): the domain's
/// profile refuses what only `<qemu:commandline>` names until the printed rules are added.
/// Then the `fsync` domain of a plain file, libvirt's own virtio-pmem, runs with nothing added.
@Suite(.serialized) struct LibvirtTests {
    static let virsh = "virsh -q -c qemu:///system"
    /// libvirt 11's drop-in for every domain's profile, as `flushctl qemu --libvirt` names it.
    static let appArmorFile = "/etc/apparmor.d/abstractions/libvirt-qemu.d/flushctl"

    @Test func libvirtdStartsTheDomainAsItsUnprivilegedUser() throws {
        let layout = try PlanLayout(scenario: PlanCheckFlushTests.planScenario("guest-libvirt-flushhint"))
        let region = try #require(layout.regions.first)
        let hints = layout.allHints
        let node = "/dev/flushhint/region0"
        let peek = "hint-peek \(node) " + hints.map(PlanHints.hex).joined(separator: " ")
        let control = GuestPassthroughTests.deviceMemoryBase + UInt64(region.usablePages.count) * 4096
        let work = try PlanHost.workDirectory()
        defer { try? FileManager.default.removeItem(at: work) }
        let peekTool = try PlanHost.staticTool("hint-peek", into: work)
        let scenario = try EmulatedHost.scenario(basedOn: "plan/guest-libvirt-flushhint", in: work,
                                                 binaries: [peekTool: "/usr/bin/hint-peek"])
        let deepFlush = "echo 1 > /sys/bus/nd/devices/region0/deep_flush"
        let flushes = GuestPassthroughTests.flushes
        let steps: [EmulatedHost.Step] = [
            .host("grep -E '^(Uid|Gid|Groups|CapEff):' /proc/$GUEST_QEMU_PID/status; cat /proc/$GUEST_QEMU_PID/attr/current; cat $GUEST_WORK/qemu.log"), // 0
            .host("tr '\\0' '\\n' </proc/$GUEST_QEMU_PID/cmdline"),                            // 1
            .host(peek.replacingOccurrences(of: "hint-peek ", with: "hint-peek -z ")),          // 2
            .guest(deepFlush),                                                                  // 3
            .host(peek),                                                                        // 4
            .host(peek.replacingOccurrences(of: "hint-peek ", with: "hint-peek -z ") + " >/dev/null && " + GuestPassthroughTests.exits), // 5
            .guest(GuestPassthroughTests.loop(flushes, deepFlush)),                             // 6
            .host(peek + "; " + GuestPassthroughTests.exits),                                   // 7
            .guest(GuestPassthroughTests.loop(flushes, "devmem \(PlanHints.hex(control)) 64 1")), // 8
            .host(GuestPassthroughTests.exits),                                                 // 9
            // Last, as it would stop the guest: libvirt refuses to save it (the blocker's <shmem>).
            .host("\(Self.virsh) save vm /tmp/vm.save; echo \"virsh save: $?\"; if test -e /tmp/vm.save; then echo saved; fi"), // 10
        ]
        var guest = EmulatedHost.Guest(timeout: 240)
        guest.libvirtDomain = "/tmp/vm.xml"
        var fsyncGuest = guest
        fsyncGuest.libvirtDomain = "/tmp/vm2.xml"
        let fsyncSteps: [EmulatedHost.Step] = [
            .host("grep -E '^(Uid|Groups|CapEff):' /proc/$GUEST_QEMU_PID/status; cat /proc/$GUEST_QEMU_PID/attr/current; ls -ln /tmp/pmem.img"), // 0
            .guest("ndctl list -R; printf LIBVIRT-FSYNC-MARK | dd of=/dev/pmem0 conv=fsync 2>/dev/null && echo written"), // 1
            .host("head -c 18 /tmp/pmem.img"),                                                  // 2
        ]
        let start = "\(Self.virsh) define /tmp/vm.xml >/dev/null && \(Self.virsh) start vm; echo \"virsh start: $?\"; \(Self.virsh) undefine vm >/dev/null"
        let boot = try EmulatedHost.boot(scenario: scenario, commands: [
            "libvirt-start --apparmor",                                                                               // 0
            // What udev's GROUP="kvm" rules do on a host (docs/flushhint.md; the dax node as the output asks).
            "chgrp kvm /dev/dax0.0 \(node) && chmod 660 /dev/dax0.0 \(node)",                                        // 1
            "flushctl qemu /dev/dax0.0 --out /tmp/vm --guest-ram 256M --libvirt >/tmp/vm.xml; s=$?; cat /tmp/vm.xml; exit $s", // 2
            "flushctl qemu /dev/dax0.0 --out /tmp/vm --guest-ram 256M --json",                                        // 3
            "virt-xml-validate /tmp/vm.xml && \(Self.virsh) domxml-to-native qemu-argv /tmp/vm.xml",                 // 4
            // Controls, with libvirt's defaults: AppArmor refuses the tables; with the printed
            // AppArmor rules, libvirt's private /dev has no node.
            start,                                                                                                    // 5
            "sed -n 's/^     \\(\".*\" rw*,\\)$/\\1/p' /tmp/vm.xml | tee \(Self.appArmorFile)",                       // 6
            start,                                                                                                    // 7
            // The qemu.conf setting as printed, then libvirtd again.
            "sed -n '/cgroup_device_acl = \\[/,/^   \\]/p' /tmp/vm.xml >>/etc/libvirt/qemu.conf && grep -A4 '^ *cgroup_device_acl' /etc/libvirt/qemu.conf && "
                + "kill $(pidof libvirtd) && while pidof libvirtd >/dev/null; do usleep 100000; done && libvirt-start --apparmor", // 8
            EmulatedHost.guestRunCommand(guest, steps: steps),                                                        // 9
            // fsync: a plain file, libvirt's own virtio-pmem, nothing added to the host.
            "truncate -s 64M /tmp/pmem.img && flushctl qemu /tmp/pmem.img --out /tmp/vm2 --guest-ram 256M --libvirt >/tmp/vm2.xml; s=$?; cat /tmp/vm2.xml; exit $s", // 10
            EmulatedHost.guestRunCommand(fsyncGuest, steps: fsyncSteps),                                              // 11
        ], guest: true, timeout: 600)
        let r = boot.results
        for i in 0..<9 {
            try #require(r[i].status == 0, "host command \(i) failed: \(r[i].command)\n\(r[i].stdout)\(r[i].stderr)")
        }

        // The domain: qemu.args exactly, the -m flushctl computed, and the settings for the node,
        // the dax node and the link to it.
        let recipe = try PlanJSON.object(r[3])
        #expect(recipe["method"] as? String == "passthrough", "\(recipe["reason"] ?? "")")
        let allArgs = recipe["qemu_args"] as? [String] ?? []
        // The migration blocker rides as libvirt's own <shmem>, the rest in <qemu:commandline>.
        let blocker = ["-object", "memory-backend-ram,id=nomig,size=4096", "-device", "ivshmem-plain,id=nomig0,memdev=nomig,master=off"]
        let at = try #require(allArgs.firstIndex(of: blocker[1]), "the passthrough recipe carries the blocker: \(allArgs)")
        #expect(Array(allArgs[(at - 1)..<(at - 1 + blocker.count)]) == blocker)
        let args = Array(allArgs[..<(at - 1)] + allArgs[(at - 1 + blocker.count)...])
        #expect(args.filter { $0.contains("mem-path=\(node),offset=") }.count == region.usablePages.count, "\(args)")
        let document = r[2].stdout
        for argument in args { #expect(document.contains("<qemu:arg value='\(argument)'/>"), "\(argument)") }
        #expect(document.contains("<maxMemory slots='\(region.usablePages.count + 1)' unit='KiB'>1310720</maxMemory>"))
        #expect(document.contains("\"\(node)\", \"/dev/flushctl/dax0.0/device\","), "\(document)")
        #expect(document.contains("\(node): root:kvm 0660, read-write: QEMU's user must be in group kvm"))
        #expect(document.contains(Self.appArmorFile), "\(document)")
        #expect(document.contains("<shmem name='flushctl-nomig-vm' role='peer'>") && !document.contains("ivshmem-plain,id=nomig0"), "\(document)")

        // libvirt's schema and its command line: every argument, in order, after libvirt's -m.
        print("libvirt: \(r[4].stdout.split(separator: "\n").first ?? "")")
        #expect((r[4].stdout + r[4].stderr).contains("/tmp/vm.xml validates"), "\(r[4])")
        let native = r[4].stdout
        #expect(native.contains("-m size=262144k,slots=\(region.usablePages.count + 1),maxmem=1310720k"), "\(native)")
        #expect(native.contains(" -acpitable file=/tmp/vm/ssdt.aml "), "\(native)")
        #expect(native.contains(args.joined(separator: " ")), "every argument in order: \(native)")
        #expect(native.contains("ivshmem-plain"), "libvirt's shmem device: \(native)")
        #expect(r[0].stdout.contains("Using library: libvirt 11.") && r[0].stdout.contains("Running hypervisor: QEMU 10."), "\(r[0].stdout)")

        // Controls: AppArmor's profile lacks what only <qemu:commandline> names; then, with the rules
        // flushctl printed, QEMU in libvirt's namespace has no node to open.
        print("libvirt without the AppArmor rules: \(r[5].stderr)libvirt without cgroup_device_acl: \(r[7].stderr)")
        #expect(r[5].stdout.contains("virsh start: 1") && r[5].stderr.contains("can't open file /tmp/vm/nfit.aml: Permission denied"), "\(r[5])")
        let daxSize = "/sys/devices/LNXSYSTM:00/LNXSYBUS:00/ACPI0012:00/ndbus0/region0/dax0.0/dax0.0/size"
        #expect(r[6].stdout == "\"\(node)\" rw,\n\"/dev/dax0.0\" rw,\n\"\(daxSize)\" r,\n\"/tmp/vm/nfit.aml\" r,\n\"/tmp/vm/ssdt.aml\" r,\n", "\(r[6])")
        #expect(r[7].stdout.contains("virsh start: 1") && r[7].stderr.contains("can't open backing store \(node) for guest RAM: No such file or directory"), "\(r[7])")

        let run = try GuestPassthroughTests.guestRun(boot, index: 9, steps: steps.count)
        let s = run.steps
        #expect(s.allSatisfy { $0.status == 0 }, "every step succeeds: \(s.enumerated().filter { $0.element.status != 0 })")

        // QEMU as libvirt-qemu (uid 64055), its group libvirt-qemu, kvm (78) among its groups, no capability.
        let status = s[0].stdout
        print("libvirt's QEMU: \(status.split(separator: "\n").prefix(5).joined(separator: "; "))")
        #expect(status.contains("Uid:\t64055\t64055\t64055\t64055") && status.contains("Gid:\t64055\t64055\t64055\t64055"), "\(status)")
        let groups = status.split(separator: "\n").first { $0.hasPrefix("Groups:") }?.split(separator: "\t").dropFirst()
            .flatMap { $0.split(separator: " ") } ?? []
        #expect(groups.contains("78"), "the node's group kvm: \(status)")
        #expect(status.contains("CapEff:\t0000000000000000"), "\(status)")
        // Confined by the domain's own profile, enforced; QEMU mapped the pmem with MAP_SYNC (no warning).
        #expect(status.range(of: #"libvirt-[0-9a-f-]{36} \(enforce\)"#, options: .regularExpression) != nil, "\(status)")
        #expect(!status.contains("requesting persistence across crashes"), "\(status)")
        // It read the device-dax size (a refused read makes it try ftruncate on the device and say so).
        #expect(!status.contains("ftruncate"), "\(status)")
        let running = s[1].stdout.split(separator: "\n").map(String.init)
        #expect(running.joined(separator: "\n").contains(args.joined(separator: "\n")), "the running QEMU's arguments: \(running)")

        // One guest flush: one usable hint of each host DIMM; 200: no MMIO exit; the control's stores exit.
        let value = { (stdout: String) in PlanHints.values(CommandResult(command: "", stdout: stdout, stderr: "", status: 0)) }
        #expect(value(s[2].stdout) == PlanHints.zeros(hints))
        let written = value(s[4].stdout)
        PlanHints.expectOneHintPerDIMM(written: written, layout: layout, flushed: [0], reported: written.filter { $0.value == 1 }.map(\.key))
        let e0 = try #require(GuestPassthroughTests.mmioExits(s[5].stdout), "\(s[5])")
        let e1 = try #require(GuestPassthroughTests.mmioExits(s[7].stdout), "\(s[7])")
        let e2 = try #require(GuestPassthroughTests.mmioExits(s[9].stdout), "\(s[9])")
        print("libvirt's QEMU through \(node): mmio_exits \(e0) -> \(e1) over \(flushes) flushes, -> \(e2) over \(flushes) control stores")
        #expect(e1 == e0, "KVM counted \(e1 - e0) MMIO exits over \(flushes) guest flushes")
        #expect(e2 - e1 >= UInt64(flushes), "control: \(e2 - e1) exits")
        print("libvirt save of the passthrough guest: \(s[10].stdout)\(s[10].stderr)")
        #expect(s[10].stdout.contains("virsh save: 1") && !s[10].stdout.contains("saved"), "\(s[10])")
        let afterLoop = value(s[7].stdout)
        for dimm in region.dimms {
            #expect(dimm.hints.prefix(region.usable).contains { afterLoop[$0] == 1 }, "DIMM \(dimm.handle): \(afterLoop)")
        }

        // fsync: libvirt opens, labels (owner 64055) and confines the file itself; the guest has a
        // virtio-pmem region and what it writes to /dev/pmem0 is in the file.
        #expect(r[10].status == 0 && r[10].stdout.contains("<memory model='virtio-pmem' access='shared'>")
                    && r[10].stdout.contains("<path>/tmp/pmem.img</path>") && !r[10].stdout.contains("cgroup_device_acl"), "\(r[10])")
        let fsync = try GuestPassthroughTests.guestRun(boot, index: 11, steps: fsyncSteps.count)
        let f = fsync.steps
        print("libvirt's QEMU, fsync: \(f[0].stdout.split(separator: "\n").joined(separator: "; ")); guest: \(f[1].stdout.suffix(8))")
        #expect(f.allSatisfy { $0.status == 0 }, "\(f)")
        #expect(f[0].stdout.contains("Uid:\t64055\t64055\t64055\t64055") && f[0].stdout.contains("CapEff:\t0000000000000000"), "\(f[0].stdout)")
        #expect(f[0].stdout.range(of: #"libvirt-[0-9a-f-]{36} \(enforce\)"#, options: .regularExpression) != nil, "\(f[0].stdout)")
        #expect(f[0].stdout.contains(" 64055 "), "libvirt gave the file to QEMU's user: \(f[0].stdout)")
        #expect(f[1].stdout.contains("\"dev\":\"region0\"") && f[1].stdout.hasSuffix("written\n"), "\(f[1])")
        #expect(f[2].stdout == "LIBVIRT-FSYNC-MARK", "\(f[2])")
    }
}
