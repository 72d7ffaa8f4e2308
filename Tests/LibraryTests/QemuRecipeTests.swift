import Testing
import NFIT
@testable import FlushPlanning
@testable import HostFiles
@testable import HostIO
@testable import NVDIMMTopology

// Plans are made by the pure planner from hand-built facts (as in PlanningPlanTests), then
// turned into QEMU recipes: one test per method, the address rule, the checks on explicit
// addresses.

/// The emulated host's 2-way interleave: each DIMM with two hints in its own page.
private func interleave(hints: Bool = true, deepFlush: Int? = 1, domain: PersistenceDomain = "memory_controller") -> RegionFacts {
    RegionFacts(name: "region0", enabled: true, persistenceDomain: domain, deepFlush: deepFlush, dimms: [
        DIMM(name: "nmem0", handle: 0x0001, hints: hints ? [0x37fff000, 0x37fff040] : []),
        DIMM(name: "nmem1", handle: 0x0101, hints: hints ? [0x37ffe000, 0x37ffe040] : []),
    ])
}

private func provenChecks(_ region: RegionFacts) -> [Check] {
    let iomem = """
    37ffe000-37ffffff : Reserved
      37ffe000-37ffefff : ndbus0
      37fff000-37ffffff : ndbus0
    """
    let facts = HostFacts(privilege: Privilege(effectiveUID: 0, effectiveCapabilities: 1 << 17),
                          config: Result { () throws(HostError) in try KernelConfig.parse("CONFIG_STRICT_DEVMEM=y\n", source: "/boot/config-t") },
                          commandLine: .success(.parse("iomem=relaxed")), release: "6.1.0",
                          iomem: Result { () throws(HostError) in try IOMemMap.parse(iomem) })
    let pages = region.hintPages
    var proofs: [UInt64: MapProof] = [:]
    for p in pages { proofs[p.page] = .mapped }
    return DevMemChecks.evaluate(facts: facts, region: region.name.dev, pages: pages, proofs: proofs)
}

private let devdax = Backend.deviceDAX(path: "/dev/dax0.0", region: "region0")
private let daxSize: UInt64 = 0x3e0_0000
/// udev's link for /dev/dax0.0, as BackendProbe.vmmPath finds it.
private let daxLink = VMMPath.failsClosed(path: "/dev/flushctl/dax0.0/device", device: "252:0")
private let hostCaps = HostPlatformCapabilities.read(NFITPlatformCapabilities(highestCapability: 1, capabilities: [.memoryControllerFlushOnPowerLoss, .memoryMirroring]))

/// A passthrough plan and its recipe for `request`.
private func passthrough(_ request: QemuRequest, geometry: BackendGeometry = BackendGeometry(size: daxSize, align: 0x1000)) throws -> (Plan, QemuRecipe) {
    let region = interleave()
    let plan = try Planner.plan(backend: devdax, region: region, checks: provenChecks(region),
                                guestBase: try QemuRecipe.hintBase(for: request))
    return (plan, try QemuRecipe.make(plan: plan, capabilities: hostCaps, backend: geometry, vmmPath: daxLink, request: request))
}

@Suite("QEMU recipe")
struct QemuRecipeTests {
    // MARK: QEMU's address rule

    @Test(arguments: [
        // pc: all RAM below 4 GiB up to 3.5 GiB, else 3 GiB below and the rest from 4 GiB.
        (QemuMachine.pc, UInt64(1) << 30, UInt64(0x1_0000_0000)),
        (.pc, 0xDFF0_0000, 0x1_0000_0000),
        (.pc, 0xE000_0000, 0x1_4000_0000),  // 3.5 GiB: 3 below, 0.5 above -> 4.5 -> 5 GiB
        (.pc, 8 << 30, 0x2_4000_0000),      // 3 below, 5 above -> 9 GiB
        // q35: all RAM below 4 GiB up to 2.75 GiB, else 2 GiB below.
        (.q35, 0xAFF0_0000, 0x1_0000_0000),
        (.q35, 0xB000_0000, 0x1_4000_0000),  // 2 below, 0.75 above -> 4.75 -> 5 GiB
        (.q35, 8 << 30, 0x2_8000_0000),      // 2 below, 6 above -> 10 GiB
    ])
    func deviceMemoryStartsAfterTheRAMAbove4GiB(_ machine: QemuMachine, _ ram: UInt64, _ base: UInt64) {
        #expect(QemuAddressSpace.deviceMemoryBase(machine: machine, ram: ram) == base)
    }

    @Test func belowFourGiBSplitDiffersBetweenMachines() {
        let ram: UInt64 = 3 << 30
        #expect(QemuAddressSpace.ramBelow4G(machine: .pc, ram: ram) == ram)
        #expect(QemuAddressSpace.ramBelow4G(machine: .q35, ram: ram) == 2 << 30)
    }

    // MARK: passthrough

    @Test func passthroughSmallGuestIsTheIssueRecipe() throws {
        let (plan, recipe) = try passthrough(QemuRequest(machine: .pc, guestRAM: 1 << 30, directory: "/run/vm1"))
        #expect(plan.method == .passthrough)
        #expect(recipe.deviceMemoryBase == 0x1_0000_0000)
        #expect(recipe.hintPages == [QemuHintPage(hostAddress: 0x37ffe000, guestAddress: 0x1_0000_0000),
                                     QemuHintPage(hostAddress: 0x37fff000, guestAddress: 0x1_0000_1000)])
        #expect(recipe.pmem.guestAddress == 0x1_4000_0000)
        #expect(recipe.pmem.device == .pcDIMM)
        #expect(recipe.arguments == [
            "-object", "memory-backend-file,id=fh0,mem-path=/dev/mem,offset=0x37ffe000,size=4096,share=on",
            "-device", "pc-dimm,id=h0,memdev=fh0,addr=0x100000000",
            "-object", "memory-backend-file,id=fh1,mem-path=/dev/mem,offset=0x37fff000,size=4096,share=on",
            "-device", "pc-dimm,id=h1,memdev=fh1,addr=0x100001000",
            "-object", "memory-backend-file,id=pm0,mem-path=/dev/flushctl/dax0.0/device,size=0x3e00000,share=on,align=0x1000,pmem=on",
            "-device", "pc-dimm,id=p0,memdev=pm0,addr=0x140000000",
            "-acpitable", "file=/run/vm1/nfit.aml",
            "-acpitable", "file=/run/vm1/ssdt.aml",
        ])
        #expect(recipe.slots == 3)
        // 0x3e00000 + 2 pages fit in 1 GiB; the reach (1 GiB + 62 MiB) is within the 3 slot GiB.
        #expect(recipe.maxmem == 2 << 30)
        #expect(recipe.memoryOption == "-m 1G,slots=3,maxmem=2G")
        #expect(recipe.minimumQEMU == "8.1")
        #expect(recipe.requirements.contains { $0.hasPrefix("Linux guest: acpi_no_memhotplug is not needed") })
    }

    /// A guest adds a pmem pc-dimm as a memory block when its base and size are multiples of
    /// 128 MiB (seen under KVM, GuestPassthroughTests): only then must it boot with acpi_no_memhotplug.
    @Test(arguments: [
        (UInt64(0x1_4000_0000), daxSize, false),          // 62 MiB: never a whole block
        (0x1_4000_0000, UInt64(128) << 20, true),         // 128 MiB at 5 GiB: one block
        (0x1_4000_0000, UInt64(1) << 30, true),           // 1 GiB: eight (or one 1 GiB) blocks
        (0x1_4200_0000, UInt64(128) << 20, false),        // 2 MiB aligned base: no block starts there
    ])
    func memoryHotplugIsRefusedWhereTheGuestWouldAddThePmem(_ base: UInt64, _ size: UInt64, _ required: Bool) throws {
        let (_, recipe) = try passthrough(QemuRequest(machine: .pc, guestRAM: 1 << 30, pmemBase: base, directory: "/d"),
                                          geometry: BackendGeometry(size: size, align: 0x1000))
        let text = try #require(recipe.requirements.first { $0.hasPrefix("Linux guest:") })
        #expect(text == QemuRecipe.memoryHotplugRequirement(pmemBase: base, size: size))
        #expect(text.hasPrefix("Linux guest: boot it with acpi_no_memhotplug.") == required, "\(text)")
        #expect(recipe.requirements.filter { $0.contains("acpi_no_memhotplug") }.count == 1)
    }

    @Test func passthroughGuestNFITMirrorsTheHostWithItsCapabilities() throws {
        let (_, recipe) = try passthrough(QemuRequest(machine: .pc, guestRAM: 1 << 30, directory: "/d"))
        let layout = try #require(recipe.guestNFIT)
        #expect(recipe.capabilitiesSource == .hostNFIT)
        // Highest capability 1: the mirroring bit is not effective on the host, so not copied.
        #expect(layout.platformCapabilities == [.memoryControllerFlushOnPowerLoss])
        let table = try layout.makeTable()
        #expect(table.spaRanges.map(\.base) == [0x1_4000_0000])
        #expect(table.spaRanges.map(\.length) == [daxSize])
        #expect(table.memoryDeviceMaps.map(\.interleaveWays) == [2, 2])
        // nmem0's hints are in the host page 0x37fff000, mapped second: guest page 0x100001000.
        #expect(table.flushHintAddresses == [0x0001: [0x1_0000_1000, 0x1_0000_1040], 0x0101: [0x1_0000_0000, 0x1_0000_0040]])
        #expect(table.platformCapabilities?.capabilities == [.memoryControllerFlushOnPowerLoss])
        #expect(recipe.files.map(\.key) == ["nfit", "ssdt", "args"])
        #expect(recipe.files[0].bytes == (try table.encode()))
        #expect(recipe.files[1].bytes == (try ACPISSDT.nvdimmRoot(handles: [0x0001, 0x0101]).encode()))
        #expect(recipe.guestDIMMDevices.map(\.path) == ["\\_SB.NVDR.NV00", "\\_SB.NVDR.NV01"])
        #expect(recipe.guestDIMMDevices.map(\.handle) == [0x0001, 0x0101])
    }

    @Test func passthroughAbove4GiBFollowsTheRAM() throws {
        let (_, recipe) = try passthrough(QemuRequest(machine: .q35, guestRAM: 8 << 30, directory: "/d"))
        #expect(recipe.hintPages.map(\.guestAddress) == [0x2_8000_0000, 0x2_8000_1000])
        #expect(recipe.pmem.guestAddress == 0x2_C000_0000)
        #expect(recipe.memoryOption == "-m 8G,slots=3,maxmem=9G")
    }

    @Test func explicitAddressesAreUsedAndChecked() throws {
        let ok = try passthrough(QemuRequest(machine: .pc, guestRAM: 1 << 30, hintBase: 0x1_8000_0000,
                                             pmemBase: 0x1_0020_0000, directory: "/d")).1
        #expect(ok.hintPages.map(\.guestAddress) == [0x1_8000_0000, 0x1_8000_1000])
        #expect(ok.pmem.guestAddress == 0x1_0020_0000)
        // Far from the base: maxmem grows so the area (maxmem - ram + 3 GiB) reaches the pages.
        #expect(ok.maxmem == (1 << 30) + (1 << 30))

        func refused(_ request: QemuRequest, geometry: BackendGeometry = BackendGeometry(size: daxSize, align: 0x1000)) -> QemuRecipeError? {
            do { _ = try passthrough(request, geometry: geometry); return nil } catch let e as QemuRecipeError { return e } catch { return nil }
        }
        // A hint base inside the RAM or the PCI hole, not in device memory.
        #expect(refused(QemuRequest(machine: .pc, guestRAM: 1 << 30, hintBase: 0xfee0_0000, directory: "/d"))
                == .outsideDeviceMemory(.hintBase, address: 0xfee0_0000, deviceBase: 0x1_0000_0000))
        #expect(refused(QemuRequest(machine: .pc, guestRAM: 1 << 30, hintBase: 0x1_0000_0800, directory: "/d"))
                == .unaligned(.hintBase, address: 0x1_0000_0800, alignment: 4096))
        // pmem: 2 MiB at least, the backend's own alignment, no overlap with the hint pages.
        #expect(refused(QemuRequest(machine: .pc, guestRAM: 1 << 30, pmemBase: 0x1_4000_1000, directory: "/d"))
                == .unaligned(.pmemBase, address: 0x1_4000_1000, alignment: 2 << 20))
        #expect(refused(QemuRequest(machine: .pc, guestRAM: 1 << 30, pmemBase: 0x1_4020_0000, directory: "/d"),
                        geometry: BackendGeometry(size: 1 << 30, align: 1 << 30))
                == .unaligned(.pmemBase, address: 0x1_4020_0000, alignment: 1 << 30))
        #expect(refused(QemuRequest(machine: .pc, guestRAM: 1 << 30, pmemBase: 0x1_0000_0000, directory: "/d"))
                == .overlap("0x100000000", "0x100000000"))
        #expect(refused(QemuRequest(machine: .pc, guestRAM: 1 << 30, pmemBase: 0xc000_0000, directory: "/d"))
                == .outsideDeviceMemory(.pmemBase, address: 0xc000_0000, deviceBase: 0x1_0000_0000))
        // A size the two DIMMs cannot share.
        if case .guestNFIT? = refused(QemuRequest(machine: .pc, guestRAM: 1 << 30, directory: "/d"), geometry: BackendGeometry(size: 0x3000)) {} else {
            Issue.record("an odd page count for 2 DIMMs should be refused by the NFIT builder")
        }
        #expect(refused(QemuRequest(machine: .pc, guestRAM: 1 << 30, directory: "/d"), geometry: BackendGeometry(size: 0x1800))
                == .badBackendSize(path: "/dev/dax0.0", size: 0x1800))
    }

    @Test func pathsAreEscapedForQemu() throws {
        let (_, recipe) = try passthrough(QemuRequest(machine: .pc, guestRAM: 1 << 30, directory: "/tmp/a,b"))
        #expect(recipe.arguments.suffix(3) == ["file=/tmp/a,,b/nfit.aml", "-acpitable", "file=/tmp/a,,b/ssdt.aml"])
        #expect(throws: QemuRecipeError.unusablePath("/tmp/a\nb/nfit.aml")) {
            try passthrough(QemuRequest(machine: .pc, guestRAM: 1 << 30, directory: "/tmp/a\nb"))
        }
    }

    /// QEMU splits `-acpitable file=` at ':' (several files into one table): such a directory
    /// is refused, naming the path, rather than written into arguments QEMU misreads.
    @Test func aColonInTheTablesDirectoryIsRefused() throws {
        let error = #expect(throws: QemuRecipeError.self) {
            try passthrough(QemuRequest(machine: .pc, guestRAM: 1 << 30, directory: "/tmp/vm:1"))
        }
        #expect(error == .colonInTablePath("/tmp/vm:1/nfit.aml"))
        let text = error.map { "\($0)" } ?? ""
        #expect(text.contains("\"/tmp/vm:1/nfit.aml\"") && text.contains("-acpitable") && !text.contains("\n"), "\(text)")
    }

    // MARK: none, fsync, deep_flush

    @Test func noneIsThePmemWithAnNFITWithoutHints() throws {
        let region = interleave(hints: false, deepFlush: 0, domain: "cpu_cache")
        let request = QemuRequest(machine: .pc, guestRAM: 2 << 30, directory: "/d")
        let plan = try Planner.plan(backend: devdax, region: region, checks: [], guestBase: try QemuRecipe.hintBase(for: request))
        #expect(plan.method == .none)
        let recipe = try QemuRecipe.make(plan: plan, capabilities: .unread, backend: BackendGeometry(size: 1 << 30, align: 2 << 20), vmmPath: daxLink, request: request)
        #expect(recipe.hintPages.isEmpty)
        #expect(recipe.pmem.deviceNumber == "252:0")
        #expect(recipe.arguments == [
            "-object", "memory-backend-file,id=pm0,mem-path=/dev/flushctl/dax0.0/device,size=0x40000000,share=on,align=0x200000,pmem=on",
            "-device", "pc-dimm,id=p0,memdev=pm0,addr=0x100000000",
            "-acpitable", "file=/d/nfit.aml",
            "-acpitable", "file=/d/ssdt.aml",
        ])
        #expect(recipe.slots == 1)
        #expect(recipe.memoryOption == "-m 2G,slots=1,maxmem=3G")
        let table = try #require(recipe.guestNFIT).makeTable()
        #expect(table.flushHintStructures.isEmpty)
        #expect(table.dimmHandles.map(\.rawValue) == [0x0001, 0x0101])
        // The NFIT was not read here: cpu_cache implies both flush-on-power-loss bits.
        #expect(recipe.capabilitiesSource == .persistenceDomain)
        #expect(table.platformCapabilities?.capabilities == [.cpuCacheFlushOnPowerLoss, .memoryControllerFlushOnPowerLoss])
    }

    @Test func hostWithoutCapabilitiesGivesAGuestWithout() {
        #expect(QemuRecipe.guestCapabilities(.read(nil), domain: "memory_controller").0 == nil)
        #expect(QemuRecipe.guestCapabilities(.unread, domain: "unknown").0 == nil)
        #expect(QemuRecipe.guestCapabilities(.unread, domain: "memory_controller").0 == [.memoryControllerFlushOnPowerLoss])
    }

    @Test func fsyncIsVirtioPmemOnTheFile() throws {
        let request = QemuRequest(machine: .q35, guestRAM: 4 << 30, directory: "/d")
        let plan = try Planner.plan(backend: .otherFile(path: "/var/lib/vm/pmem.img"), region: nil, checks: [])
        #expect(plan.method == .fsync)
        let recipe = try QemuRecipe.make(plan: plan, capabilities: .unread, backend: BackendGeometry(size: 256 << 20), vmmPath: .failsClosed(path: plan.backend, device: nil), request: request)
        // q35 with 4 GiB: 2 below, 2 above -> device memory at 6 GiB.
        #expect(recipe.arguments == [
            "-object", "memory-backend-file,id=pm0,mem-path=/var/lib/vm/pmem.img,size=0x10000000,share=on",
            "-device", "virtio-pmem-pci,memdev=pm0,id=vp0,memaddr=0x180000000",
        ])
        #expect(recipe.guestNFIT == nil && recipe.guestDIMMDevices.isEmpty)
        #expect(recipe.files.map(\.key) == ["args"])
        #expect(recipe.files[0].bytes == Array(recipe.arguments.map { $0 + "\n" }.joined().utf8))
        #expect(!recipe.arguments.contains { $0.hasPrefix("nvdimm") })
        #expect(recipe.memoryOption == "-m 4G,slots=1,maxmem=5G")
        #expect(recipe.minimumQEMU == "4.1")
        // An explicit memaddr must be 2 MiB aligned.
        let misaligned = QemuRequest(machine: .q35, guestRAM: 4 << 30, pmemBase: 0x1_8010_0000, directory: "/d")
        #expect(throws: QemuRecipeError.unaligned(.pmemBase, address: 0x1_8010_0000, alignment: 2 << 20)) {
            try QemuRecipe.make(plan: plan, capabilities: .unread, backend: BackendGeometry(size: 256 << 20), vmmPath: .failsClosed(path: plan.backend, device: nil), request: misaligned)
        }
    }

    /// Issue 20: through the hint device, QEMU maps each page from the node at its physical
    /// address, needing access to the node rather than root and iomem=relaxed; under lockdown
    /// with no device, the refusal names the two ways that work.
    @Test func theHintDeviceReplacesDevMem() throws {
        let region = interleave()
        let request = QemuRequest(machine: .pc, guestRAM: 1 << 30, directory: "/run/vm1")
        var plan = try Planner.plan(backend: devdax, region: region, checks: provenChecks(region),
                                    guestBase: try QemuRecipe.hintBase(for: request))
        plan.hintSource = "/dev/flushhint/region0"
        let recipe = try QemuRecipe.make(plan: plan, capabilities: hostCaps, backend: BackendGeometry(size: daxSize, align: 0x1000),
                                         vmmPath: daxLink, request: request)
        #expect(recipe.arguments[1] == "memory-backend-file,id=fh0,mem-path=/dev/flushhint/region0,offset=0x37ffe000,size=4096,share=on")
        #expect(recipe.requirements.contains { $0.hasPrefix("QEMU's user can open /dev/flushhint/region0 read-write") })
        #expect(!recipe.requirements.contains { $0.contains("keeps iomem=relaxed") || $0.hasPrefix("QEMU runs as root") })

        let lockdown = Check(id: .lockdown, verdict: .fail, finding: "locked down")
        let deep = try Planner.plan(backend: devdax, region: region, checks: [lockdown])
        #expect(deep.method == .deepFlush)
        #expect(throws: QemuRecipeError.lockedDown(region: "region0")) {
            try QemuRecipe.make(plan: deep, capabilities: hostCaps, backend: BackendGeometry(size: daxSize), vmmPath: daxLink,
                                request: request, checks: [lockdown])
        }
        let text = QemuRecipeError.lockedDown(region: "region0").description
        #expect(text.contains("load the flushhint module") && text.contains("virtio-pmem"), "\(text)")
    }

    /// Issue 19 item 5: a backend with no path that goes with its device gets no recipe, whatever
    /// the plan: QEMU would create the missing path as a RAM file and carry on.
    @Test func aBackendWithoutAFailClosedPathGetsNoRecipe() throws {
        let region = interleave(hints: false, deepFlush: 0, domain: "cpu_cache")
        let request = QemuRequest(machine: .pc, guestRAM: 2 << 30, directory: "/d")
        let none = try Planner.plan(backend: devdax, region: region, checks: [], guestBase: try QemuRecipe.hintBase(for: request))
        let fsync = try Planner.plan(backend: .otherFile(path: "/mnt/pmem.img"), region: nil, checks: [])
        for plan in [none, fsync] {
            #expect(throws: QemuRecipeError.noFailClosedPath("no udev link")) {
                try QemuRecipe.make(plan: plan, capabilities: .unread, backend: BackendGeometry(size: 1 << 30, align: 2 << 20),
                                    vmmPath: .unguarded(why: "no udev link"), request: request)
            }
        }
    }

    @Test func deepFlushIsRefusedWithWhatWouldWork() throws {
        let region = interleave()
        // No checks were run: passthrough is refused, deep_flush reads 1.
        let plan = try Planner.plan(backend: devdax, region: region, checks: [], guestBase: 0x1_0000_0000)
        #expect(plan.method == .deepFlush)
        let request = QemuRequest(machine: .pc, guestRAM: 1 << 30, directory: "/d")
        #expect(throws: QemuRecipeError.self) {
            try QemuRecipe.make(plan: plan, capabilities: hostCaps, backend: BackendGeometry(size: daxSize), vmmPath: .failsClosed(path: plan.backend, device: nil), request: request)
        }
        do {
            _ = try QemuRecipe.make(plan: plan, capabilities: hostCaps, backend: BackendGeometry(size: daxSize), vmmPath: .failsClosed(path: plan.backend, device: nil), request: request)
        } catch {
            let text = error.description
            #expect(text.contains("/sys/bus/nd/devices/region0/deep_flush"))
            #expect(text.contains("traps the hint page"))
            #expect(text.contains("privilege check was not run"))
            #expect(!text.contains("\n"))
        }
    }

    @Test func sizesAreWrittenAsQemuReadsThem() {
        #expect(QemuRecipe.sizeText(1 << 30) == "1G")
        #expect(QemuRecipe.sizeText(1536 << 20) == "1536M")
        #expect(QemuRecipe.sizeText(8 << 10) == "8K")
    }
}
