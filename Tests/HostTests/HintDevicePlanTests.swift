import Foundation
import Testing

/// Issue 20 item 2 on the emulated host: flushctl maps through the flushhint module's node where
/// it is usable and /dev/mem where it is not, and says which. One boot per kernel of
/// `plan/flushhint-devdax` (interleave, /dev/dax0.0, the module, booted without iomem=relaxed),
/// through the three cases in turn:
///
/// * neither lockdown nor device (module unloaded): as before, /dev/mem's restrictions refuse;
/// * device usable, under lockdown (module loaded, then `integrity`): passthrough through
///   /dev/flushhint/region0, a flush writes one usable hint of each DIMM (read back through the
///   node), qemu's recipe maps the node;
/// * no device under lockdown (module unloaded again): lockdown is named as the cause, and qemu
///   names the two ways that work.
@Suite(.serialized) struct HintDevicePlanTests {
    static let node = "/dev/flushhint/region0"

    @Test func debianKernel() throws { try threeCases(kernel: .debian) }

    @Test func backportsKernel() throws { try threeCases(kernel: .backports) }

    func threeCases(kernel: EmulatedHost.Kernel) throws {
        let scenarioName = PlanCheckFlushTests.planScenario("flushhint-devdax")
        let layout = try PlanLayout(scenario: scenarioName)
        let hints = layout.allHints.map(PlanHints.hex).joined(separator: " ")
        let work = try PlanHost.workDirectory()
        defer { try? FileManager.default.removeItem(at: work) }
        let peek = try PlanHost.staticTool("hint-peek", into: work)
        let scenario = try EmulatedHost.scenario(basedOn: "plan/flushhint-devdax", in: work, binaries: [peek: "/usr/bin/hint-peek"])
        let boot = try EmulatedHost.boot(scenario: scenario, commands: [
            // Neither: the module unloaded, no lockdown.
            "rmmod flushhint && ! ls \(Self.node)",                                                   // 0
            "flushctl check --json",                                                                  // 1
            "flushctl plan /dev/dax0.0 --json",                                                       // 2
            // The device, under lockdown.
            "insmod /lib/modules/$(uname -r)/flushhint.ko && mount -t securityfs securityfs /sys/kernel/security "
                + "&& echo integrity >/sys/kernel/security/lockdown && cat /sys/kernel/security/lockdown", // 3
            "flushctl check --json",                                                                  // 4
            "flushctl plan /dev/dax0.0 --json",                                                       // 5
            "hint-peek -z \(Self.node) \(hints)",                                                     // 6
            "flushctl flush region0 --json",                                                          // 7
            "hint-peek \(Self.node) \(hints)",                                                        // 8
            "flushctl qemu /dev/dax0.0 --out /tmp/vm --json",                                         // 9
            // No device, under lockdown.
            "rmmod flushhint && ! ls -d /dev/flushhint",                                              // 10
            "flushctl check --json",                                                                  // 11
            "flushctl plan /dev/dax0.0 --json",                                                       // 12
            "flushctl qemu /dev/dax0.0 --out /tmp/vm2",                                               // 13
        ], kernel: kernel)
        let r = boot.results
        #expect(!boot.append.contains("iomem=relaxed"))
        #expect(r[0].status == 0, "\(r[0].stdout)\(r[0].stderr)")

        // Neither: /dev/mem, refused by CONFIG_IO_STRICT_DEVMEM without iomem=relaxed, as before.
        let neither = try Self.checks(r[1])
        #expect(neither["hint_device"]?["verdict"] as? String == "ok")
        #expect((neither["hint_device"]?["finding"] as? String ?? "").contains("does not exist"))
        #expect(neither["lockdown"]?["verdict"] as? String == "ok")
        #expect(neither["devmem_restrictions"]?["verdict"] as? String == "fail")
        let plainPlan = try PlanJSON.object(r[2])
        #expect(plainPlan["method"] as? String == "deep_flush")
        #expect((plainPlan["reason"] as? String ?? "").hasPrefix("passthrough is refused because devmem_restrictions is fail"), "\(plainPlan["reason"] ?? "")")

        // The device under lockdown: passthrough through it, and /dev/mem's checks are not run.
        #expect(r[3].stdout == "none [integrity] confidentiality\n", "\(r[3].stdout)\(r[3].stderr)")
        #expect(r[4].status == 0, "\(r[4].stdout)")
        let device = try Self.checks(r[4])
        #expect(device["hint_device"]?["verdict"] as? String == "ok" && device["hint_device"]?["path"] as? String == Self.node)
        #expect(device["lockdown"]?["verdict"] as? String == "ok")
        #expect(device["privilege"] == nil && device["devmem_restrictions"] == nil && device["devmem_revocation"] == nil)
        let plan = try PlanJSON.object(r[5])
        #expect(plan["method"] as? String == "passthrough", "\(plan["reason"] ?? "")")
        let ranges = plan["ranges"] as? [[String: Any]] ?? []
        #expect(ranges.count == 2 && ranges.allSatisfy { $0["path"] as? String == Self.node }, "\(ranges)")
        #expect(PlanHints.values(r[6]) == PlanHints.zeros(layout.allHints), "zeroed through the node: \(r[6].stdout)\(r[6].stderr)")
        let flushed = try PlanJSON.object(r[7])
        PlanHints.expectOneHintPerDIMM(written: PlanHints.values(r[8]), layout: layout, flushed: [0],
                                       reported: PlanHints.addresses(in: flushed["result"] as? String ?? ""))
        #expect(r[9].status == 0, "\(r[9].stderr)")
        let recipe = try PlanJSON.object(r[9])
        let args = recipe["qemu_args"] as? [String] ?? []
        #expect(args.filter { $0.hasPrefix("memory-backend-file,id=fh") }.allSatisfy { $0.contains("mem-path=\(Self.node),offset=0x37ff") }, "\(args)")
        #expect(!args.contains { $0.contains("/dev/mem") })
        let requirements = recipe["requirements"] as? [String] ?? []
        #expect(requirements.contains { $0.hasPrefix("QEMU's user can open \(Self.node) read-write") }, "\(requirements)")

        // No device under lockdown: lockdown is the cause, first, and qemu names what works.
        #expect(r[10].status == 0, "\(r[10].stderr)")
        let locked = try Self.checks(r[11])
        #expect(locked["lockdown"]?["verdict"] as? String == "fail")
        #expect((locked["lockdown"]?["fix"] as? String ?? "").contains("Load the flushhint module"))
        let lockedPlan = try PlanJSON.object(r[12])
        #expect(lockedPlan["method"] as? String == "deep_flush")
        #expect((lockedPlan["reason"] as? String ?? "").hasPrefix("passthrough is refused because lockdown is fail"), "\(lockedPlan["reason"] ?? "")")
        #expect(r[13].status == 2 && r[13].stderr.split(separator: "\n").count == 1, "\(r[13].stderr)")
        #expect(r[13].stderr.contains("load the flushhint module") && r[13].stderr.contains("virtio-pmem backend"), "\(r[13].stderr)")
    }

    /// `flushctl check --json`'s checks of region0 by id (the first of each id).
    static func checks(_ result: CommandResult) throws -> [String: [String: Any]] {
        let regions = try PlanJSON.array(result)
        let list = regions.first?["checks"] as? [[String: Any]] ?? []
        var byID: [String: [String: Any]] = [:]
        for check in list { if let id = check["id"] as? String, byID[id] == nil { byID[id] = check } }
        return byID
    }
}
