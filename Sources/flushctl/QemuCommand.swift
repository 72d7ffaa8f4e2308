import ArgumentParser
import NFIT
import OrderedJSON
#if canImport(Glibc)
import Glibc
#endif
import FactCache
import FlushPlanning
import HostFiles
import HostIO
import NVDIMMTopology

/// `flushctl qemu BACKEND --out DIR`: the VMM set-up step for a stock QEMU.
struct QemuCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "qemu",
        abstract: "Write the QEMU options and ACPI tables that keep a guest's writes to BACKEND durable.",
        discussion: """
            Plans BACKEND as `flushctl plan` does and turns the plan into the NVDIMM part of a \
            stock QEMU (x86 pc or q35) command line, written to DIR: nfit.aml (the guest's NFIT), \
            ssdt.aml (the NVDIMM root device ACPI0012 and one child per guest DIMM, _ADR = its \
            NFIT handle) and qemu.args (the -object, -device and -acpitable options, one argument \
            per line). passthrough: each host flush-hint page from /dev/mem as a 4 KiB pc-dimm at \
            a fixed guest address, the pmem as a pc-dimm, the NFIT mirroring the host region with \
            the guest addresses of the hints (QEMU 8.1 or later). none: the pmem and an NFIT \
            without flush hints. fsync: the backend as virtio-pmem-pci, whose guest flush QEMU \
            turns into fsync (qemu.args only). deep_flush: refused (exit 2), as stock QEMU cannot \
            turn a hint write into a write to deep_flush. The guest NFIT carries the host's \
            platform capabilities, so the guest's persistence domain is the host's. Addresses \
            default to the start of QEMU's device memory for --guest-ram on --machine (above 4 GiB, \
            after the RAM placed there, rounded up to 1 GiB); the pmem goes to the next 1 GiB \
            boundary after the hint pages. Prints the -m option the rest of the command line \
            needs and what QEMU, the host and the guest must satisfy.
            """
    )

    @Argument(help: ArgumentHelp("The device or file backing the guest's NVDIMM.", valueName: "backend"))
    var backend: String

    @Option(name: .customLong("out"), help: ArgumentHelp("The directory to write nfit.aml, ssdt.aml and qemu.args to (made if missing; it, and each directory on the way unless sticky like /tmp, must be owned by root or you and writable by no one else; the files are replaced).", valueName: "dir"))
    var out: String

    @Option(name: .customLong("guest-ram"), help: ArgumentHelp("The guest's RAM as QEMU's -m gives it: a number with K, M, G or T (a bare number is MiB, as for -m).", default: QemuCommand.defaultRAM, valueName: "size"),
            transform: QemuCommand.argument("--guest-ram"))
    var guestRAM = QemuCommand.defaultRAM

    @Option(name: .customLong("guest-base"), help: ArgumentHelp("Guest physical address of the first hint page (page aligned, inside QEMU's device memory); default the start of device memory.", valueName: "address"),
            transform: QemuCommand.argument("--guest-base"))
    var guestBase: UInt64?

    @Option(name: .customLong("guest-pmem-base"), help: ArgumentHelp("Guest physical address of the pmem (2 MiB aligned at least, and to the backend's align); default the next 1 GiB boundary after the hint pages.", valueName: "address"),
            transform: QemuCommand.argument("--guest-pmem-base"))
    var guestPmemBase: UInt64?

    @Option(name: .customLong("machine"), help: ArgumentHelp("The QEMU machine type whose memory layout the addresses follow: pc or q35.", default: QemuMachine.pc, valueName: "type"),
            transform: QemuCommand.argument("--machine"))
    var machine = QemuMachine.pc

    @Flag(name: .customLong("json"), help: "Print the recipe as JSON.")
    var json = false

    @Flag(name: .customLong("libvirt"), help: "Print the recipe as a libvirt domain (XML), with the qemu.conf, group and AppArmor settings the host needs in a comment before it.")
    var libvirt = false

    /// `--guest-ram` when not given.
    static let defaultRAM = GuestRAM(bytes: 1 << 30)

    func validate() throws {
        if json && libvirt { throw ArgumentError("--json and --libvirt are two forms of the output: give one", in: Self.self) }
        guard !out.isEmpty else { throw ArgumentError("--out is empty; give the directory to write the tables to", in: Self.self) }
        for prefix in ["/sys/", "/proc/", "/dev/"] where out.hasPrefix(prefix) || out + "/" == prefix {
            throw ArgumentError("--out \(out): refusing to write under \(prefix)", in: Self.self)
        }
    }

    func run() throws {
        let directory = absolutePath(out)
        let request = QemuRequest(machine: machine, guestRAM: guestRAM.bytes, hintBase: guestBase, pmemBase: guestPmemBase,
                                  directory: directory)

        let guestHintBase = try QemuRecipe.hintBase(for: request)
        let report = try HostPlanning.plan(backendPath: backend, guestBase: guestHintBase,
                                           cache: .whenNFITUnreadable(path: TopologyCache.defaultPath))
        if let provenance = report.cache { FileHandleStderr.write("flushctl qemu: note: flush hints and checks \(provenance)\n") }
        guard let geometry = report.geometry else {
            throw HostError(path: report.plan.backend, message: "its size is unknown: neither sysfs nor libdaxctl gives one")
        }
        let recipe = try QemuRecipe.make(plan: report.plan, capabilities: report.platformCapabilities,
                                         backend: geometry, vmmPath: report.vmmPath ?? .unguarded(why: report.plan.backend),
                                         request: request, checks: report.checks)
        let written: [(key: String, path: String)]
        do {
            written = try recipe.write(to: directory)
        } catch {
            switch error {
            case .notRegularFile(let path, _), .exists(let path):
                throw HostError(path: path, message: "exists and is not a regular file; refusing to replace it")
            case .io(let cause): throw NFITCommandError(cause)
            }
        }
        if libvirt {
            print(try libvirtDomain(recipe, report: report, files: written, directory: directory).document, terminator: "")
        } else if json {
            print(qemuToJSON(recipe, report: report, files: written).prettyPrinted())
        } else {
            print(qemuToText(recipe, report: report, files: written))
        }
    }
}

/// `path` made absolute against the working directory, so the arguments name the tables
/// wherever QEMU is started.
private func absolutePath(_ path: String) -> String {
    if path.hasPrefix("/") { return path }
    guard let cwd = getcwd(nil, 0) else { return path }
    defer { free(cwd) }
    let base = String(cString: cwd)
    let rest = path.hasPrefix("./") ? String(path.dropFirst(2)) : path
    return rest.isEmpty || rest == "." ? base : (base == "/" ? "/" : base + "/") + rest
}

/// The readable summary: the plan, the files, the -m option, the requirements, the arguments.
func qemuToText(_ recipe: QemuRecipe, report: PlanReport, files: [(key: String, path: String)]) -> String {
    let plan = report.plan
    var lines: [String] = []
    lines.append("\(plan.backend) (\(plan.backendKind)\(plan.region.map { " on \($0.dev)" } ?? "")): \(plan.method.rawValue)")
    lines.append("  \(plan.reason)")
    lines.append("  wrote: " + files.map(\.path).joined(separator: " "))
    if let source = recipe.capabilitiesSource {
        let caps = recipe.guestNFIT?.platformCapabilities.map { $0.isEmpty ? "none set" : $0.map(\.rawValue).joined(separator: ", ") } ?? "no structure"
        lines.append("  guest platform capabilities: \(caps) (from \(source.rawValue))")
    }
    lines.append("  the rest of the QEMU command line needs: \(recipe.memoryOption)")
    for requirement in recipe.requirements { lines.append("  - \(requirement)") }
    lines += migrationToText(recipe.migration, indent: "  ")
    lines.append("  NVDIMM options (\(files.first { $0.key == "args" }?.path ?? QemuRecipe.argumentsFile)):")
    var i = 0
    while i < recipe.arguments.count {
        let option = recipe.arguments[i]
        let value = i + 1 < recipe.arguments.count ? " " + recipe.arguments[i + 1] : ""
        lines.append("    \(option)\(value)")
        i += 2
    }
    if let note = report.note { lines.append("  note: \(note)") }
    return lines.joined(separator: "\n")
}
