import Foundation
import Testing

/// `flushctl plan`, `check` and `flush` on the emulated NVDIMM host: one boot per test, the
/// JSON output parsed and compared with the scenario's NFIT layout, and every flush-hint write
/// read back through a second mapping (busybox `devmem ADDR 64`, 8 bytes from /dev/mem).
///
/// The guest's hint "registers" are reserved RAM, so a hint keeps the last value written to it:
/// each flush test first zeroes the hints through /dev/mem, reads 0 back, flushes, and reads
/// which hints now hold 1. (The kernel itself writes hints while it sets up namespaces, so
/// they do not read 0 at boot.)
@Suite(.serialized) struct PlanCheckFlushTests {
    /// Scenarios of these tests that ScenarioTests does not list (Tests/hostsim/scenarios/plan/).
    static func planScenario(_ name: String) -> String { "Tests/hostsim/scenarios/plan/\(name).json" }

    // MARK: - default kernel command line

    /// Without iomem=relaxed, IO_STRICT_DEVMEM refuses the mapping: check fails and says how to
    /// fix it, plan falls back to deep_flush, flush writes deep_flush, and devmem itself cannot
    /// read the hint page (the same refusal, seen by another program).
    @Test func defaultCommandLineRefusesPassthrough() throws {
        let hints = try PlanLayout(scenario: "devdax").allHints
        let r = try EmulatedHost.run(scenario: "devdax", commands: [
            "flushctl check --json",
            "flushctl plan /dev/dax0.0 --json",
            "flushctl plan /dev/dax0.0 --json --guest-base 0x100000000",
            "flushctl flush region0 --json",
            "devmem \(PlanHints.hex(hints[0])) 64",
        ])

        // check: exit 1 (a failed check is a verdict, not bad input).
        #expect(r[0].status == 1, "check must fail: \(r[0].stderr)")
        let regions = try PlanJSON.array(r[0])
        #expect(regions.count == 1)
        let region0 = try #require(regions.first)
        #expect(region0["region"] as? String == "region0")
        let checks = try #require(region0["checks"] as? [[String: Any]])
        let restrictions = try #require(PlanJSON.check(checks, "devmem_restrictions"))
        #expect(restrictions["verdict"] as? String == "fail")
        #expect((restrictions["finding"] as? String)?.contains("CONFIG_IO_STRICT_DEVMEM") == true, "\(restrictions)")
        #expect((restrictions["fix"] as? String)?.contains("iomem=relaxed") == true, "\(restrictions)")
        let mmap = try #require(PlanJSON.check(checks, "mmap", page: 0x37fff000))
        #expect(mmap["verdict"] as? String == "fail")
        #expect((mmap["finding"] as? String)?.contains("Operation not permitted") == true, "EPERM: \(mmap)")
        #expect(PlanJSON.check(checks, "iomem_owner", page: 0x37fff000)?["verdict"] as? String == "ok")

        // plan: deep_flush, with the refusal as its reason.
        #expect(r[1].status == 0, "\(r[1].stderr)")
        let plan = try PlanJSON.object(r[1])
        #expect(plan["method"] as? String == "deep_flush")
        #expect(plan["backend_kind"] as? String == "devdax")
        #expect(plan["region"] as? String == "region0")
        #expect(plan["deep_flush"] as? String == "/sys/bus/nd/devices/region0/deep_flush")
        let reason = plan["reason"] as? String ?? ""
        #expect(reason.contains("devmem_restrictions is fail") && reason.contains("iomem=relaxed")
                && reason.contains("/sys/bus/nd/devices/region0/deep_flush"), "reason: \(reason)")
        #expect(plan["ranges"] == nil, "no ranges without passthrough")

        // A guest base changes nothing when there is nothing to pass through.
        let withBase = try PlanJSON.object(r[2])
        #expect(withBase["method"] as? String == "deep_flush")
        #expect(withBase["guest"] == nil)

        // flush region0: the deep_flush write (the kernel's nvdimm_flush writes the hints).
        #expect(r[3].status == 0, "\(r[3].stderr)")
        let flushed = try PlanJSON.object(r[3])
        #expect(flushed["method"] as? String == "deep_flush")
        #expect(flushed["result"] as? String == "wrote 1 to /sys/bus/nd/devices/region0/deep_flush")
        // busybox devmem mmaps /dev/mem as flushctl does, and is refused the same way.
        #expect(r[4].status != 0 && r[4].stderr.contains("Operation not permitted"), "devmem: \(r[4].stdout)\(r[4].stderr)")
    }

    // MARK: - iomem=relaxed: passthrough, and the flush writes exactly one hint per DIMM

    /// With iomem=relaxed every check passes, the plan's ranges are the scenario's hint page, and
    /// `flush region0` writes 1 to one hint of the DIMM. Bad input exits 2 with one line.
    @Test func relaxedPassthroughAndFlush() throws {
        let layout = try PlanLayout(scenario: "devdax")
        let hints = layout.allHints
        let r = try EmulatedHost.run(scenario: "devdax", commands: [
            "flushctl check --json",
            "flushctl plan /dev/dax0.0 --json",
            PlanHints.zero(hints),
            "flushctl flush region0 --json",
            PlanHints.read(hints),
            "flushctl plan /dev/dax0.0 --json --guest-base 0x40000001",
            "flushctl plan /no/such/backend --json",
            "flushctl flush /no/such/backend",
            "flushctl plan /dev/dax0.0 --guest-base 0xfffffffffffff000",
        ], append: "iomem=relaxed")

        #expect(r[0].status == 0, "every check passes: \(r[0].stdout)")
        let checks = try #require(try PlanJSON.array(r[0]).first?["checks"] as? [[String: Any]])
        #expect(checks.allSatisfy { $0["verdict"] as? String == "ok" }, "\(checks)")
        #expect(PlanJSON.check(checks, "mmap", page: 0x37fff000)?["verdict"] as? String == "ok")

        let plan = try PlanJSON.object(r[1])
        #expect(plan["method"] as? String == "passthrough", "\(plan["reason"] ?? "")")
        try PlanJSON.expectRanges(plan, layout: layout, region: 0)

        #expect(PlanHints.values(r[2]) == PlanHints.zeros(hints), "zeroed: \(r[2].stdout)")
        #expect(r[3].status == 0, "\(r[3].stderr)")
        let flushed = try PlanJSON.object(r[3])
        #expect(flushed["method"] as? String == "passthrough")
        PlanHints.expectOneHintPerDIMM(written: PlanHints.values(r[4]), layout: layout, flushed: [0],
                                       reported: PlanHints.addresses(in: flushed["result"] as? String ?? ""))

        // Bad input: exit 2 and one line naming what was wrong.
        PlanJSON.expectOneLineError(r[5], "flushctl plan: error: guest base 0x40000001 is not aligned to 4096 bytes")
        PlanJSON.expectOneLineError(r[6], "flushctl plan: error: /no/such/backend: cannot stat: No such file or directory")
        PlanJSON.expectOneLineError(r[7], "flushctl flush: error: /no/such/backend: cannot stat: No such file or directory")
        PlanJSON.expectOneLineError(r[8], "flushctl plan: error: guest base 0xfffffffffffff000 leaves no room for the hint pages below 2^64")
    }

    /// Interleave: both DIMMs' hints are written, and with --guest-base the guest's two DIMMs
    /// each point at their own host DIMM's page where the guest sees it.
    @Test func interleaveGuestLayoutAndFlush() throws {
        let scenario = Self.planScenario("interleave-devdax")
        let layout = try PlanLayout(scenario: scenario)
        let hints = layout.allHints
        let guestBase: UInt64 = 0x1_0000_0000
        let r = try EmulatedHost.run(scenario: scenario, commands: [
            "flushctl plan /dev/dax0.0 --json --guest-base 0x100000000 --guest-region 0x100002000:0x4000000",
            PlanHints.zero(hints),
            "flushctl flush region0 --json",
            PlanHints.read(hints),
        ], append: "iomem=relaxed")

        let plan = try PlanJSON.object(r[0])
        #expect(plan["method"] as? String == "passthrough", "\(plan["reason"] ?? "")")
        let ranges = try PlanJSON.expectRanges(plan, layout: layout, region: 0)
        // Pages in ascending host order, placed one after the other from the guest base.
        #expect(ranges.map(\.guestAddress) == ranges.indices.map { guestBase + UInt64($0) * 4096 })

        // The guest's DIMMs mirror the interleave: one per host DIMM, in position order, same
        // handle, each hint at the guest address of its own host page plus the same offset.
        let guest = try #require(plan["guest"] as? [String: Any])
        #expect(PlanJSON.hex(guest["base"]) == guestBase)
        let guestDIMMs = try #require(guest["dimms"] as? [[String: Any]])
        let hostDIMMs = try #require(plan["dimms"] as? [[String: Any]])
        try #require(guestDIMMs.count == layout.regions[0].dimms.count)
        var guestHintsByHandle: [UInt32: [UInt64]] = [:]
        for (position, (gd, hostDIMM)) in zip(guestDIMMs, layout.regions[0].dimms).enumerated() {
            #expect((gd["position"] as? NSNumber)?.intValue == position)
            #expect(PlanJSON.hex(gd["handle"]) == UInt64(hostDIMM.handle))
            let hostName = hostDIMMs.first { PlanJSON.hex($0["handle"]) == UInt64(hostDIMM.handle) }?["dimm"] as? String
            #expect(gd["host_dimm"] as? String == hostName)
            let expected = try hostDIMM.hints.map { hint in
                let range = try #require(ranges.first { $0.offset == hint & ~0xfff }, "no range for \(hint)")
                return try #require(range.guestAddress) + (hint & 0xfff)
            }
            let got = (gd["flush_hints"] as? [Any] ?? []).compactMap(PlanJSON.hex)
            #expect(got == expected, "guest DIMM \(position)")
            guestHintsByHandle[hostDIMM.handle] = got
            // The NFIT flush hint address structure (ACPI 6.4 5.2.26.7): type 6, length
            // 16 + 8n, the handle, n, 6 reserved bytes, then the n addresses.
            let bytes = PlanJSON.bytes(gd["nfit_flush_hint_structure"] as? String ?? "")
            #expect(bytes.count == 16 + 8 * expected.count)
            if bytes.count == 16 + 8 * expected.count {
                #expect(PlanJSON.le(bytes, 0, 2) == 6 && PlanJSON.le(bytes, 2, 2) == UInt64(bytes.count))
                #expect(PlanJSON.le(bytes, 4, 4) == UInt64(hostDIMM.handle))
                #expect(PlanJSON.le(bytes, 8, 2) == UInt64(expected.count))
                #expect(bytes[10..<16].allSatisfy { $0 == 0 })
                #expect(expected.indices.map { PlanJSON.le(bytes, 16 + 8 * $0, 8) } == expected)
            }
        }
        // Two guest DIMMs, each on its own page: no guest hint page holds both.
        let guestPages = guestHintsByHandle.values.map { Set($0.map { $0 & ~0xfff }) }
        #expect(guestPages.count == 2 && guestPages[0].isDisjoint(with: guestPages[1]))

        // The guest NFIT layout `flushctl nfit build` reads: the guest range and the same DIMMs.
        let nfit = try #require((plan["guest_nfit_layout"] as? [String: Any])?["regions"] as? [[String: Any]])
        #expect(nfit.count == 1)
        #expect(PlanJSON.hex(nfit.first?["base"]) == 0x1_0000_2000 && PlanJSON.hex(nfit.first?["size"]) == 0x400_0000)
        let nfitDIMMs = nfit.first?["dimms"] as? [[String: Any]] ?? []
        #expect(nfitDIMMs.map { PlanJSON.hex($0["handle"]) } == layout.regions[0].dimms.map { UInt64($0.handle) })
        for d in nfitDIMMs {
            let handle = UInt32(PlanJSON.hex(d["handle"]) ?? 0)
            #expect((d["hints"] as? [Any] ?? []).compactMap(PlanJSON.hex) == guestHintsByHandle[handle])
        }

        #expect(PlanHints.values(r[1]) == PlanHints.zeros(hints), "zeroed: \(r[1].stdout)")
        let flushed = try PlanJSON.object(r[2])
        #expect(flushed["method"] as? String == "passthrough")
        PlanHints.expectOneHintPerDIMM(written: PlanHints.values(r[3]), layout: layout, flushed: [0],
                                       reported: PlanHints.addresses(in: flushed["result"] as? String ?? ""))
    }

    /// Two regions, hints in separate pages: flushing region0 writes none of region1's hints, and
    /// the other way round.
    @Test func flushLeavesOtherRegionsAlone() throws {
        let scenario = Self.planScenario("two-regions")
        let layout = try PlanLayout(scenario: scenario)
        let hints = layout.allHints
        let r = try EmulatedHost.run(scenario: scenario, commands: [
            PlanHints.zero(hints),
            "flushctl flush region0 --json",
            PlanHints.read(hints),
            "flushctl flush region1 --json",
            PlanHints.read(hints),
            "flushctl plan /dev/pmem1 --json",
        ], append: "iomem=relaxed")
        #expect(PlanHints.values(r[0]) == PlanHints.zeros(hints), "zeroed: \(r[0].stdout)")
        let first = try PlanJSON.object(r[1])
        #expect(first["method"] as? String == "passthrough" && first["region"] as? String == "region0")
        PlanHints.expectOneHintPerDIMM(written: PlanHints.values(r[2]), layout: layout, flushed: [0],
                                       reported: PlanHints.addresses(in: first["result"] as? String ?? ""))
        let second = try PlanJSON.object(r[3])
        #expect(second["method"] as? String == "passthrough" && second["region"] as? String == "region1")
        let afterBoth = PlanHints.values(r[4])
        PlanHints.expectOneHintPerDIMM(written: afterBoth, layout: layout, flushed: [0, 1],
                                       reported: PlanHints.addresses(in: (first["result"] as? String ?? "")
                                                                     + (second["result"] as? String ?? "")))
        // region0's hints are as the first flush left them.
        #expect(layout.regions[0].allHints.map { afterBoth[$0] } == layout.regions[0].allHints.map { PlanHints.values(r[2])[$0] })
        // A raw (block) namespace of a region with hints: fsync through the page cache.
        let block = try PlanJSON.object(r[5])
        #expect(block["method"] as? String == "fsync" && block["backend_kind"] as? String == "block_device")
    }

    /// Two regions whose hints share one page at distinct addresses: check warns about the
    /// sharing, and flushing region0 leaves region1's hint at 0.
    @Test func sharedPageFlushWritesOnlyItsRegion() throws {
        let layout = try PlanLayout(scenario: "shared-page")
        let hints = layout.allHints
        let r = try EmulatedHost.run(scenario: "shared-page", commands: [
            "flushctl check --json",
            PlanHints.zero(hints),
            "flushctl flush region0 --json",
            PlanHints.read(hints),
        ], append: "iomem=relaxed")
        #expect(r[0].status == 0, "a warning is not a failure: \(r[0].stdout)")
        let regions = try PlanJSON.array(r[0])
        #expect(regions.compactMap { $0["region"] as? String } == ["region0", "region1"], "in region order")
        for region in regions {
            let checks = region["checks"] as? [[String: Any]] ?? []
            let shared = PlanJSON.check(checks, "shared_page", page: 0x37fff000)
            #expect(shared?["verdict"] as? String == "warn", "\(region["region"] ?? ""): \(String(describing: shared))")
        }
        #expect(PlanHints.values(r[1]) == PlanHints.zeros(hints), "zeroed: \(r[1].stdout)")
        let flushed = try PlanJSON.object(r[2])
        #expect(flushed["method"] as? String == "passthrough")
        PlanHints.expectOneHintPerDIMM(written: PlanHints.values(r[3]), layout: layout, flushed: [0],
                                       reported: PlanHints.addresses(in: flushed["result"] as? String ?? ""))
    }

    // MARK: - backends

    /// fsdax with a DAX-mounted ext4: a fully written file takes the region's method (MAP_SYNC
    /// is accepted), a sparse one fsync; the raw /dev/pmem0 and a tmpfs file fsync.
    @Test(arguments: [("", "deep_flush"), ("iomem=relaxed", "passthrough")])
    func fsdaxBackends(append: String, regionMethod: String) throws {
        let r = try EmulatedHost.run(scenario: Self.planScenario("fsdax-ext4"), commands: [
            "flushctl flush region0 --json",
            "flushctl plan /mnt/full --json",
            "flushctl plan /mnt/sparse --json",
            "flushctl plan /dev/pmem0 --json",
            "mkdir -p /tmpfs && mount -t tmpfs tmpfs /tmpfs && echo data > /tmpfs/file && flushctl plan /tmpfs/file --json",
            "flushctl flush /mnt/sparse --json",
            "flushctl flush /tmpfs/file --json",
            "flushctl flush /mnt/full --json",
            "grep ' /mnt ' /proc/mounts",
        ], append: append)

        #expect(r[8].stdout.contains("/dev/pmem0 /mnt ext4") && r[8].stdout.contains("dax"), "mounted -o dax: \(r[8].stdout)")
        let region = try PlanJSON.object(r[0])
        #expect(region["method"] as? String == regionMethod)

        let full = try PlanJSON.object(r[1])
        #expect(full["backend_kind"] as? String == "dax_file")
        #expect(full["method"] as? String == regionMethod, "MAP_SYNC accepted: the region's method. \(full["reason"] ?? "")")
        #expect(full["region"] as? String == "region0")
        if regionMethod == "passthrough" {
            #expect((full["ranges"] as? [Any])?.count == 1)
        } else {
            #expect(full["deep_flush"] as? String == "/sys/bus/nd/devices/region0/deep_flush")
        }

        let sparse = try PlanJSON.object(r[2])
        #expect(sparse["backend_kind"] as? String == "dax_file")
        #expect(sparse["method"] as? String == "fsync")
        #expect((sparse["reason"] as? String)?.contains("/mnt/sparse is not fully allocated") == true, "\(sparse["reason"] ?? "")")
        #expect(sparse["ranges"] == nil && sparse["deep_flush"] == nil)

        let block = try PlanJSON.object(r[3])
        #expect(block["backend_kind"] as? String == "block_device")
        #expect(block["method"] as? String == "fsync")
        #expect((block["reason"] as? String)?.contains("page cache") == true, "\(block["reason"] ?? "")")

        #expect(r[4].status == 0, "\(r[4].stderr)")
        let tmpfs = try PlanJSON.object(r[4])
        #expect(tmpfs["backend_kind"] as? String == "file")
        #expect(tmpfs["method"] as? String == "fsync")
        #expect(tmpfs["region"] == nil)
        #expect((tmpfs["reason"] as? String)?.contains("not on an NVDIMM region") == true)

        #expect(try PlanJSON.object(r[5])["result"] as? String == "fsync /mnt/sparse: done")
        #expect(try PlanJSON.object(r[6])["result"] as? String == "fsync /tmpfs/file: done")
        let fullFlush = try PlanJSON.object(r[7])
        #expect(fullFlush["method"] as? String == regionMethod)
        #expect(r[7].status == 0, "\(r[7].stderr)")
    }

    /// A region whose DIMM has no flush hints: none. Then the region disabled: bad input.
    @Test func noHintsAndDisabledRegion() throws {
        let r = try EmulatedHost.run(scenario: Self.planScenario("nohints-devdax"), commands: [
            "flushctl plan /dev/dax0.0 --json",
            "flushctl flush region0 --json",
            "ndctl disable-region region0",
            "flushctl flush region0",
            "flushctl check region0",
            "flushctl plan /dev/dax0.0",
            "flushctl check region7",
        ])
        #expect(r[0].status == 0, "\(r[0].stderr)")
        let plan = try PlanJSON.object(r[0])
        #expect(plan["method"] as? String == "none")
        #expect((plan["reason"] as? String)?.contains("No DIMM of region0 has flush hints") == true, "\(plan["reason"] ?? "")")
        #expect(plan["ranges"] == nil && plan["deep_flush"] == nil)
        let dimms = plan["dimms"] as? [[String: Any]] ?? []
        #expect(dimms.count == 1 && (dimms.first?["flush_hints"] as? [Any])?.isEmpty == true, "known to have no hints")

        let flushed = try PlanJSON.object(r[1])
        #expect(flushed["method"] as? String == "none")
        #expect((flushed["result"] as? String)?.hasPrefix("nothing to flush") == true)

        #expect(r[2].status == 0, "ndctl disable-region: \(r[2].stderr)")
        PlanJSON.expectOneLineError(r[3], "flushctl flush: error: region0 is disabled; enable it first (ndctl enable-region region0)")
        PlanJSON.expectOneLineError(r[4], "flushctl check: error: region0 is disabled; enable it first (ndctl enable-region region0)")
        PlanJSON.expectOneLineError(r[5], "flushctl plan: error: /dev/dax0.0: cannot stat: No such file or directory")
        PlanJSON.expectOneLineError(r[6], "flushctl check: error: region7: no such region (regions: region0)")
    }

    // MARK: - docs/examples/vmm-flush.c

    /// The C example, compiled on the host, reads the plan, maps the ranges and writes each
    /// DIMM's first hint once: read back through devmem.
    @Test func cExampleFlushesLikeNvdimmFlush() throws {
        let work = try PlanHost.workDirectory()
        defer { try? FileManager.default.removeItem(at: work) }
        let binary = try PlanHost.compile("docs/examples/vmm-flush.c", into: work, libraries: "$(pkg-config --cflags --libs json-c)",
                                          needs: "gcc and libjson-c-dev (Tests/install-deps)")
        // A scenario of its own: the interleave layout as devdax, plus the compiled example.
        let layoutScenario = Self.planScenario("interleave-devdax")
        let scenario = try EmulatedHost.scenario(basedOn: "interleave", in: work,
                                                 setup: ["ndctl create-namespace -f -e namespace0.0 -m devdax"],
                                                 binaries: [binary: "/usr/bin/vmm-flush"])
        let layout = try PlanLayout(scenario: layoutScenario)
        let hints = layout.allHints
        let r = try EmulatedHost.run(scenario: scenario, commands: [
            PlanHints.zero(hints),
            "flushctl plan /dev/dax0.0 --json > /tmp/plan.json && vmm-flush /tmp/plan.json",
            PlanHints.read(hints),
            "echo data > /tmp/file && flushctl plan /tmp/file --json | vmm-flush -",
        ], append: "iomem=relaxed")

        #expect(PlanHints.values(r[0]) == PlanHints.zeros(hints), "zeroed: \(r[0].stdout)")
        #expect(r[1].status == 0, "vmm-flush: \(r[1].stderr)")
        let firsts = layout.regions[0].dimms.compactMap(\.hints.first)
        let expected = Dictionary(uniqueKeysWithValues: hints.map { ($0, firsts.contains($0) ? UInt64(1) : 0) })
        #expect(PlanHints.values(r[2]) == expected, "each DIMM's first hint, nothing else: \(r[2].stdout)")
        #expect(PlanHints.addresses(in: r[1].stdout) == firsts, "\(r[1].stdout)")
        // Not a passthrough plan (a file off NVDIMM: fsync): it says so, exits 1, maps nothing.
        #expect(r[3].status == 1 && r[3].stdout.hasPrefix("method fsync: "), "\(r[3].stdout) \(r[3].stderr)")
    }
}

// MARK: - /dev/mem facts the plan relies on

extension PlanCheckFlushTests {
    /// What `devmem_revocation` warns about, and why a VMM must map with O_SYNC: a mapping made
    /// while region0 is disabled is revoked (SIGBUS) when the region is enabled, unless the
    /// kernel was booted with iomem=relaxed; and a mapping without O_SYNC is uncached only
    /// while the region's driver holds the page uncached (PAT), write-back once it is disabled.
    @Test(arguments: ["", "iomem=relaxed"])
    func devMemRevocationAndCacheType(append: String) throws {
        let work = try PlanHost.workDirectory()
        defer { try? FileManager.default.removeItem(at: work) }
        let binary = try PlanHost.compile("Tests/hostsim/tools/devmem-hold.c", into: work, needs: "gcc")
        let scenario = try EmulatedHost.scenario(basedOn: "hints", in: work, binaries: [binary: "/usr/bin/devmem-hold"])
        let pat = "grep 37fff000 /sys/kernel/debug/x86/pat_memtype_list"
        let r = try EmulatedHost.run(scenario: scenario, commands: [
            "flushctl check region0 --json",
            "mount -t debugfs debugfs /sys/kernel/debug && \(pat)",
            "devmem-hold --no-sync 0x37fff000 '\(pat)'",
            "ndctl disable-region region0",
            "devmem-hold --no-sync 0x37fff000 '\(pat)'",
            "devmem-hold 0x37fff000 'ndctl enable-region region0'",
        ], append: append)
        let relaxed = !append.isEmpty

        let checks = try #require(try PlanJSON.array(r[0]).first?["checks"] as? [[String: Any]])
        #expect(PlanJSON.check(checks, "devmem_revocation")?["verdict"] as? String == (relaxed ? "ok" : "warn"))

        // The nfit driver maps the enabled region's hint page uncached (UC-).
        #expect(r[1].stdout.contains("uncached-minus"), "\(r[1].stdout)\(r[1].stderr)")
        if relaxed {
            // Without O_SYNC the mapping asks for write-back and gets the kernel's UC-...
            #expect(r[2].status == 0 && r[2].stdout.contains("uncached-minus") && !r[2].stdout.contains("write-back"),
                    "\(r[2].stdout)\(r[2].stderr)")
            // ...but with the region disabled nothing holds the page uncached: write-back.
            #expect(r[3].status == 0, "\(r[3].stderr)")
            #expect(r[4].status == 0 && r[4].stdout.contains("write-back"), "\(r[4].stdout)\(r[4].stderr)")
        } else {
            // IO_STRICT_DEVMEM: no mapping of the claimed page at all.
            #expect(r[2].status == 2 && r[2].stderr.contains("Operation not permitted"), "\(r[2].stdout)\(r[2].stderr)")
        }
        // Mapped while the region was disabled (the page unclaimed), then the region enabled.
        #expect(r[5].stdout.hasPrefix("mapped "), "\(r[5].stdout)\(r[5].stderr)")
        #expect(r[5].stdout.contains("enabled 1 region") || r[5].stderr.contains("enabled 1 region"), "\(r[5].stdout)\(r[5].stderr)")
        if relaxed {
            #expect(r[5].status == 0 && r[5].stdout.contains("after 0x"), "survives with iomem=relaxed: \(r[5].stdout)")
        } else {
            #expect(r[5].status == 3 && r[5].stdout.hasSuffix("SIGBUS\n"), "revoked: \(r[5].stdout)")
        }
    }
}

// MARK: - helpers

/// The scenario's NFIT layout: regions with their DIMMs' handles and hints, in NFIT order.
struct PlanLayout {
    struct DIMM { let handle: UInt32; let hints: [UInt64] }
    struct Region {
        let dimms: [DIMM]
        var allHints: [UInt64] { dimms.flatMap(\.hints) }
        /// How many hints of each DIMM Linux uses: 2^ilog2 of the smallest non-zero count.
        var usable: Int {
            let smallest = dimms.map(\.hints.count).filter { $0 > 0 }.min() ?? 0
            return smallest == 0 ? 0 : 1 << (Int.bitWidth - 1 - smallest.leadingZeroBitCount)
        }
        /// The pages of the hints Linux uses, ascending.
        var usablePages: [UInt64] { Set(dimms.flatMap { $0.hints.prefix(usable) }.map { $0 & ~0xfff }).sorted() }
    }
    let regions: [Region]
    var allHints: [UInt64] { regions.flatMap(\.allHints) }

    /// Reads a scenario (name, repository-relative path or absolute path), following `nfit` references.
    init(scenario: String) throws {
        let root = EmulatedHost.repositoryRoot
        let url = scenario.hasSuffix(".json")
            ? (scenario.hasPrefix("/") ? URL(fileURLWithPath: scenario) : root.appendingPathComponent(scenario))
            : root.appendingPathComponent("Tests/hostsim/scenarios/\(scenario).json")
        func layout(_ url: URL) throws -> [String: Any] {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
            if object["regions"] != nil { return object }
            if let nested = object["nfit"] as? [String: Any] { return nested }
            let path = try #require(object["nfit"] as? String, "\(url.path): no nfit")
            return try layout(path.hasPrefix("/") ? URL(fileURLWithPath: path)
                                                  : url.deletingLastPathComponent().appendingPathComponent(path))
        }
        let regions = try #require(try layout(url)["regions"] as? [[String: Any]])
        self.regions = regions.map { region in
            Region(dimms: (region["dimms"] as? [[String: Any]] ?? []).map { dimm in
                DIMM(handle: UInt32(PlanJSON.hex(dimm["handle"]) ?? 0),
                     hints: (dimm["hints"] as? [Any] ?? []).compactMap(PlanJSON.hex))
            })
        }
    }
}

/// Reading and zeroing flush hints in the guest through /dev/mem (busybox devmem, 8 bytes).
enum PlanHints {
    /// Zeroes every hint, then prints each one's value (`ADDR VALUE` lines).
    static func zero(_ hints: [UInt64]) -> String {
        hints.map { "devmem \(hex($0)) 64 0" }.joined(separator: " && ") + " && " + read(hints)
    }

    /// What `zero` must read back: 0 at every hint.
    static func zeros(_ hints: [UInt64]) -> [UInt64: UInt64] {
        Dictionary(hints.map { ($0, UInt64(0)) }, uniquingKeysWith: { a, _ in a })
    }

    /// Prints `ADDR VALUE` for each hint.
    static func read(_ hints: [UInt64]) -> String {
        "for a in \(hints.map(hex).joined(separator: " ")); do echo \"$a $(devmem $a 64)\"; done"
    }

    /// The values printed by `read`.
    static func values(_ result: CommandResult) -> [UInt64: UInt64] {
        var values: [UInt64: UInt64] = [:]
        for line in result.stdout.split(separator: "\n") {
            let words = line.split(separator: " ")
            guard words.count == 2, let a = PlanJSON.hex(String(words[0])), let v = PlanJSON.hex(String(words[1])) else { continue }
            values[a] = v
        }
        return values
    }

    /// Every `0x…` address in a text, in order.
    static func addresses(in text: String) -> [UInt64] {
        text.split(whereSeparator: { !$0.isHexDigit && $0 != "x" }).compactMap { word in
            word.hasPrefix("0x") ? PlanJSON.hex(String(word)) : nil
        }
    }

    /// After flushing the regions `flushed`: each of their DIMMs has exactly one hint reading 1,
    /// among the ones nvdimm_flush may choose (the first 2^ilog2(n) of the region's smallest
    /// hint count); every other hint reads 0; and the written hints are the ones flushctl reported.
    static func expectOneHintPerDIMM(written: [UInt64: UInt64], layout: PlanLayout, flushed: Set<Int>,
                                     reported: [UInt64], sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(Set(written.keys) == Set(layout.allHints), "every hint read: \(written)", sourceLocation: sourceLocation)
        var ones: Set<UInt64> = []
        for (index, region) in layout.regions.enumerated() {
            let usable = region.usable
            for dimm in region.dimms {
                let set = dimm.hints.filter { written[$0] == 1 }
                ones.formUnion(set)
                if flushed.contains(index) {
                    #expect(set.count == 1, "region\(index) DIMM \(hex(UInt64(dimm.handle))): one hint written, got \(set.map(hex))",
                            sourceLocation: sourceLocation)
                    #expect(set.allSatisfy { dimm.hints.prefix(usable).contains($0) }, sourceLocation: sourceLocation)
                } else {
                    #expect(set.isEmpty, "region\(index) was not flushed, yet \(set.map(hex)) hold 1", sourceLocation: sourceLocation)
                }
            }
        }
        #expect(written.values.allSatisfy { $0 == 0 || $0 == 1 }, "\(written)", sourceLocation: sourceLocation)
        #expect(ones == Set(reported), "written \(ones.map(hex)) vs reported \(reported.map(hex))", sourceLocation: sourceLocation)
    }

    static func hex(_ value: UInt64) -> String { "0x" + String(value, radix: 16) }
}

/// Parsing flushctl's JSON.
enum PlanJSON {
    /// One passthrough range, as the plan prints it.
    struct Range: Equatable {
        let offset: UInt64
        let length: UInt64
        let guestAddress: UInt64?
        let hints: [Hint]
    }
    struct Hint: Equatable { let dimm: String; let handle: UInt64; let offset: UInt64 }

    static func parse(_ result: CommandResult) throws -> Any {
        do {
            return try JSONSerialization.jsonObject(with: Data(result.stdout.utf8))
        } catch {
            throw EmulatedHostError(description: "\(result.command) (exit \(result.status)) printed no JSON: \(result.stdout)\(result.stderr)")
        }
    }

    static func object(_ result: CommandResult) throws -> [String: Any] {
        try #require(try parse(result) as? [String: Any], "\(result.command): not an object")
    }

    static func array(_ result: CommandResult) throws -> [[String: Any]] {
        try #require(try parse(result) as? [[String: Any]], "\(result.command): not an array of objects")
    }

    /// `"0x…"` or a JSON number as an integer.
    static func hex(_ value: Any?) -> UInt64? {
        if let text = value as? String {
            return text.hasPrefix("0x") ? UInt64(text.dropFirst(2), radix: 16) : UInt64(text)
        }
        return (value as? NSNumber)?.uint64Value
    }

    /// The check with `id` (on `page`, when given).
    static func check(_ checks: [[String: Any]], _ id: String, page: UInt64? = nil) -> [String: Any]? {
        checks.first { $0["id"] as? String == id && (page == nil || hex($0["page"]) == page) }
    }

    /// Checks the plan's ranges against the layout of region `region`: one range per distinct
    /// hint page in ascending order, /dev/mem, 4096 bytes, the hints of the page in DIMM order
    /// (NFIT order within a DIMM) with the DIMM names the plan gives the handles.
    @discardableResult
    static func expectRanges(_ plan: [String: Any], layout: PlanLayout, region: Int,
                             sourceLocation: SourceLocation = #_sourceLocation) throws -> [Range] {
        let names: [UInt64: String] = Dictionary((plan["dimms"] as? [[String: Any]] ?? []).compactMap { d in
            hex(d["handle"]).flatMap { h in (d["dimm"] as? String).map { (h, $0) } }
        }, uniquingKeysWith: { a, _ in a })
        let dimms = layout.regions[region].dimms
        #expect(names.count == dimms.count, "plan dimms: \(plan["dimms"] ?? "none")", sourceLocation: sourceLocation)
        let usable = layout.regions[region].usable
        let expected = layout.regions[region].usablePages.map { page in
            Range(offset: page, length: 4096, guestAddress: nil, hints: dimms.flatMap { dimm in
                dimm.hints.prefix(usable).filter { $0 & ~0xfff == page }.map {
                    Hint(dimm: names[UInt64(dimm.handle)] ?? "?", handle: UInt64(dimm.handle), offset: $0 - page)
                }
            })
        }
        let raw = try #require(plan["ranges"] as? [[String: Any]], "no ranges", sourceLocation: sourceLocation)
        let got = raw.map { r in
            Range(offset: hex(r["offset"]) ?? .max, length: hex(r["length"]) ?? 0, guestAddress: hex(r["guest_address"]),
                  hints: (r["hints"] as? [[String: Any]] ?? []).map {
                      Hint(dimm: $0["dimm"] as? String ?? "", handle: hex($0["handle"]) ?? .max, offset: hex($0["offset"]) ?? .max)
                  })
        }
        #expect(raw.allSatisfy { $0["path"] as? String == "/dev/mem" }, sourceLocation: sourceLocation)
        // Physical addresses are "0x…" strings; handles and offsets in the page are numbers.
        #expect(raw.allSatisfy { $0["offset"] is String }, sourceLocation: sourceLocation)
        #expect(raw.allSatisfy { r in
            (r["hints"] as? [[String: Any]] ?? []).allSatisfy {
                !($0["handle"] is String) && !($0["offset"] is String) && hex($0["handle"]) != nil && hex($0["offset"]) != nil
            }
        }, "hint handle/offset must be JSON numbers: \(raw)", sourceLocation: sourceLocation)
        #expect(got.map { Range(offset: $0.offset, length: $0.length, guestAddress: nil, hints: $0.hints) } == expected,
                sourceLocation: sourceLocation)
        return got
    }

    /// Exit 2, nothing on stdout, exactly `line` (and a newline) on stderr.
    static func expectOneLineError(_ result: CommandResult, _ line: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(result.status == 2, "\(result.command): exit \(result.status)", sourceLocation: sourceLocation)
        #expect(result.stdout.isEmpty, "\(result.command): stdout \(result.stdout)", sourceLocation: sourceLocation)
        #expect(result.stderr == line + "\n", "\(result.command)", sourceLocation: sourceLocation)
    }

    /// Hex pairs as bytes.
    static func bytes(_ text: String) -> [UInt8] {
        let digits = Array(text.utf8)
        guard digits.count % 2 == 0 else { return [] }
        return stride(from: 0, to: digits.count, by: 2).compactMap {
            UInt8(String(decoding: digits[$0..<$0 + 2], as: UTF8.self), radix: 16)
        }
    }

    /// A little-endian integer of `count` bytes at `offset`.
    static func le(_ bytes: [UInt8], _ offset: Int, _ count: Int) -> UInt64 {
        (0..<count).reduce(UInt64(0)) { $0 | UInt64(bytes[offset + $1]) << (8 * $1) }
    }
}

/// Host-side steps: compiling C programs for the guest and writing scenarios that carry them.
enum PlanHost {
    /// A fresh temporary directory.
    static func workDirectory() throws -> URL {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("plan-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        return work
    }

    /// Compiles Tests/hostsim/tools/`name`.c statically into `work`, for the emulated host
    /// (`scenario(basedOn:in:binaries:)` puts it there); without gcc or a static libc the test fails.
    static func staticTool(_ name: String, into work: URL) throws -> String {
        try compile("Tests/hostsim/tools/\(name).c", into: work, libraries: "-static", needs: "gcc and libc6-dev (a static libc)")
    }

    /// Compiles a repository C file with gcc into `work`; a missing compiler or library fails
    /// the test with `needs` in the message (never a skip).
    static func compile(_ source: String, into work: URL, libraries: String = "", needs: String) throws -> String {
        let path = EmulatedHost.repositoryRoot.appendingPathComponent(source).path
        let binary = work.appendingPathComponent(URL(fileURLWithPath: source).deletingPathExtension().lastPathComponent).path
        let (status, output) = try EmulatedHost.shell("gcc -O2 -Wall -Wextra -Werror -o '\(binary)' '\(path)' \(libraries)")
        try #require(status == 0, "cannot compile \(source) (needs \(needs)): \(output)")
        return binary
    }
}

