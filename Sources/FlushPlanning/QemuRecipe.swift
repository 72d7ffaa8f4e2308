import NFIT
import NVDIMMTopology

// The QEMU set-up step: for a plan, the part of a stock QEMU command line (no patch) that
// keeps the guest's writes durable, with the guest's ACPI tables, or the reason there is none.
// Pure: the plan, the backend's size and QEMU's address rules in, a recipe out; unit-tested in
// Tests/LibraryTests/QemuRecipeTests.swift.

/// The x86 QEMU machine types whose memory layout flushctl knows.
public enum QemuMachine: String, Sendable, Equatable, CaseIterable {
    /// `-machine pc` (i440FX + PIIX).
    case pc
    /// `-machine q35` (Q35 + ICH9).
    case q35
}

/// Where QEMU puts guest RAM and its device-memory area (pc-dimm, virtio-pmem) on the x86
/// `pc` and `q35` machines, for current machine types (QEMU 8.1 to 10), read from QEMU's
/// hw/i386/pc.c (`pc_get_device_memory_range`, `pc_above_4g_end`), pc_piix.c and pc_q35.c:
///
/// * RAM below 4 GiB: on `pc` all of it when it is smaller than `max-ram-below-4g` (default
///   3.5 GiB, 0xe0000000), else 3 GiB (gigabyte alignment); on `q35` all of it when it is
///   smaller than 2.75 GiB (0xb0000000), else 2 GiB. The rest starts at 4 GiB.
/// * The device-memory area starts at the end of the RAM above 4 GiB (4 GiB when there is
///   none) rounded up to 1 GiB, and is `maxmem - ram` plus 1 GiB per slot long (QEMU sizes
///   it "assuming 1G page max alignment per slot").
///
/// Not modelled: `max-ram-below-4g` set by hand, SGX EPC sections (the area moves after
/// them), and AMD guests so big that QEMU moves the RAM above 4 GiB to 1 TiB (its
/// HyperTransport rule): give `--guest-base` and `--guest-pmem-base` there.
public enum QemuAddressSpace {
    /// 1 GiB.
    public static let gib: UInt64 = 1 << 30
    /// 4 GiB, where RAM above the PCI hole starts.
    public static let fourGiB: UInt64 = 4 << 30

    /// The bytes of `ram` QEMU places below 4 GiB on `machine`.
    public static func ramBelow4G(machine: QemuMachine, ram: UInt64) -> UInt64 {
        let lowmem: UInt64
        switch machine {
        case .pc: lowmem = ram >= 0xE000_0000 ? 0xC000_0000 : 0xE000_0000
        case .q35: lowmem = ram >= 0xB000_0000 ? 0x8000_0000 : 0xB000_0000
        }
        return min(ram, lowmem)
    }

    /// The guest physical address where QEMU's device-memory area starts for `ram` bytes of
    /// RAM on `machine`; `nil` when it would not fit 64 bits.
    public static func deviceMemoryBase(machine: QemuMachine, ram: UInt64) -> UInt64? {
        let above = ram - ramBelow4G(machine: machine, ram: ram)
        let (end, overflow) = fourGiB.addingReportingOverflow(above)
        if overflow { return nil }
        return roundUp(end, gib)
    }

    /// `value` rounded up to a multiple of `alignment` (a power of two); `nil` on overflow.
    static func roundUp(_ value: UInt64, _ alignment: UInt64) -> UInt64? {
        let (sum, overflow) = value.addingReportingOverflow(alignment - 1)
        return overflow ? nil : sum & ~(alignment - 1)
    }
}

/// What the command line asks for, before the plan.
public struct QemuRequest: Sendable, Equatable {
    /// The machine type.
    public let machine: QemuMachine
    /// The guest's RAM (`-m`), in bytes.
    public let guestRAM: UInt64
    /// Where QEMU's device memory starts for this machine and RAM
    /// (``QemuAddressSpace/deviceMemoryBase(machine:ram:)``), worked out once; `nil` for a RAM
    /// size QEMU cannot place.
    public let deviceMemoryBase: UInt64?
    /// Where the hint pages go (`--guest-base`); default the start of device memory.
    public var hintBase: UInt64?
    /// Where the pmem goes (`--guest-pmem-base`); default the next 1 GiB boundary after the
    /// hint pages (the start of device memory when there are none).
    public var pmemBase: UInt64?
    /// The directory the tables are written to; the arguments name the files in it.
    public var directory: String

    /// A request.
    public init(machine: QemuMachine, guestRAM: UInt64, hintBase: UInt64? = nil, pmemBase: UInt64? = nil, directory: String) {
        self.machine = machine; self.guestRAM = guestRAM; self.hintBase = hintBase
        self.pmemBase = pmemBase; self.directory = directory
        deviceMemoryBase = guestRAM > 0 ? QemuAddressSpace.deviceMemoryBase(machine: machine, ram: guestRAM) : nil
    }
}

/// How the guest sees the backend.
public enum QemuPmemDevice: String, Sendable, Equatable {
    /// A `pc-dimm` at a fixed address, described to the guest by our NFIT.
    case pcDIMM = "pc-dimm"
    /// A `virtio-pmem-pci` device: the guest's flush is a request QEMU answers with fsync.
    case virtioPmem = "virtio-pmem-pci"
}

/// One host hint page placed in the guest.
public struct QemuHintPage: Sendable, Equatable {
    /// The host physical address of the page (its offset in /dev/mem).
    public var hostAddress: UInt64
    /// Where the guest sees it.
    public var guestAddress: UInt64
}

/// The guest's persistent memory.
public struct QemuPmem: Sendable, Equatable {
    /// The path QEMU maps: one that fails to open once the backend is gone (``VMMPath``).
    public var path: String
    /// `MAJOR:MINOR` of the device node planned, which `path` was checked to lead to.
    public var deviceNumber: String?
    /// Its size.
    public var size: UInt64
    /// The `align=` of its memory backend, when the backend needs one.
    public var align: UInt64?
    /// Where the guest sees it.
    public var guestAddress: UInt64
    /// The device that shows it to the guest.
    public var device: QemuPmemDevice
}

/// A file the recipe's options name (`-acpitable file=`, the arguments file), with its bytes,
/// made once with the recipe: whoever writes it writes these.
public struct QemuRecipeFile: Sendable, Equatable {
    /// What it is, as `flushctl qemu --json` names it: `nfit`, `ssdt` or `args`.
    public var key: String
    /// Its name in the request's directory.
    public var name: String
    /// Its contents.
    public var bytes: [UInt8]
}

/// Where the guest's platform capabilities came from.
public enum QemuCapabilitiesSource: String, Sendable, Equatable {
    /// Copied from the host NFIT's platform capabilities structure (its effective bits).
    case hostNFIT = "host_nfit"
    /// The host NFIT has no such structure, so neither has the guest's.
    case hostNFITHasNone = "host_nfit_has_none"
    /// The NFIT was not readable here: derived from the region's persistence domain, which
    /// the kernel derives from the same structure.
    case persistenceDomain = "persistence_domain"
}

/// The QEMU recipe for one plan.
public struct QemuRecipe: Sendable, Equatable {
    /// The plan's method.
    public var method: PlanMethod
    /// The machine the addresses are for.
    public var machine: QemuMachine
    /// The guest RAM the addresses are for.
    public var guestRAM: UInt64
    /// The start of QEMU's device-memory area for that RAM.
    public var deviceMemoryBase: UInt64
    /// For passthrough: every host hint page and where the guest sees it, ascending.
    public var hintPages: [QemuHintPage]
    /// The guest's persistent memory.
    public var pmem: QemuPmem
    /// The guest's NFIT (`nfit.aml`), for passthrough and none.
    public var guestNFIT: NFITLayout?
    /// Where the NFIT's platform capabilities came from, when there is an NFIT.
    public var capabilitiesSource: QemuCapabilitiesSource?
    /// The guest DIMMs' devices under the NVDIMM root device of the guest's SSDT (`ssdt.aml`),
    /// in the NFIT's order; empty without an NFIT.
    public var guestDIMMDevices: [NVDIMMDevice]
    /// The files to write into the request's directory: `nfit.aml` and `ssdt.aml` for
    /// passthrough and none, and always `qemu.args` (one argument per line).
    public var files: [QemuRecipeFile]
    /// `-m …,slots=` : memory slots the DIMMs need.
    public var slots: Int
    /// `-m …,maxmem=`: the least maximum memory that makes room for the devices.
    public var maxmem: UInt64
    /// The oldest QEMU with every option used.
    public var minimumQEMU: String
    /// The NVDIMM part of the QEMU command line, one argument per element.
    public var arguments: [String]
    /// What the rest of the command line, the host and the guest must satisfy, one sentence each.
    public var requirements: [String]
    /// Whether the guest may be migrated, saved or dumped, and how `arguments` make QEMU refuse
    /// it where not (``MigrationBlocker``).
    public var migration: MigrationPolicy

    /// The file names written into the request's directory.
    public static let nfitFile = "nfit.aml"
    /// The SSDT's file name.
    public static let ssdtFile = "ssdt.aml"
    /// The arguments' file name.
    public static let argumentsFile = "qemu.args"

    /// The `-m` option the rest of the command line needs.
    public var memoryOption: String {
        "-m \(QemuRecipe.sizeText(guestRAM)),slots=\(slots),maxmem=\(QemuRecipe.sizeText(maxmem))"
    }

    /// The least pmem alignment flushctl accepts: Linux maps persistent memory with struct
    /// pages in 2 MiB subsections (`memremap_compat_align()` on x86), and a guest refused a
    /// pmem range misaligned to it.
    public static let minimumPmemAlignment: UInt64 = 2 << 20

    /// The recipe for `plan`, or the reason stock QEMU cannot keep the guest's writes durable.
    ///
    /// - Parameters:
    ///   - plan: the plan, made with ``hintBase(for:)`` as its guest base.
    ///   - capabilities: the host NFIT's platform capabilities, as far as read.
    ///   - backend: the backend's size and alignment.
    ///   - vmmPath: the path QEMU is given for the backend (``BackendProbe/vmmPath(for:sysfs:)``).
    ///   - request: machine, RAM, explicit addresses, output directory.
    ///   - checks: the plan's checks, which say when lockdown is what refused passthrough.
    /// - Throws: ``QemuRecipeError`` for a `deep_flush` plan (stock QEMU cannot do it), a
    ///   backend with no path that fails closed, bad explicit addresses, a backend size QEMU or the NFIT cannot take, a path QEMU's option
    ///   syntax cannot carry.
    public static func make(plan: Plan, capabilities: HostPlatformCapabilities, backend: BackendGeometry,
                            vmmPath: VMMPath, request: QemuRequest, checks: [Check] = []) throws(QemuRecipeError) -> QemuRecipe {
        let deviceBase = try deviceMemoryBase(request)
        guard case .failsClosed(let path, let deviceNumber) = vmmPath else {
            if case .unguarded(let why) = vmmPath { throw .noFailClosedPath(why) }
            throw .noFailClosedPath(plan.backend)
        }
        let directory = request.directory.hasSuffix("/") && request.directory.count > 1
            ? String(request.directory.dropLast()) : request.directory
        guard backend.size > 0, backend.size % FlushHintPage.pageSize == 0 else {
            throw .badBackendSize(path: plan.backend, size: backend.size)
        }
        switch plan.method {
        case .deepFlush where checks.contains { $0.id == .lockdown && $0.verdict == .fail }:
            throw .lockedDown(region: plan.region?.dev ?? "the region")
        case .deepFlush:
            throw .deepFlushUnsupported(reason: plan.reason, deepFlushPath: plan.deepFlushPath ?? "deep_flush")
        case .fsync:
            let base = try pmemBase(request, after: nil, deviceBase: deviceBase, align: backend.align)
            let pmem = QemuPmem(path: path, deviceNumber: deviceNumber, size: backend.size, align: backend.align,
                                guestAddress: base, device: .virtioPmem)
            var args = ["-object", try backendObject(id: "pm0", path: path, offset: nil, size: backend.size, align: backend.align)]
            args += ["-device", "virtio-pmem-pci,memdev=pm0,id=vp0,memaddr=\(hex(base))"]
            return QemuRecipe(
                method: .fsync, machine: request.machine, guestRAM: request.guestRAM, deviceMemoryBase: deviceBase,
                hintPages: [], pmem: pmem, guestNFIT: nil, capabilitiesSource: nil, guestDIMMDevices: [],
                files: [argumentsFile(args)], slots: 1,
                maxmem: try maxmem(request, deviceBase: deviceBase, slots: 1, devices: [(base, backend.size)]),
                minimumQEMU: "4.1", arguments: args,
                requirements: common(request, deviceBase: deviceBase) + [
                    "QEMU 4.1 or later (virtio-pmem-pci on x86).",
                    "The guest needs a virtio-pmem driver (Linux 5.3 or later, CONFIG_VIRTIO_PMEM); its flushes become fsync(2) of \(plan.backend) in QEMU, which fails the flush if fsync fails.",
                    "Never give this backend to -device nvdimm instead: QEMU's NVDIMM has no flush, so the guest's writes would sit in the host page cache.",
                ], migration: MigrationBlocker.policy(for: .fsync))
        case .none, .passthrough:
            break
        }

        // pmem as a pc-dimm described by our NFIT: passthrough (with the host hint pages) or none.
        var pages: [QemuHintPage] = []
        var guestDIMMs: [NFITLayout.DIMM]
        if plan.method == .passthrough {
            guard let guest = plan.guest else { throw .missingGuestLayout }
            pages = plan.ranges.indices.map { QemuHintPage(hostAddress: plan.ranges[$0].page, guestAddress: guest.guestAddress(ofPage: $0)) }
            guestDIMMs = guest.dimms.map { NFITLayout.DIMM(handle: $0.handle, hints: $0.hints) }
        } else {
            guestDIMMs = []
            for dimm in plan.dimms {
                guard let handle = dimm.handle else { throw .unknownHandle(dimm.dev) }
                guestDIMMs.append(NFITLayout.DIMM(handle: handle, hints: nil))
            }
            if guestDIMMs.isEmpty { throw .unknownHandle("the region") }
        }
        let hintSpan: (UInt64, UInt64)? = pages.first.map { ($0.guestAddress, pages[pages.count - 1].guestAddress + FlushHintPage.pageSize) }
        if let (start, _) = hintSpan, start < deviceBase {
            throw .outsideDeviceMemory(.hintBase, address: start, deviceBase: deviceBase)
        }
        let base = try pmemBase(request, after: hintSpan, deviceBase: deviceBase, align: backend.align)
        let pmem = QemuPmem(path: path, deviceNumber: deviceNumber, size: backend.size, align: backend.align,
                            guestAddress: base, device: .pcDIMM)

        // Each guest DIMM holds whole 4 KiB interleave lines (the layout builder's line size).
        let cycle = UInt64(guestDIMMs.count) * UInt64(NFITLayout.interleaveLineSize)
        guard backend.size % cycle == 0 else {
            throw .guestNFIT("\(plan.backend)'s size \(hex(backend.size)) is not a multiple of \(guestDIMMs.count) DIMMs × \(NFITLayout.interleaveLineSize)-byte interleave lines")
        }
        let (caps, source) = guestCapabilities(capabilities, domain: plan.persistenceDomain)
        let layout = NFITLayout(regions: [NFITLayout.Region(base: base, size: backend.size, dimms: guestDIMMs)],
                                platformCapabilities: caps)
        let nfit: [UInt8]
        do {
            let table: NFITTable
            do { table = try layout.makeTable() } catch { throw .guestNFIT(error.description) }
            do { nfit = try table.encode() } catch { throw .guestNFIT(error.description) }
        }
        let ssdt: [UInt8], devices: [NVDIMMDevice]
        do {
            ssdt = try ACPISSDT.nvdimmRoot(handles: guestDIMMs.map(\.handle)).encode()
            devices = try NVDIMMDevice.children(handles: guestDIMMs.map(\.handle))
        } catch { throw .guestSSDT(error.description) }

        var args: [String] = []
        for (i, page) in pages.enumerated() {
            args += ["-object", try backendObject(id: "fh\(i)", path: plan.hintSource, offset: page.hostAddress,
                                                  size: FlushHintPage.pageSize, align: nil)]
            args += ["-device", "pc-dimm,id=h\(i),memdev=fh\(i),addr=\(hex(page.guestAddress))"]
        }
        // pmem=on: QEMU maps the pmem with MAP_SYNC (the plan proved a dax_file accepts it, and
        // device-dax does), and refuses to start when built without libpmem.
        args += ["-object", try backendObject(id: "pm0", path: path, offset: nil, size: backend.size, align: backend.align, pmem: true)]
        args += ["-device", "pc-dimm,id=p0,memdev=pm0,addr=\(hex(base))"]
        let migration = MigrationBlocker.policy(for: plan.method)
        if !migration.migratable { args += MigrationBlocker.arguments }
        args += ["-acpitable", "file=" + (try tableFile(directory + "/" + nfitFile))]
        args += ["-acpitable", "file=" + (try tableFile(directory + "/" + ssdtFile))]

        let slots = pages.count + 1
        var requirements = common(request, deviceBase: deviceBase)
        if plan.method == .passthrough {
            requirements.append("QEMU 8.1 or later (the offset= property of memory-backend-file).")
            if plan.hintSource == HintDevice.devMem {
                requirements += [
                    "QEMU runs as root (or with CAP_SYS_RAWIO and write access to /dev/mem) and the host keeps iomem=relaxed: QEMU maps each hint page from /dev/mem itself.",
                    "Start QEMU only while \(plan.region?.dev ?? "the region") is enabled and never disable it under the guest: QEMU opens /dev/mem without O_SYNC, so the page is uncached only while the region's driver holds it; after any region disable/enable, run flushctl qemu again.",
                ]
            } else {
                requirements += [
                    "QEMU's user can open \(plan.hintSource) read-write (the flushhint module's node; udev gives it a group, docs/flushhint.md): no root, CAP_SYS_RAWIO or iomem=relaxed is needed, and kernel lockdown does not refuse it.",
                    "Start QEMU only while \(plan.region?.dev ?? "the region") is enabled: disabling it revokes the guest's hint pages (the guest stops with an error); after any region disable/enable, run flushctl qemu again.",
                ]
            }
        } else {
            requirements += ["QEMU 3.1 or later (pc-dimm addr=, memory-backend-file align= and pmem=)."]
        }
        requirements += [
            "QEMU built with libpmem (Debian's is; one without refuses pmem=on), and no \"requesting persistence across crashes for backend file \(path) failed\" warning at start: QEMU then mapped the pmem without MAP_SYNC, so a guest write into it is not durable.",
            "Do not set nvdimm=on on the machine: QEMU would build its own NFIT and NVDR device besides these tables.",
            memoryHotplugRequirement(pmemBase: base, size: backend.size),
        ]
        if let never = migration.requirement { requirements.append(never) }
        return QemuRecipe(
            method: plan.method, machine: request.machine, guestRAM: request.guestRAM, deviceMemoryBase: deviceBase,
            hintPages: pages, pmem: pmem, guestNFIT: layout, capabilitiesSource: source, guestDIMMDevices: devices,
            files: [QemuRecipeFile(key: "nfit", name: nfitFile, bytes: nfit), QemuRecipeFile(key: "ssdt", name: ssdtFile, bytes: ssdt),
                    argumentsFile(args)],
            slots: slots,
            maxmem: try maxmem(request, deviceBase: deviceBase, slots: slots,
                               devices: pages.map { ($0.guestAddress, FlushHintPage.pageSize) } + [(base, backend.size)]),
            minimumQEMU: plan.method == .passthrough ? "8.1" : "3.1", arguments: args, requirements: requirements,
            migration: migration)
    }

    /// Linux's smallest memory block on x86 (`MIN_MEMORY_BLOCK_SIZE`); blocks are powers of two
    /// from it up, so a range that is not a multiple of it is not a multiple of any block.
    static let minimumMemoryBlock: UInt64 = 128 << 20

    /// What a Linux guest's ACPI memory hotplug does with the pmem pc-dimm. QEMU lists every
    /// pc-dimm in its memory-hotplug device, and Linux adds one as a memory block when its base
    /// and size are multiples of the block size; the 4 KiB hint DIMMs never are. Seen under KVM
    /// (Tests/HostTests/GuestPassthroughTests.swift): a 128 MiB pmem at 0x140000000 became an
    /// offline memory block and nd_pmem could not claim its range (-EBUSY); with
    /// acpi_no_memhotplug the guest had its pmem.
    static func memoryHotplugRequirement(pmemBase: UInt64, size: UInt64) -> String {
        if pmemBase % minimumMemoryBlock == 0 && size % minimumMemoryBlock == 0 {
            return "Linux guest: boot it with acpi_no_memhotplug. QEMU lists every pc-dimm in its ACPI memory-hotplug device, and this pmem's base and size are multiples of 128 MiB (Linux's smallest memory block), so without it the guest adds the pmem as a memory block: its pmem driver cannot claim the range (nd_pmem: could not reserve region, -EBUSY), and a guest that onlines hot-added memory uses it as RAM."
        }
        return "Linux guest: acpi_no_memhotplug is not needed: the pmem's base or size is not a multiple of 128 MiB (Linux's smallest memory block), so the guest's ACPI memory hotplug refuses every pc-dimm of this recipe (harmless \"add_memory failed\" lines in its log). Run flushctl qemu again if the backend's size changes."
    }

    /// Where the plan's hint pages go: `--guest-base`, else the start of QEMU's device memory.
    ///
    /// - Throws: ``QemuRecipeError`` when the RAM is so big the area would not fit 64 bits, or
    ///   an explicit base is not page aligned or lies below the device-memory area.
    public static func hintBase(for request: QemuRequest) throws(QemuRecipeError) -> UInt64 {
        let deviceBase = try deviceMemoryBase(request)
        guard let base = request.hintBase else { return deviceBase }
        guard base % FlushHintPage.pageSize == 0 else { throw .unaligned(.hintBase, address: base, alignment: FlushHintPage.pageSize) }
        guard base >= deviceBase else { throw .outsideDeviceMemory(.hintBase, address: base, deviceBase: deviceBase) }
        return base
    }

    // MARK: - Rules

    static func deviceMemoryBase(_ request: QemuRequest) throws(QemuRecipeError) -> UInt64 {
        guard let base = request.deviceMemoryBase else { throw .badGuestRAM(request.guestRAM) }
        return base
    }

    /// The pmem's guest address: explicit and checked, or the next 1 GiB boundary after the
    /// hint pages (the device-memory base without them). Aligned to at least 2 MiB and to the
    /// backend's own alignment, never overlapping the hint pages.
    static func pmemBase(_ request: QemuRequest, after hints: (start: UInt64, end: UInt64)?, deviceBase: UInt64,
                         align: UInt64?) throws(QemuRecipeError) -> UInt64 {
        let alignment = max(minimumPmemAlignment, align ?? 0)
        guard let base = request.pmemBase else {
            let from = hints?.end ?? deviceBase
            guard let rounded = QemuAddressSpace.roundUp(from, max(QemuAddressSpace.gib, alignment)) else {
                throw .addressOverflow(from)
            }
            return rounded
        }
        guard base % alignment == 0 else { throw .unaligned(.pmemBase, address: base, alignment: alignment) }
        guard base >= deviceBase else { throw .outsideDeviceMemory(.pmemBase, address: base, deviceBase: deviceBase) }
        return base
    }

    /// `-m maxmem=`: QEMU wants the devices' total size within `maxmem - ram`, and every
    /// device inside the area of `maxmem - ram + slots` GiB from the device-memory base. Rounded
    /// up to 1 GiB. Also refuses overlapping devices.
    static func maxmem(_ request: QemuRequest, deviceBase: UInt64, slots: Int,
                       devices: [(address: UInt64, size: UInt64)]) throws(QemuRecipeError) -> UInt64 {
        var total: UInt64 = 0
        var end = deviceBase
        for (i, d) in devices.enumerated() {
            let (e, overflow) = d.address.addingReportingOverflow(d.size)
            if overflow { throw .addressOverflow(d.address) }
            for other in devices[..<i] where d.address < other.address + other.size && other.address < e {
                throw .overlap(hex(d.address), hex(other.address))
            }
            total += d.size
            end = max(end, e)
        }
        let reach = end - deviceBase
        let slack = UInt64(slots) * QemuAddressSpace.gib
        let needed = max(total, reach > slack ? reach - slack : 0)
        guard let room = QemuAddressSpace.roundUp(needed, QemuAddressSpace.gib) else { throw .addressOverflow(end) }
        let (m, overflow) = request.guestRAM.addingReportingOverflow(room)
        if overflow { throw .addressOverflow(end) }
        return m
    }

    /// The guest NFIT's platform capabilities: the host's (its effective bits) when the NFIT
    /// was read; when not, the ones the region's persistence domain implies (the kernel sets
    /// `cpu_cache` from bit 0 and `memory_controller` from bit 1).
    static func guestCapabilities(_ host: HostPlatformCapabilities, domain: PersistenceDomain?)
        -> ([NFITLayout.PlatformCapability]?, QemuCapabilitiesSource) {
        switch host {
        case .read(let caps?):
            return (NFITLayout.PlatformCapability.named(in: caps.effectiveCapabilities), .hostNFIT)
        case .read(nil):
            return (nil, .hostNFITHasNone)
        case .unread:
            switch domain {
            case .cpuCache?: return ([.cpuCacheFlushOnPowerLoss, .memoryControllerFlushOnPowerLoss], .persistenceDomain)
            case .memoryController?: return ([.memoryControllerFlushOnPowerLoss], .persistenceDomain)
            default: return (nil, .persistenceDomain)
            }
        }
    }

    static func common(_ request: QemuRequest, deviceBase: UInt64) -> [String] {
        ["-machine \(request.machine.rawValue) with -m \(sizeText(request.guestRAM)) and default max-ram-below-4g: the addresses assume QEMU's device memory at \(hex(deviceBase)); with other RAM, run flushctl qemu again with --guest-ram."]
    }

    /// `qemu.args`: `arguments`, one per line.
    static func argumentsFile(_ arguments: [String]) -> QemuRecipeFile {
        QemuRecipeFile(key: "args", name: argumentsFile, bytes: Array(arguments.map { $0 + "\n" }.joined().utf8))
    }

    /// `memory-backend-file,id=…,mem-path=…[,offset=…],size=…,share=on[,align=…]`.
    static func backendObject(id: String, path: String, offset: UInt64?, size: UInt64, align: UInt64?,
                              pmem: Bool = false) throws(QemuRecipeError) -> String {
        var s = "memory-backend-file,id=\(id),mem-path=\(try optionValue(path))"
        if let offset { s += ",offset=\(hex(offset))" }
        s += ",size=\(size == FlushHintPage.pageSize ? "4096" : hex(size)),share=on"
        if let align { s += ",align=\(hex(align))" }
        if pmem { s += ",pmem=on" }
        return s
    }

    /// A path as a QEMU option value: commas doubled (QEMU's escape); a newline cannot be
    /// carried in a one-argument-per-line file.
    /// `path` as the value of `-acpitable file=`, which QEMU splits at `:` (to load several
    /// files into one table), so a path with one cannot be given at all.
    static func tableFile(_ path: String) throws(QemuRecipeError) -> String {
        guard !path.contains(":") else { throw .colonInTablePath(path) }
        return try optionValue(path)
    }

    static func optionValue(_ path: String) throws(QemuRecipeError) -> String {
        guard !path.contains("\n") else { throw .unusablePath(path) }
        return path.split(separator: ",", omittingEmptySubsequences: false).joined(separator: ",,")
    }

    /// A size as QEMU's `-m` reads it: digits with an optional K, M, G or T (binary; a bare
    /// number is MiB), rounded up to 8 KiB as QEMU rounds RAM. `nil` when it does not parse, is
    /// 0 or does not fit 64 bits.
    public static func size(parsing text: String) -> UInt64? {
        var digits = Substring(text)
        var shift: UInt64 = 20
        if let last = digits.last, !last.isNumber {
            switch last {
            case "K", "k": shift = 10
            case "M", "m": shift = 20
            case "G", "g": shift = 30
            case "T", "t": shift = 40
            default: return nil
            }
            digits = digits.dropLast()
        }
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }), let n = UInt64(digits), n > 0 else { return nil }
        let (bytes, overflow) = n.multipliedReportingOverflow(by: 1 << shift)
        guard !overflow, bytes <= UInt64.max - 8191 else { return nil }
        return (bytes + 8191) & ~8191
    }

    /// A size as QEMU's `-m` reads it: with a binary suffix (a bare number would be MiB).
    public static func sizeText(_ bytes: UInt64) -> String {
        for (shift, suffix) in [(40, "T"), (30, "G"), (20, "M"), (10, "K")] where bytes % (1 << UInt64(shift)) == 0 && bytes != 0 {
            return "\(bytes >> UInt64(shift))\(suffix)"
        }
        return "\(bytes)B"
    }
}

/// Why no QEMU recipe: one line naming what was wrong.
/// An address a ``QemuRequest`` may fix.
public enum QemuAddress: Sendable, Equatable {
    /// Where the hint pages start (``QemuRequest/hintBase``).
    case hintBase
    /// Where the pmem starts (``QemuRequest/pmemBase``).
    case pmemBase
}

/// What a ``QemuRecipeError`` calls the request's fields: the library's own words, or a
/// command's options for them.
public struct QemuRequestNames: Sendable {
    /// ``QemuRequest/hintBase``.
    public var hintBase: String
    /// ``QemuRequest/pmemBase``.
    public var pmemBase: String
    /// ``QemuRequest/guestRAM``.
    public var guestRAM: String
    /// ``QemuRequest/directory``.
    public var directory: String

    /// Names for the fields.
    public init(hintBase: String, pmemBase: String, guestRAM: String, directory: String) {
        self.hintBase = hintBase; self.pmemBase = pmemBase; self.guestRAM = guestRAM; self.directory = directory
    }

    /// The library's words.
    public static let fields = QemuRequestNames(hintBase: "the hint pages' base", pmemBase: "the pmem's base",
                                                guestRAM: "a guest RAM of", directory: "output")

    /// The name of `address`.
    public func name(of address: QemuAddress) -> String {
        switch address {
        case .hintBase: return hintBase
        case .pmemBase: return pmemBase
        }
    }
}

public enum QemuRecipeError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The plan is deep_flush, which stock QEMU cannot carry out.
    case deepFlushUnsupported(reason: String, deepFlushPath: String)
    /// The plan is deep_flush because kernel lockdown refuses /dev/mem and there is no hint device.
    case lockedDown(region: String)
    /// An explicit address is not aligned.
    case unaligned(QemuAddress, address: UInt64, alignment: UInt64)
    /// An explicit address lies below QEMU's device-memory area.
    case outsideDeviceMemory(QemuAddress, address: UInt64, deviceBase: UInt64)
    /// Two devices overlap.
    case overlap(String, String)
    /// An address or size runs past 2^64.
    case addressOverflow(UInt64)
    /// The guest RAM is 0 or too big.
    case badGuestRAM(UInt64)
    /// The backend's size is 0 or not a multiple of the page size.
    case badBackendSize(path: String, size: UInt64)
    /// A DIMM of the region has no known NFIT handle.
    case unknownHandle(String)
    /// A passthrough plan without a guest layout (made without a guest base).
    case missingGuestLayout
    /// The guest NFIT cannot be built (the layout builder's message).
    case guestNFIT(String)
    /// The guest SSDT cannot be built.
    case guestSSDT(String)
    /// A path QEMU's option syntax or the arguments file cannot carry.
    case unusablePath(String)
    /// The backend has no path that fails closed (``VMMPath/unguarded(why:)``): why.
    case noFailClosedPath(String)
    /// A table path with a `:`, where `-acpitable file=` splits its value.
    case colonInTablePath(String)
    /// The libvirt form: a value with a character XML 1.0 cannot carry (a control character).
    case notXML(String)
    /// The libvirt form: a path a host setting names contains `--`, which the XML comment
    /// carrying it cannot.
    case doubleHyphen(String)
    /// The libvirt form: libvirt takes virtio-pmem only in multiples of 2 MiB.
    case virtioPmemSize(UInt64)

    /// The error as one line, in the library's words.
    public var description: String { description(naming: .fields) }

    /// The error as one line, the request's fields called by `names`.
    public func description(naming names: QemuRequestNames) -> String {
        switch self {
        case .deepFlushUnsupported(let reason, let path):
            let why = reason.hasSuffix(".") ? String(reason.dropLast()) : reason
            return "the plan is deep_flush (\(why)), and stock QEMU cannot turn a guest's flush-hint write into a write to \(path): use a VMM that traps the hint page and writes 1 to \(path) on each write, or fix the failing check so that the plan becomes passthrough"
        case .lockedDown(let region):
            return "the kernel is locked down, which refuses /dev/mem, and \(region) has no flushhint node, so its hint pages cannot be passed through (and stock QEMU cannot carry out the deep_flush plan); two ways work: load the flushhint module, signed with a key the kernel trusts (docs/flushhint.md), so QEMU maps the pages from /dev/flushhint/\(region); or give the guest a fully written file on an fsdax namespace as a virtio-pmem backend (flushctl qemu FILE), whose flushes QEMU turns into fsync (device-dax cannot be a virtio-pmem backend: fsync of a dax device fails)"
        case .unaligned(let what, let address, let alignment):
            return "\(names.name(of: what)) \(hex(address)) is not aligned to \(hex(alignment)) bytes"
        case .outsideDeviceMemory(let what, let address, let deviceBase):
            return "\(names.name(of: what)) \(hex(address)) lies below QEMU's device-memory area, which starts at \(hex(deviceBase)) for this machine and RAM (pc-dimm addr= must lie inside it)"
        case .overlap(let a, let b):
            return "the pmem at \(a) overlaps the hint page at \(b); choose \(names.pmemBase) past the hint pages"
        case .addressOverflow(let address):
            return "address \(hex(address)) leaves no room for the devices below 2^64"
        case .badGuestRAM(let ram):
            return "\(names.guestRAM) \(ram) bytes is not a usable guest RAM size"
        case .badBackendSize(let path, let size):
            return "\(path) is \(size) bytes, not a non-zero multiple of \(FlushHintPage.pageSize): QEMU cannot map it as guest memory"
        case .unknownHandle(let dimm):
            return "the NFIT handle of \(dimm) is unknown, so the guest NFIT cannot name its DIMMs"
        case .missingGuestLayout:
            return "the passthrough plan has no guest layout (it was made without a guest base)"
        case .guestNFIT(let message):
            return "the guest NFIT cannot be built: \(message)"
        case .guestSSDT(let message):
            return "the guest SSDT cannot be built: \(message)"
        case .unusablePath(let path):
            return "\(path.debugDescription) contains a newline, which the one-argument-per-line qemu.args cannot carry"
        case .noFailClosedPath(let why):
            return "no path for QEMU that fails when the backend is gone: \(why)"
        case .colonInTablePath(let path):
            return "\(path.debugDescription) contains a ':', where QEMU's -acpitable file= splits its value into several files: choose an \(names.directory) directory without one"
        case .notXML(let value):
            return "\(value.debugDescription) contains a control character, which XML cannot carry"
        case .doubleHyphen(let path):
            return "\(path.debugDescription) contains \"--\", which the XML comment carrying the host settings cannot: rename it"
        case .virtioPmemSize(let size):
            return "the backend is \(size) bytes, and libvirt takes a virtio-pmem device only in whole multiples of 2 MiB: resize it"
        }
    }
}

private func hex<T: BinaryInteger>(_ value: T) -> String { "0x" + String(value, radix: 16) }
