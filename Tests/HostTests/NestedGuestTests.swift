import Foundation
import Testing

/// The emulated host runs a guest of its own under KVM (issue 14 item 3): the ground the
/// passthrough tests stand on. Each test is one boot of both levels (~20 s on 2 cores).
@Suite(.serialized) struct NestedGuestTests {
    /// Host steps that print KVM's global exit counter (debugfs, summed over all VMs).
    static let exits = "cat /sys/kernel/debug/kvm/exits"

    /// Boots the default (Debian 12) host with a trivial guest and checks that the guest is the host's
    /// kernel, ran under KVM, and that QEMU is the backports' 10.
    @Test func guestRunsUnderKVMOnDebianKernel() throws {
        let (boot, run) = try EmulatedHost.nested(steps: [
            .host(#"$GUEST_QEMU --version"#),
            .host(Self.exits),
            .guest("uname -r"),
            .host(Self.exits),
            // While the guest runs, KVM has a VM whose debugfs directory is named after QEMU's pid.
            .host(#"ls -d /sys/kernel/debug/kvm/$GUEST_QEMU_PID-*"#),
            .guest("dmesg | grep -i 'hypervisor detected'"),
        ])
        print("nested (debian): host kernel \(boot.kernelRelease), guest ready after \(run.readySeconds ?? -1) s, wall \(boot.wallSeconds) s")
        let steps = run.steps
        #expect(steps.allSatisfy { $0.status == 0 }, "\(steps)")
        #expect(steps[0].stdout.hasPrefix("QEMU emulator version 10."), "inner QEMU: \(steps[0].stdout)")
        #expect(boot.kernelRelease.hasPrefix("6.1."), "host kernel \(boot.kernelRelease)")
        #expect(steps[2].stdout == boot.kernelRelease + "\n", "the guest runs the host's kernel")
        #expect(run.release == boot.kernelRelease)
        // The guest's command made VM exits (its serial output at least): KVM ran it, not TCG.
        let before = UInt64(steps[1].stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        let after = UInt64(steps[3].stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(before != nil && after != nil && after! > before!, "kvm exits \(steps[1].stdout) -> \(steps[3].stdout)")
        #expect(steps[4].stdout.contains("/sys/kernel/debug/kvm/"), "no VM in KVM's debugfs: \(steps[4].stderr)")
        #expect(steps[5].stdout.contains("KVM"), "the guest's kernel did not detect KVM: \(steps[5].stdout)")
    }

    /// Without /dev/kvm the inner QEMU refuses `-accel kvm`, and guest-run says so with exit 125
    /// (an infrastructure failure, not a test result).
    @Test func withoutKVMQEMURefusesAndGuestRunFails() throws {
        let boot = try EmulatedHost.boot(scenario: "none", commands: [
            "rmmod kvm_amd",
            #"/opt/qemu/usr/bin/qemu-system-x86_64 -accel kvm -machine none -nodefaults -display none -L /opt/qemu/usr/share/qemu -L /opt/qemu/usr/share/seabios"#,
            "guest-run --guest true",
        ], guest: true, timeout: 300)
        let r = boot.results
        #expect(r[0].status == 0, "rmmod kvm_amd: \(r[0].stderr)")
        #expect(r[1].status != 0 && r[1].stderr.contains("KVM"), "QEMU without KVM: \(r[1].status) \(r[1].stderr)")
        #expect(r[2].status == 125 && r[2].stderr.contains("no /dev/kvm"), "guest-run: \(r[2].status) \(r[2].stderr)")
    }

    /// The guest sees a virtio-pmem device backed by a host file at an offset (`memory-backend-file,offset=`,
    /// which QEMU 7.2 lacks), with the NVDIMM modules it needs.
    @Test func virtioPmemAtAnOffset() throws {
        let (_, run) = try EmulatedHost.nested(
            hostSetup: ["truncate -s 32M /tmp/pmem-backing"],
            guest: EmulatedHost.Guest(qemuArguments: [
                "-object", "memory-backend-file,id=vp0mem,share=on,mem-path=/tmp/pmem-backing,size=16M,offset=16M",
                "-device", "virtio-pmem-pci,memdev=vp0mem,id=vp0",
            ]),
            steps: [.guest("ndctl list -R"), .guest("cat /sys/block/pmem0/size")])
        #expect(run.steps[0].status == 0, "\(run.steps[0])")
        #expect(run.steps[0].stdout.contains("\"size\":16777216"), "guest regions: \(run.steps[0].stdout)")
        #expect(run.steps[1].stdout == "32768\n", "pmem0 in 512-byte sectors: \(run.steps[1])")
    }

    /// The same on bookworm-backports' 6.12 as the host (and so the guest) kernel.
    @Test func guestRunsUnderKVMOnBackportsKernel() throws {
        let (boot, run) = try EmulatedHost.nested(kernel: .backports, steps: [
            .guest("uname -r"),
            .host(#"ls -d /sys/kernel/debug/kvm/$GUEST_QEMU_PID-*"#),
        ])
        print("nested (backports): host kernel \(boot.kernelRelease), guest ready after \(run.readySeconds ?? -1) s, wall \(boot.wallSeconds) s")
        #expect(boot.kernelRelease.hasPrefix("6.12."), "host kernel \(boot.kernelRelease)")
        #expect(run.steps[0].status == 0 && run.steps[0].stdout == boot.kernelRelease + "\n", "\(run.steps[0])")
        #expect(run.steps[1].status == 0, "no VM in KVM's debugfs: \(run.steps[1])")
    }
}
