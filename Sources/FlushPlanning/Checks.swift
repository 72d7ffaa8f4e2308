// Verdicts on whether a region's flush-hint pages can be mapped, and safely: through the
// flushhint module's node for the region where it is usable, else from /dev/mem.
//
// The evaluation is a pure function of host facts, so every rule is unit-tested with
// fixtures; only reading the facts and the final mmap proof touch the host.
import HostFiles
import NVDIMMTopology

/// How a check came out.
public enum Verdict: String, Sendable, Equatable, Comparable, CaseIterable {
    /// The condition holds.
    case ok
    /// Mapping works, but the administrator should know something.
    case warn
    /// Mapping fails or is unsafe: passthrough is refused.
    case fail
    /// The fact could not be read: passthrough is refused, as when unsure flushctl picks the safer method.
    case unknown

    /// Severity order: ok < warn < unknown < fail.
    private var rank: Int {
        switch self {
        case .ok: return 0
        case .warn: return 1
        case .unknown: return 2
        case .fail: return 3
        }
    }

    /// Orders verdicts by severity.
    public static func < (a: Verdict, b: Verdict) -> Bool { a.rank < b.rank }

    /// Whether a plan may still say passthrough with this verdict.
    public var allowsPassthrough: Bool { self == .ok || self == .warn }
}

/// What a check is about. The raw values are the ids `flushctl check` prints.
public enum CheckID: String, Sendable, Equatable, CaseIterable {
    /// Opening /dev/mem needs `CAP_SYS_RAWIO`.
    case privilege
    /// `CONFIG_STRICT_DEVMEM` / `CONFIG_IO_STRICT_DEVMEM` against `iomem=relaxed`.
    case devmemRestrictions = "devmem_restrictions"
    /// Who /proc/iomem says owns a hint page.
    case iomemOwner = "iomem_owner"
    /// Whether a hint page also holds hints of DIMMs outside the region.
    case sharedPage = "shared_page"
    /// Linux 5.8+ revokes /dev/mem mappings when a driver claims the range again.
    case devmemRevocation = "devmem_revocation"
    /// A real mmap of the page (through the hint device or /dev/mem): the final proof.
    case mmap
    /// The flushhint module's node for the region (``HintDevice``).
    case hintDevice = "hint_device"
    /// Kernel lockdown, which refuses /dev/mem to every process.
    case lockdown
}

/// One check's outcome.
public struct Check: Sendable, Equatable {
    /// What was checked.
    public var id: CheckID
    /// The page it is about, for per-page checks.
    public var page: UInt64? = nil
    /// The outcome.
    public var verdict: Verdict
    /// One sentence saying what was found.
    public var finding: String
    /// What to do about it; `nil` when nothing needs doing.
    public var fix: String? = nil
    /// The file it is about: the hint device, or the file a page was mapped from.
    public var path: String? = nil

    /// Creates a check's outcome.
    public init(id: CheckID, page: UInt64? = nil, verdict: Verdict, finding: String, fix: String? = nil,
                path: String? = nil) {
        self.id = id; self.page = page; self.verdict = verdict; self.finding = finding; self.fix = fix
        self.path = path
    }
}

/// The facts the checks look at, each either read or the error that kept it from being read.
public struct HostFacts: Sendable {
    /// Who the process is.
    public var privilege: Privilege
    /// The kernel configuration.
    public var config: Result<KernelConfig, HostError>
    /// The kernel command line.
    public var commandLine: Result<KernelCommandLine, HostError>
    /// The kernel release string (`uname -r`), if known.
    public var release: String?
    /// /proc/iomem.
    public var iomem: Result<IOMemMap, HostError>
    /// The kernel's lockdown state; `nil` when it cannot be read.
    public var lockdown: Lockdown?

    /// Creates a fact set.
    public init(privilege: Privilege, config: Result<KernelConfig, HostError>,
                commandLine: Result<KernelCommandLine, HostError>, release: String?,
                iomem: Result<IOMemMap, HostError>, lockdown: Lockdown? = Lockdown.none) {
        self.privilege = privilege; self.config = config; self.commandLine = commandLine
        self.release = release; self.iomem = iomem; self.lockdown = lockdown
    }

}

/// The outcome of the final proof: mapping the page for real.
public enum MapProof: Sendable, Equatable {
    /// Not tried (for example `flushctl check` without privilege).
    case notTried
    /// The page was mapped (and unmapped again).
    case mapped
    /// mmap or open failed with this message.
    case failed(String)
}

/// Evaluates the checks for mapping `pages` of `region`.
public enum DevMemChecks {
    /// All checks, in the order `flushctl check` prints them: the hint device (when probed),
    /// lockdown, then for /dev/mem privilege, kernel restrictions and revocation (through a
    /// usable hint device they decide nothing and are left out), then per page its owner,
    /// sharing and (if given) the mmap proof. `owners` are the pages' ``owner(page:iomem:region:)``
    /// checks when the caller already ran them (to decide which pages to prove).
    public static func evaluate(facts: HostFacts, region: String, pages: [FlushHintPage], owners: [UInt64: Check] = [:],
                                proofs: [UInt64: MapProof] = [:], device: HintDevice? = nil) -> [Check] {
        var checks: [Check] = []
        var source = HintDevice.devMem
        if let device {
            checks.append(hintDevice(device, region: region))
            if case .usable(let path) = device { source = path }
        }
        // Lockdown first: under it /dev/mem is refused whatever the others say.
        checks.append(lockdown(facts.lockdown, device: device))
        if source == HintDevice.devMem {
            checks += [
                privilege(facts.privilege),
                restrictions(config: facts.config, commandLine: facts.commandLine),
                revocation(release: facts.release, config: facts.config, commandLine: facts.commandLine, region: region),
            ]
        }
        for use in pages {
            checks.append(owners[use.page] ?? owner(page: use.page, iomem: facts.iomem, region: region))
            checks.append(sharing(use, region: region))
            let explained = checks.contains { $0.verdict == .fail || $0.verdict == .unknown }
            checks.append(mapping(page: use.page, proof: proofs[use.page] ?? .notTried, source: source, explained: explained))
        }
        return checks
    }

    /// The flushhint module's node: usable, or why the pages map from /dev/mem instead.
    public static func hintDevice(_ device: HintDevice, region: String) -> Check {
        switch device {
        case .usable(let path):
            return Check(id: .hintDevice, verdict: .ok,
                         finding: "\(path) is the flushhint module's node for \(region) and opens read-write here: the hint pages map through it, with no /dev/mem, CAP_SYS_RAWIO or iomem=relaxed, and under lockdown.",
                         path: path)
        case .absent(let path):
            return Check(id: .hintDevice, verdict: .ok,
                         finding: "\(path) does not exist (the flushhint module is not loaded, or \(region) has no flush hints): the hint pages map from /dev/mem, which the checks below decide.",
                         path: path)
        case .foreign(let path, let why):
            return Check(id: .hintDevice, verdict: .fail,
                         finding: "\(path) is not the flushhint module's node for \(region): \(why); flushctl does not map through it.",
                         fix: "Remove what is at \(path) and reload the flushhint module.", path: path)
        case .inaccessible(let path, let errno):
            return Check(id: .hintDevice, verdict: .fail,
                         finding: "\(path) is the flushhint module's node for \(region), but this process cannot open it (\(errno)).",
                         fix: "Run as root, or as a member of the group udev gives \(path) (docs/flushhint.md).", path: path)
        }
    }

    /// Lockdown refuses /dev/mem to every process, root included; the hint device is not affected.
    public static func lockdown(_ state: Lockdown?, device: HintDevice?) -> Check {
        if case .usable(let path)? = device {
            return Check(id: .lockdown, verdict: .ok,
                         finding: "Kernel lockdown is \(state?.rawValue ?? "unknown"); it does not restrict \(path).")
        }
        switch state {
        case .none?:
            return Check(id: .lockdown, verdict: .ok, finding: "The kernel is not locked down, so lockdown does not refuse /dev/mem.")
        case let state? where state.refusesDevMem:
            return Check(id: .lockdown, verdict: .fail,
                         finding: "The kernel is locked down (\(state.rawValue), as under Secure Boot), which refuses /dev/mem to every process, root included.",
                         fix: "Load the flushhint module (signed with a key the kernel trusts; docs/flushhint.md): the hint pages then map through /dev/flushhint/REGION. Or give the guest a fully written file on an fsdax namespace as a virtio-pmem backend (fsync).")
        default:
            return Check(id: .lockdown, verdict: .ok,
                         finding: "The lockdown state could not be read (\(Lockdown.path)); the mmap proof below shows whether /dev/mem is refused.")
        }
    }

    /// `CAP_SYS_RAWIO` (which root normally holds) is what /dev/mem's open checks.
    public static func privilege(_ p: Privilege) -> Check {
        switch p.hasSysRawIO {
        case true?:
            return Check(id: .privilege, verdict: .ok, finding: "The process holds CAP_SYS_RAWIO, which opening /dev/mem requires.")
        case false?:
            let who = p.effectiveUID == 0 ? "root without CAP_SYS_RAWIO (a restricted container or capability bounding set)" : "not root and lacks CAP_SYS_RAWIO"
            return Check(id: .privilege, verdict: .fail, finding: "The process is \(who), so opening /dev/mem fails with EPERM.",
                         fix: "Run the VMM helper as root, or grant it CAP_SYS_RAWIO.")
        case nil:
            if p.effectiveUID == 0 {
                return Check(id: .privilege, verdict: .ok, finding: "The process is root (its capability set could not be read).")
            }
            return Check(id: .privilege, verdict: .unknown, finding: "The capability set could not be read from /proc/self/status and the process is not root.",
                         fix: "Run as root or with CAP_SYS_RAWIO.")
        }
    }

    /// With `CONFIG_STRICT_DEVMEM` and `CONFIG_IO_STRICT_DEVMEM` both set, the kernel refuses
    /// /dev/mem access to ranges a driver holds busy (the nd bus claims every hint page)
    /// unless `iomem=relaxed` turns the iomem checks off.
    public static func restrictions(config: Result<KernelConfig, HostError>,
                                    commandLine: Result<KernelCommandLine, HostError>) -> Check {
        if case .success(let cmdline) = commandLine, cmdline.iomemRelaxed {
            return Check(id: .devmemRestrictions, verdict: .ok,
                         finding: "The kernel was booted with iomem=relaxed, so /dev/mem may map ranges drivers have claimed.")
        }
        let kernelConfig: KernelConfig
        switch config {
        case .failure(let error):
            return Check(id: .devmemRestrictions, verdict: .unknown,
                         finding: "The kernel configuration could not be read (\(error)), so /dev/mem's restrictions are unknown.",
                         fix: "Provide /boot/config-$(uname -r), or boot with iomem=relaxed.")
        case .success(let c):
            kernelConfig = c
        }
        let config = kernelConfig
        let strict = config.isEnabled("CONFIG_STRICT_DEVMEM")
        let ioStrict = config.isEnabled("CONFIG_IO_STRICT_DEVMEM")
        if !strict {
            return Check(id: .devmemRestrictions, verdict: .ok,
                         finding: "CONFIG_STRICT_DEVMEM is not set (\(config.source)), so /dev/mem is not restricted.")
        }
        if !ioStrict {
            return Check(id: .devmemRestrictions, verdict: .ok,
                         finding: "CONFIG_STRICT_DEVMEM is set but CONFIG_IO_STRICT_DEVMEM is not (\(config.source)), so /dev/mem may map the nd bus's claimed hint pages.")
        }
        switch commandLine {
        case .failure(let error):
            return Check(id: .devmemRestrictions, verdict: .unknown,
                         finding: "CONFIG_STRICT_DEVMEM and CONFIG_IO_STRICT_DEVMEM are set and the command line could not be read (\(error)).",
                         fix: "Boot with iomem=relaxed.")
        case .success:
            return Check(id: .devmemRestrictions, verdict: .fail,
                         finding: "CONFIG_STRICT_DEVMEM and CONFIG_IO_STRICT_DEVMEM are set (\(config.source)) and iomem=relaxed is not on the kernel command line, so mapping an nd bus page from /dev/mem fails with EPERM.",
                         fix: "Boot with iomem=relaxed.")
        }
    }

    /// Since Linux 5.8 a driver claiming a range (as enabling or re-binding a region does for
    /// its hint pages) revokes existing /dev/mem mappings of it. kernel/resource.c compiles
    /// the revocation only with `CONFIG_IO_STRICT_DEVMEM` and skips it when /dev/mem may map
    /// the claimed range anyway, which `iomem=relaxed` allows.
    public static func revocation(release: String?, config: Result<KernelConfig, HostError>,
                                  commandLine: Result<KernelCommandLine, HostError>, region: String) -> Check {
        if case .success(let cmdline) = commandLine, cmdline.iomemRelaxed {
            return Check(id: .devmemRevocation, verdict: .ok,
                         finding: "iomem=relaxed is set, so re-binding \(region) does not revoke /dev/mem mappings of its hint pages.")
        }
        let fix = "Boot with iomem=relaxed, or re-plan and re-map after any disable/enable of \(region)."
        guard let release, let version = KernelRelease.parse(release) else {
            return Check(id: .devmemRevocation, verdict: .warn,
                         finding: "The kernel release is unknown; since Linux 5.8 re-binding \(region) can revoke /dev/mem mappings of its hint pages, cutting the guest off from them.",
                         fix: fix)
        }
        if !version.isAtLeast(5, 8) {
            return Check(id: .devmemRevocation, verdict: .ok,
                         finding: "Linux \(release) predates 5.8, which does not revoke /dev/mem mappings when a driver claims a range.")
        }
        if case .success(let c) = config, !c.isEnabled("CONFIG_IO_STRICT_DEVMEM") {
            return Check(id: .devmemRevocation, verdict: .ok,
                         finding: "CONFIG_IO_STRICT_DEVMEM is not set (\(c.source)), so Linux \(release) does not revoke /dev/mem mappings when \(region) is re-bound.")
        }
        let why: String
        if case .success = config {
            why = "CONFIG_IO_STRICT_DEVMEM is set"
        } else {
            why = "the kernel configuration is unknown"
        }
        return Check(id: .devmemRevocation, verdict: .warn,
                     finding: "Linux \(release) revokes /dev/mem mappings of \(region)'s hint pages when the region is enabled or re-bound (\(why) and iomem=relaxed is not set), cutting the guest off from them.",
                     fix: fix)
    }

    /// The page must be claimed by an nd bus alone: never map RAM or another device's registers.
    public static func owner(page: UInt64, iomem: Result<IOMemMap, HostError>, region: String) -> Check {
        let p = planHex(page)
        let map: IOMemMap
        switch iomem {
        case .failure(let error):
            return Check(id: .iomemOwner, page: page, verdict: .unknown,
                         finding: "/proc/iomem could not be read (\(error)), so the owner of page \(p) is unknown.",
                         fix: "Run as root.")
        case .success(let m):
            map = m
        }
        switch map.owner(ofPage: page) {
        case .ndBus(let name, let containers):
            let inside = containers.isEmpty ? "" : " (inside \(containers.map { "'\($0)'" }.joined(separator: ", ")))"
            return Check(id: .iomemOwner, page: page, verdict: .ok,
                         finding: "Page \(p) is claimed by \(name) alone\(inside).")
        case .systemRAM(let ram):
            return Check(id: .iomemOwner, page: page, verdict: .fail,
                         finding: "Page \(p) overlaps System RAM \(planHex(ram.start))-\(planHex(ram.end)); mapping it into a guest would expose host memory.",
                         fix: "Check the NFIT's flush hint addresses; flushctl refuses to map RAM.")
        case .otherDevice(let others):
            let names = others.map { "'\($0.name)' \(planHex($0.start))-\(planHex($0.end))" }.joined(separator: ", ")
            return Check(id: .iomemOwner, page: page, verdict: .fail,
                         finding: "Page \(p) overlaps \(names), which is not an nd bus claim; a guest must not reach another device's registers.",
                         fix: "Check the NFIT's flush hint addresses; flushctl refuses pages other devices use.")
        case .nothing(let containers):
            // The checks run for enabled regions only, whose bus has claimed every hint page the
            // kernel flushes through. A page nobody claims is one the kernel does not use (a
            // hint past the 2^ilog2 prefix) or an NFIT it disagrees with: it holds no uncached
            // memory type, so a VMM mapping it without O_SYNC would get write-back memory.
            let inside = containers.isEmpty ? "" : " (it lies only in \(containers.map { "'\($0)'" }.joined(separator: ", ")))"
            return Check(id: .iomemOwner, page: page, verdict: .fail,
                         finding: "No driver claims page \(p)\(inside), although \(region)'s nd bus claims every hint page the kernel flushes through; the kernel does not use this page, so mapping it is neither known to flush nor known to be uncached.",
                         fix: "Check the NFIT's flush hint addresses against /proc/iomem; if \(region) was just enabled, check again.")
        case .addressesHidden:
            return Check(id: .iomemOwner, page: page, verdict: .unknown,
                         finding: "/proc/iomem shows zeroed addresses to this unprivileged reader, so the owner of page \(p) is unknown.",
                         fix: "Run as root.")
        }
    }

    /// A page holding hints of other regions' DIMMs lets the guest flush their write queues.
    public static func sharing(_ use: FlushHintPage, region: String) -> Check {
        if use.sharedWith.isEmpty {
            return Check(id: .sharedPage, page: use.page, verdict: .ok,
                         finding: "Page \(planHex(use.page)) holds hints of \(region)'s DIMMs only.")
        }
        return Check(id: .sharedPage, page: use.page, verdict: .warn,
                     finding: "Page \(planHex(use.page)) also holds hints of \(use.sharedWith.joined(separator: ", ")); a guest given it could flush another tenant's DIMMs (no data is exposed, but it can slow them).",
                     fix: "Accept it, or give the guest deep_flush instead of passthrough.")
    }

    /// The mmap proof's verdict. `explained`: an earlier check failed, which the fix points to.
    public static func mapping(page: UInt64, proof: MapProof, source: String = HintDevice.devMem,
                               explained: Bool = true) -> Check {
        switch proof {
        case .mapped:
            return Check(id: .mmap, page: page, verdict: .ok, finding: "Page \(planHex(page)) was mapped from \(source).", path: source)
        case .failed(let message):
            return Check(id: .mmap, page: page, verdict: .fail, finding: "Mapping page \(planHex(page)) from \(source) failed: \(message).",
                         fix: explained ? "Fix the failing checks above and try again."
                             : "No check above explains it: look for what else refuses \(source) here (a security module, a container's device rules) in the kernel log.",
                         path: source)
        case .notTried:
            return Check(id: .mmap, page: page, verdict: .unknown, finding: "Page \(planHex(page)) was not mapped, so mapping is not proven.",
                         fix: "Run flushctl check as root to try the mapping.", path: source)
        }
    }
}

/// `0x…` lowercase hexadecimal, as ndctl prints addresses.
package func planHex<T: BinaryInteger>(_ value: T) -> String {
    "0x" + String(value, radix: 16)
}
