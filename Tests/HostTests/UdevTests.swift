import Foundation
import Testing

/// The udev rule (udev/60-flushctl.rules) with Debian's real systemd-udevd in the emulated
/// host: events write the topology cache through `flushctl refresh`, and unprivileged `list`
/// and `plan` read it. One boot: scenario `udev/devdax-udevd` (interleave layout as
/// device-dax, systemd-udevd and udevadm copied from the host's `udev` package).
@Suite(.serialized) struct UdevTests {
    static let scenario = "Tests/hostsim/scenarios/udev/devdax-udevd.json"
    static let cache = "/run/flushctl/topology.json"

    /// The repository's rule with its RUN path where hostsim puts flushctl (/usr/bin), as
    /// `udev/install.sh PREFIX=/usr` would install it.
    static func rulesCommand() throws -> String {
        let url = EmulatedHost.repositoryRoot.appendingPathComponent("udev/60-flushctl.rules")
        let rules = try String(contentsOf: url, encoding: .utf8)
        #expect(rules.contains("RUN+=\"/usr/local/bin/flushctl refresh --detach\""), "the rule's RUN path is what install.sh rewrites")
        let guest = rules.replacingOccurrences(of: "/usr/local/bin/flushctl", with: "/usr/bin/flushctl")
        return "mkdir -p /etc/udev/rules.d && cat > /etc/udev/rules.d/60-flushctl.rules <<'RULES'\n\(guest)RULES\n"
    }

    /// The cache document a command printed with `cat`, parsed.
    static func document(_ r: CommandResult) throws -> [String: Any] {
        guard let object = try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any] else {
            throw EmulatedHostError(description: "\(r.command) (exit \(r.status)) printed no cache document: \(r.stdout)\(r.stderr)")
        }
        return object
    }

    /// Every `"dev"` value anywhere in `value`.
    static func devs(_ value: Any?) -> Set<String> {
        switch value {
        case let o as [String: Any]:
            return o.values.reduce(into: Set((o["dev"] as? String).map { [$0] } ?? [])) { $0.formUnion(devs($1)) }
        case let a as [Any]:
            return a.reduce(into: Set<String>()) { $0.formUnion(devs($1)) }
        default:
            return []
        }
    }

    static func generation(_ d: [String: Any]) -> Int { (d["generation"] as? NSNumber)?.intValue ?? -1 }

    static func regionEnabled(_ d: [String: Any], _ dev: String) -> Bool? {
        (d["regions"] as? [[String: Any]])?.first(where: { $0["dev"] as? String == dev })?["enabled"] as? Bool
    }

    @Test func udevEventsKeepTheCacheCurrentForUnprivilegedReaders() throws {
        // udev's queue drains first, then the detached refreshes finish.
        // (busybox has no pgrep: a process whose argv[0] is /usr/bin/flushctl is a refresh.)
        let settle = "udevadm settle -t 120 && busy() { for f in /proc/[0-9]*/cmdline; do [ \"$(head -c 17 $f 2>/dev/null)\" = /usr/bin/flushctl ] && return 0; done; return 1; } && while busy; do sleep 0.2; done"
        let r = try EmulatedHost.run(scenario: Self.scenario, commands: [
            try Self.rulesCommand(),
            "/lib/systemd/systemd-udevd --daemon && \(settle)",
            // 2: coldplug the nd devices as boot does.
            "udevadm trigger --subsystem-match=nd --action=add && \(settle) && cat \(Self.cache)",
            // 3, 4: the region goes and comes back.
            "ndctl disable-region region0 && \(settle) && cat \(Self.cache)",
            "ndctl enable-region region0 && \(settle) && cat \(Self.cache)",
            // 5: a burst of events from parallel triggers.
            "for i in 1 2 3 4 5 6; do udevadm trigger --subsystem-match=nd --subsystem-match=dax --action=change & done; wait; \(settle) && cat \(Self.cache)",
            "ls -ln /run/flushctl; stat -c '%a %n' /run/flushctl /run/flushctl/topology.json",
            // 7, 8: unprivileged readers.
            "su -s /bin/sh -c 'flushctl list -BDRN' nobody",
            "su -s /bin/sh -c 'flushctl plan /dev/dax0.0 --json' nobody",
            // 9: what udev makes of the rule for a region.
            "udevadm test /sys/bus/nd/devices/region0 2>&1",
            // 10-12: with udevd stopped the cache falls behind: readers must say stale.
            "udevadm control --exit && ndctl disable-region region0 && su -s /bin/sh -c 'flushctl list -R -i' nobody",
            "su -s /bin/sh -c 'flushctl list -R -i --cached' nobody",
            "/lib/systemd/systemd-udevd --daemon && udevadm trigger --subsystem-match=nd --action=change && \(settle) && su -s /bin/sh -c 'flushctl list -R -i' nobody",
            // 13: --group hands the device-dax node to a group; 14: refresh needs root.
            "ndctl enable-region region0 >/dev/null 2>&1 && \(settle) && echo 'kvm:x:78:' >> /etc/group && stat -c '%G %a' /dev/dax0.0 && flushctl refresh --group kvm && stat -c '%G %a' /dev/dax0.0",
            "mkdir -m 755 /tmp/nb && chown nobody /tmp/nb && su -s /bin/sh -c 'flushctl refresh --cache /tmp/nb/topology.json' nobody; echo status=$?; ls /tmp/nb/topology.json",
            // 15-17: a dax device's driver unbound and bound again (what `daxctl reconfigure-device`
            // does), with no nd event: the dax rule's bind/unbind refresh the cache.
            "\(settle) && cat \(Self.cache)",
            "daxctl disable-device dax0.0 && \(settle) && cat \(Self.cache)",
            "daxctl enable-device dax0.0 && \(settle) && cat \(Self.cache)",
            // 18: what udev makes of the rule for those two actions.
            "udevadm test --action=unbind /sys/bus/dax/devices/dax0.0 2>&1 && udevadm test --action=bind /sys/bus/dax/devices/dax0.0 2>&1",
        ])
        for i in 0...6 { #expect(r[i].status == 0, "\(r[i].command): \(r[i].stdout)\(r[i].stderr)") }

        // Coldplug wrote the cache: region0 enabled, its plan for /dev/dax0.0, and the flush hints.
        let first = try Self.document(r[2])
        #expect(first["format"] as? String == "flushctl-topology-cache")
        #expect(Self.generation(first) >= 1)
        #expect(Self.regionEnabled(first, "region0") == true)
        #expect(Self.devs(first["topology"]).contains("region0"))
        let plans = try #require(first["plans"] as? [[String: Any]])
        #expect(plans.contains { $0["backend"] as? String == "/dev/dax0.0" && $0["region"] as? String == "region0" }, "\(plans)")
        #expect((first["hints_by_handle"] as? [Any])?.count == 2, "two DIMMs with hints")
        #expect((first["timestamp"] as? String)?.hasSuffix("Z") == true)
        #expect(first["kernel"] as? String != nil)

        // disable-region: region0 leaves the listing and the plans; enable: it comes back.
        let disabled = try Self.document(r[3])
        #expect(Self.generation(disabled) > Self.generation(first))
        #expect(Self.regionEnabled(disabled, "region0") == false)
        #expect(!Self.devs(disabled["topology"]).contains("region0"), "a disabled region is not listed without -i")
        #expect((disabled["plans"] as? [Any])?.isEmpty == true)
        let enabled = try Self.document(r[4])
        #expect(Self.generation(enabled) > Self.generation(disabled))
        #expect(Self.regionEnabled(enabled, "region0") == true)
        #expect(Self.devs(enabled["topology"]).contains("region0"))

        // The burst: one valid document, a newer generation, nothing left over but the lock.
        let burst = try Self.document(r[5])
        #expect(Self.generation(burst) > Self.generation(enabled))
        let names = r[6].stdout.split(separator: "\n").compactMap { $0.split(separator: " ").last.map(String.init) }
        #expect(names.filter { $0.hasPrefix("topology.json") }.sorted() == ["topology.json", "topology.json.lock"], "\(r[6].stdout)")
        #expect(r[6].stdout.contains("755 /run/flushctl\n") && r[6].stdout.contains("644 /run/flushctl/topology.json"), "\(r[6].stdout)")

        // nobody cannot read the NFIT, so list shows the cached hints and says so.
        #expect(r[7].status == 0, "\(r[7].stderr)")
        #expect(r[7].stdout.contains("\"flush_hints\""), "cached hints listed: \(r[7].stdout)")
        #expect(r[7].stderr.contains("read from cache \(Self.cache) (generation") && r[7].stderr.contains("ago"), "\(r[7].stderr)")
        #expect(r[8].status == 0, "\(r[8].stderr)")
        #expect(r[8].stderr.contains("read from cache \(Self.cache)"), "\(r[8].stderr)")
        let plan = try #require(try? JSONSerialization.jsonObject(with: Data(r[8].stdout.utf8)) as? [String: Any], "\(r[8].stdout)")
        #expect(plan["method"] as? String == "deep_flush", "no /dev/mem for nobody, and strict devmem: \(plan)")
        let dimms = try #require(plan["dimms"] as? [[String: Any]])
        #expect(dimms.count == 2 && dimms.allSatisfy { ($0["flush_hints"] as? [Any])?.isEmpty == false }, "hints known from the cache: \(dimms)")

        // udevadm test shows the rule matching region0.
        #expect(r[9].stdout.contains("60-flushctl.rules") && r[9].stdout.contains("RUN '/usr/bin/flushctl refresh --detach'"), "\(r[9].stdout)")

        // Stale: not used silently; forced, an error.
        #expect(r[10].status == 0, "\(r[10].stderr)")
        #expect(r[10].stderr.contains("cache not used") && r[10].stderr.contains("stale") && r[10].stderr.contains("region0 is now disabled"), "\(r[10].stderr)")
        #expect(!r[10].stdout.contains("flush_hint"), "no hints from a stale cache: \(r[10].stdout)")
        #expect(r[11].status == 2, "\(r[11].stdout)")
        #expect(r[11].stderr.contains("stale"), "\(r[11].stderr)")
        #expect(r[12].status == 0 && r[12].stderr.contains("read from cache"), "\(r[12].stderr)")

        #expect(r[13].status == 0, "\(r[13].stderr)")
        #expect(r[13].stdout == "root 600\nkvm 660\n", "\(r[13].stdout)")
        #expect(r[14].stdout.contains("status=2") && r[14].stderr.contains("refresh must run as root"), "\(r[14].stdout)\(r[14].stderr)")
        #expect(r[14].stderr.contains("No such file"), "no cache written by a failed refresh: \(r[14].stderr)")

        // dax unbind and bind each refreshed the cache.
        for i in 15...18 { #expect(r[i].status == 0, "\(r[i].command): \(r[i].stdout)\(r[i].stderr)") }
        let beforeUnbind = try Self.document(r[15])
        let unbound = try Self.document(r[16])
        let bound = try Self.document(r[17])
        #expect(Self.generation(unbound) > Self.generation(beforeUnbind), "daxctl disable-device (unbind) refreshed the cache")
        #expect(Self.generation(bound) > Self.generation(unbound), "daxctl enable-device (bind) refreshed the cache")
        let runs = r[18].stdout.components(separatedBy: "RUN '/usr/bin/flushctl refresh --detach'").count - 1
        #expect(runs == 2, "the rule runs refresh for dax unbind and bind: \(r[18].stdout)")
    }
}
