import Foundation

/// A guest inside the emulated host: `Tests/hostsim/run --guest` puts QEMU 10 and `guest-run` there
/// (docs/emulated-host.md, "A guest in the emulated host").
extension EmulatedHost {
    /// One step of a nested run, in order: a command in the inner guest, or one in the emulated host
    /// while the guest runs. Host steps see `$GUEST_QEMU_PID` (KVM's debugfs directory of the VM is
    /// `/sys/kernel/debug/kvm/$GUEST_QEMU_PID-*`), `$GUEST_QEMU` (the QEMU binary) and `$GUEST_WORK`.
    enum Step: Sendable, Equatable {
        case guest(String)
        case host(String)
    }

    /// The inner guest as `guest-run` starts it: the host's kernel with the guest initramfs (busybox,
    /// ndctl, daxctl, the NVDIMM and virtio-pmem modules), `-accel kvm -cpu host`, console to a file.
    struct Guest: Sendable {
        /// QEMU arguments after guest-run's own (devices, memory backends).
        var qemuArguments: [String] = []
        /// A file of more QEMU arguments in the emulated host, one per line (`flushctl qemu`'s
        /// qemu.args), after `qemuArguments`.
        var argumentsFile: String? = nil
        /// QEMU's `-m`.
        var memory = "256M,slots=4,maxmem=4G"
        /// A host shell command that prints QEMU's `-m` (e.g. read from `flushctl qemu --json`'s
        /// output), used instead of `memory`: the value is known only inside the emulated host.
        var memoryCommand: String? = nil
        /// More guest kernel command line.
        var append = ""
        /// Seconds guest-run waits for the guest's boot and for each guest command before it fails (exit 125).
        var timeout = 180
        /// The user QEMU runs as (guest-run --user); `nil`: root.
        var user: String? = nil
        /// A domain XML file in the emulated host that libvirt starts instead (guest-run --libvirt,
        /// a host booted with `"libvirt": true` after `libvirt-start`); the arguments, `memory` and
        /// `user` are the domain's then.
        var libvirtDomain: String? = nil
    }

    /// One step's outcome; `where` is "guest" or "host".
    struct StepResult: Sendable { let `where`: String; let stdout: String; let stderr: String; let status: Int32 }

    /// What one `guest-run` reported: the guest's kernel release, the host's wall seconds from starting
    /// QEMU to the guest's /init having loaded its modules, and one result per step.
    struct GuestRun: Sendable {
        let release: String?
        let readySeconds: Double?
        let steps: [StepResult]
    }

    /// The host-side command that boots `guest` and runs `steps`, shell-quoted for a host command.
    static func guestRunCommand(_ guest: Guest, steps: [Step]) -> String {
        // The -m value is quoted like every word, or the output of `memoryCommand` in double quotes.
        let memory = guest.memoryCommand.map { "\"$(\($0))\"" } ?? shellQuoted(guest.memory)
        var words = ["--timeout", String(guest.timeout)]
        if !guest.append.isEmpty { words += ["--append", guest.append] }
        for argument in guest.qemuArguments { words += ["--arg", argument] }
        if let file = guest.argumentsFile { words += ["--args", file] }
        if let user = guest.user { words += ["--user", user] }
        if let domain = guest.libvirtDomain { words += ["--libvirt", domain] }
        for step in steps {
            switch step {
            case .guest(let command): words += ["--guest", command]
            case .host(let command): words += ["--host", command]
            }
        }
        return (["guest-run", "--memory", memory] + words.map(shellQuoted)).joined(separator: " ")
    }

    /// Boots `scenario` on `kernel` with `--guest`, runs `hostSetup` in the host, then boots `guest`
    /// under KVM and runs `steps`; returns the boot and the step results. Throws when the host or
    /// the guest could not be run (guest-run's exit 125, e.g. no /dev/kvm or a guest boot timeout).
    static func nested(scenario: String = "none", kernel: Kernel = .debian, append: String = "",
                       hostSetup: [String] = [], guest: Guest = Guest(), steps: [Step],
                       timeout: Double = 420) throws -> (boot: Boot, guest: GuestRun) {
        let command = guestRunCommand(guest, steps: steps)
        let boot = try boot(scenario: scenario, commands: hostSetup + [command], append: append, guest: true,
                            kernel: kernel, timeout: timeout)
        for (i, setup) in boot.results.dropLast().enumerated() where setup.status != 0 {
            throw EmulatedHostError(description: "host setup command \(i) failed (exit \(setup.status)): \(hostSetup[i])\n\(setup.stderr)")
        }
        let last = boot.results[boot.results.count - 1]
        guard last.status == 0, let run = boot.guestRuns[boot.results.count - 1] else {
            throw EmulatedHostError(description: "guest-run failed (exit \(last.status)):\n\(last.stderr)")
        }
        guard run.steps.count == steps.count else {
            throw EmulatedHostError(description: "asked for \(steps.count) steps, guest-run reported \(run.steps.count):\n\(last.stderr)")
        }
        return (boot, run)
    }

    /// `word` quoted for sh: in single quotes, each `'` as `'\''`.
    static func shellQuoted(_ word: String) -> String {
        "'" + word.replacingOccurrences(of: "'", with: #"'\''"#) + "'"
    }
}
