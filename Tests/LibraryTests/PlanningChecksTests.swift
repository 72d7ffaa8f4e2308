import Testing
@testable import FlushPlanning
@testable import HostFiles
@testable import NVDIMMTopology

private func config(_ text: String) -> Result<KernelConfig, HostError> {
    Result { () throws(HostError) in try KernelConfig.parse(text, source: "/boot/config-test") }
}
private let bothStrict = config("CONFIG_STRICT_DEVMEM=y\nCONFIG_IO_STRICT_DEVMEM=y\n")
private let strictOnly = config("CONFIG_STRICT_DEVMEM=y\n# CONFIG_IO_STRICT_DEVMEM is not set\n")
private let noStrict = config("# CONFIG_STRICT_DEVMEM is not set\n")
private let unreadable: Result<KernelConfig, HostError> = .failure(HostError(path: "/proc/config.gz", message: "is gzip-compressed"))
private let relaxed: Result<KernelCommandLine, HostError> = .success(.parse("root=/dev/vda iomem=relaxed"))
private let plain: Result<KernelCommandLine, HostError> = .success(.parse("root=/dev/vda quiet"))
private let noCmdline: Result<KernelCommandLine, HostError> = .failure(HostError(path: "/proc/cmdline", message: "cannot open"))

@Suite("Planning: checks")
struct PlanningChecksTests {
    @Test func privilegeVerdicts() {
        #expect(DevMemChecks.privilege(Privilege(effectiveUID: 0, effectiveCapabilities: 0x1ff_ffff_ffff)).verdict == .ok)
        #expect(DevMemChecks.privilege(Privilege(effectiveUID: 1000, effectiveCapabilities: 1 << 17)).verdict == .ok)
        let containerRoot = DevMemChecks.privilege(Privilege(effectiveUID: 0, effectiveCapabilities: 0x1ff_fffd_ffff))
        #expect(containerRoot.verdict == .fail)
        #expect(containerRoot.finding.contains("CAP_SYS_RAWIO"))
        #expect(containerRoot.fix != nil)
        #expect(DevMemChecks.privilege(Privilege(effectiveUID: 1000, effectiveCapabilities: 0)).verdict == .fail)
        #expect(DevMemChecks.privilege(Privilege(effectiveUID: 1000, effectiveCapabilities: nil)).verdict == .unknown)
        #expect(DevMemChecks.privilege(Privilege(effectiveUID: 0, effectiveCapabilities: nil)).verdict == .ok)
    }

    @Test func strictDevMemWithoutRelaxedFails() {
        let check = DevMemChecks.restrictions(config: bothStrict, commandLine: plain)
        #expect(check.id == .devmemRestrictions)
        #expect(check.verdict == .fail)
        #expect(check.finding.contains("EPERM"))
        #expect(check.fix == "Boot with iomem=relaxed.")
    }

    @Test func restrictionsMatrix() {
        #expect(DevMemChecks.restrictions(config: bothStrict, commandLine: relaxed).verdict == .ok)
        #expect(DevMemChecks.restrictions(config: strictOnly, commandLine: plain).verdict == .ok)
        #expect(DevMemChecks.restrictions(config: noStrict, commandLine: plain).verdict == .ok)
        // Unknown configuration: unknown, unless iomem=relaxed settles it.
        #expect(DevMemChecks.restrictions(config: unreadable, commandLine: plain).verdict == .unknown)
        #expect(DevMemChecks.restrictions(config: unreadable, commandLine: relaxed).verdict == .ok)
        // Both options set and no command line: unknown, never ok.
        #expect(DevMemChecks.restrictions(config: bothStrict, commandLine: noCmdline).verdict == .unknown)
        #expect(DevMemChecks.restrictions(config: strictOnly, commandLine: noCmdline).verdict == .ok)
    }

    @Test func revocationSince58() {
        let old = DevMemChecks.revocation(release: "5.4.0-150-generic", config: bothStrict, commandLine: plain, region: "region0")
        #expect(old.verdict == .ok)
        let new = DevMemChecks.revocation(release: "6.1.0-18-amd64", config: bothStrict, commandLine: plain, region: "region0")
        #expect(new.verdict == .warn)
        #expect(new.finding.contains("region0") && new.finding.contains("CONFIG_IO_STRICT_DEVMEM"))
        #expect(new.fix?.contains("iomem=relaxed") == true)
        #expect(DevMemChecks.revocation(release: "5.8.0", config: bothStrict, commandLine: plain, region: "region0").verdict == .warn)
        #expect(DevMemChecks.revocation(release: "6.1.0", config: bothStrict, commandLine: relaxed, region: "region0").verdict == .ok)
        // The revocation is compiled only with CONFIG_IO_STRICT_DEVMEM.
        #expect(DevMemChecks.revocation(release: "6.1.0", config: strictOnly, commandLine: plain, region: "region0").verdict == .ok)
        #expect(DevMemChecks.revocation(release: "6.1.0", config: noStrict, commandLine: plain, region: "region0").verdict == .ok)
        // Unknown facts: warn.
        #expect(DevMemChecks.revocation(release: "6.1.0", config: unreadable, commandLine: plain, region: "region0").verdict == .warn)
        #expect(DevMemChecks.revocation(release: nil, config: strictOnly, commandLine: plain, region: "region0").verdict == .warn)
    }

    @Test func ownerVerdicts() throws {
        let map: Result<IOMemMap, HostError> = .success(try IOMemMap.parse(iomemFixture))
        #expect(DevMemChecks.owner(page: 0x37fff000, iomem: map, region: "region0").verdict == .ok)
        let ram = DevMemChecks.owner(page: 0x0100_0000, iomem: map, region: "region0")
        #expect(ram.verdict == .fail && ram.finding.contains("System RAM"))
        let device = DevMemChecks.owner(page: 0x37ffe000, iomem: map, region: "region0")
        #expect(device.verdict == .fail && device.finding.contains("0000:00:02.0"))
        let nested = DevMemChecks.owner(page: 0x3800_3000, iomem: map, region: "region0")
        #expect(nested.verdict == .fail)
        let nothing = DevMemChecks.owner(page: 0x3800_1000, iomem: map, region: "region0")
        // Unclaimed in an enabled region: the kernel does not flush through it, never map it.
        #expect(nothing.verdict == .fail && nothing.fix?.contains("flush hint addresses") == true)
        let hidden: Result<IOMemMap, HostError> = .success(try IOMemMap.parse("00000000-00000000 : ndbus0\n"))
        let h = DevMemChecks.owner(page: 0x37fff000, iomem: hidden, region: "region0")
        #expect(h.verdict == .unknown && h.finding.contains("zeroed"))
        let failed: Result<IOMemMap, HostError> = .failure(HostError(path: "/proc/iomem", message: "cannot open"))
        #expect(DevMemChecks.owner(page: 0x37fff000, iomem: failed, region: "region0").verdict == .unknown)
    }

    /// An nd bus claim nested in a device's range (a PCI BAR that no driver holds busy, so the
    /// kernel let the claim nest) is that device's registers, not the bus's; nested in firmware's
    /// Reserved range or a PCI bus window it is the bus's.
    @Test func aClaimInsideADeviceIsTheDevices() throws {
        let map: Result<IOMemMap, HostError> = .success(try IOMemMap.parse("""
        40000000-febfffff : PCI Bus 0000:00
          fd000000-fdffffff : 0000:00:02.0
            fd000000-fd000fff : ndbus0
          fe000000-fe000fff : ndbus0
        """))
        let inBAR = DevMemChecks.owner(page: 0xfd00_0000, iomem: map, region: "region0")
        #expect(inBAR.verdict == .fail && inBAR.finding.contains("0000:00:02.0"), "\(inBAR)")
        #expect(DevMemChecks.owner(page: 0xfe00_0000, iomem: map, region: "region0").verdict == .ok)
    }

    @Test func sharedPageWarns() {
        let alone = DevMemChecks.sharing(FlushHintPage(page: 0x37fff000, hints: []), region: "region0")
        #expect(alone.verdict == .ok)
        let shared = DevMemChecks.sharing(FlushHintPage(page: 0x37fff000, hints: [], sharedWith: ["region1"]), region: "region0")
        #expect(shared.verdict == .warn)
        #expect(shared.finding.contains("region1") && shared.finding.contains("another tenant"))
    }

    @Test func mmapProof() {
        #expect(DevMemChecks.mapping(page: 0x1000, proof: .mapped).verdict == .ok)
        #expect(DevMemChecks.mapping(page: 0x1000, proof: .notTried).verdict == .unknown)
        let failed = DevMemChecks.mapping(page: 0x1000, proof: .failed("Operation not permitted"))
        #expect(failed.verdict == .fail && failed.finding.contains("Operation not permitted"))
    }

    @Test func evaluateOrderAndPerPageChecks() throws {
        let facts = HostFacts(privilege: Privilege(effectiveUID: 0, effectiveCapabilities: 1 << 17),
                              config: strictOnly, commandLine: plain, release: "6.1.0",
                              iomem: .success(try IOMemMap.parse(iomemFixture)))
        let pages = [FlushHintPage(page: 0x37fff000, hints: []), FlushHintPage(page: 0x3800_0000, hints: [], sharedWith: ["region1"])]
        let checks = DevMemChecks.evaluate(facts: facts, region: "region0", pages: pages, proofs: [0x37fff000: .mapped])
        #expect(checks.map(\.id) == [.lockdown, .privilege, .devmemRestrictions, .devmemRevocation,
                                     .iomemOwner, .sharedPage, .mmap, .iomemOwner, .sharedPage, .mmap])
        #expect(checks.map(\.verdict) == [.ok, .ok, .ok, .ok, .ok, .ok, .ok, .ok, .warn, .unknown])
        #expect(checks[7].page == 0x3800_0000)
    }

    // MARK: - issue 20: the hint device and lockdown

    static let rootFacts = HostFacts(privilege: Privilege(effectiveUID: 0, effectiveCapabilities: 1 << 17),
                                     config: config("CONFIG_STRICT_DEVMEM=y\nCONFIG_IO_STRICT_DEVMEM=y\n"),
                                     commandLine: .success(.parse("quiet")), release: "6.1.0",
                                     iomem: .failure(HostError(message: "not read")))

    @Test func throughAUsableHintDeviceDevMemsConditionsDecideNothing() {
        var facts = Self.rootFacts
        facts.lockdown = .integrity
        let page = FlushHintPage(page: 0x37fff000, hints: [])
        let checks = DevMemChecks.evaluate(facts: facts, region: "region0", pages: [page], proofs: [page.page: .mapped],
                                           device: .usable(path: "/dev/flushhint/region0"))
        #expect(checks.map(\.id) == [.hintDevice, .lockdown, .iomemOwner, .sharedPage, .mmap])
        #expect(checks[0].verdict == .ok && checks[1].verdict == .ok, "\(checks)")
        #expect(checks[1].finding.contains("integrity") && checks[1].finding.contains("does not restrict /dev/flushhint/region0"))
        #expect(checks[4].path == "/dev/flushhint/region0" && checks[4].finding.contains("mapped from /dev/flushhint/region0"))
    }

    @Test func lockdownWithoutADeviceFailsFirstAndNamesTheModule() {
        var facts = Self.rootFacts
        facts.lockdown = .integrity
        let page = FlushHintPage(page: 0x37fff000, hints: [])
        let checks = DevMemChecks.evaluate(facts: facts, region: "region0", pages: [page],
                                           proofs: [page.page: .failed("open: Operation not permitted")],
                                           device: .absent(path: "/dev/flushhint/region0"))
        #expect(checks.map(\.id) == [.hintDevice, .lockdown, .privilege, .devmemRestrictions, .devmemRevocation,
                                     .iomemOwner, .sharedPage, .mmap])
        #expect(checks[1].verdict == .fail && (checks[1].fix ?? "").contains("flushhint module"), "\(checks[1])")
        // None, and unreadable, do not refuse: the mmap proof decides.
        #expect(DevMemChecks.lockdown(Lockdown.none, device: nil).verdict == .ok)
        #expect(DevMemChecks.lockdown(nil, device: nil).verdict == .ok)
        #expect(DevMemChecks.lockdown(.confidentiality, device: .absent(path: "/dev/flushhint/region0")).verdict == .fail)
    }

    /// A failed mmap whose cause no check found does not send the reader to "the checks above".
    @Test func anUnexplainedMmapFailureSaysSo() {
        let page = FlushHintPage(page: 0x37fff000, hints: [])
        var facts = Self.rootFacts
        facts.commandLine = .success(.parse("iomem=relaxed"))
        facts.iomem = .success(try! IOMemMap.parse("37fff000-37ffffff : ndbus0\n"))
        let checks = DevMemChecks.evaluate(facts: facts, region: "region0", pages: [page],
                                           proofs: [page.page: .failed("open: Operation not permitted")],
                                           device: .absent(path: "/dev/flushhint/region0"))
        let mmap = checks[checks.count - 1]
        #expect(checks.dropLast().allSatisfy { $0.verdict.allowsPassthrough }, "\(checks)")
        #expect(mmap.verdict == .fail && !(mmap.fix ?? "").contains("checks above"), "\(mmap)")
        let explained = DevMemChecks.mapping(page: page.page, proof: .failed("EPERM"), explained: true)
        #expect(explained.fix == "Fix the failing checks above and try again.")
    }

    @Test func aForeignOrInaccessibleNodeFails() {
        #expect(DevMemChecks.hintDevice(.foreign(path: "/dev/flushhint/region0", why: "it is not a character device"), region: "region0").verdict == .fail)
        #expect(DevMemChecks.hintDevice(.inaccessible(path: "/dev/flushhint/region0", errno: .permissionDenied), region: "region0").verdict == .fail)
        #expect(DevMemChecks.hintDevice(.absent(path: "/dev/flushhint/region0"), region: "region0").verdict == .ok)
        #expect(Lockdown.parse("none [integrity] confidentiality\n") == .integrity)
        #expect(Lockdown.parse("[none] integrity confidentiality") == Lockdown.none)
        #expect(Lockdown.parse("garbage") == nil)
        // Nothing at the module's path on this machine: absent; a regular file there: foreign.
        #expect(HintDevice.probe(region: RegionName(number: 0), directory: "/nonexistent/flushhint") == .absent(path: "/nonexistent/flushhint/region0"))
    }

    @Test func aFileWhereTheNodeShouldBeIsForeign() throws {
        let dir = try TempDir()
        try dir.write("region0", "not a device")
        guard case .foreign(_, let why) = HintDevice.probe(region: RegionName(number: 0), directory: dir.path) else {
            Issue.record("a regular file passed for the node"); return
        }
        #expect(why == "it is not a character device")
    }

    @Test func verdictOrder() {
        #expect(Verdict.ok < .warn && Verdict.warn < .unknown && Verdict.unknown < .fail)
        #expect(Verdict.ok.allowsPassthrough && Verdict.warn.allowsPassthrough)
        #expect(!Verdict.fail.allowsPassthrough && !Verdict.unknown.allowsPassthrough)
    }
}
