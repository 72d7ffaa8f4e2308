import Foundation
import Testing

/// `flushctl refresh` where the host is not as the udev rule expects (issue 13 item 5), on the
/// emulated host with the interleave layout as device-dax.
@Suite(.serialized) struct RefreshTests {
    static let scenario = "Tests/hostsim/scenarios/plan/interleave-devdax.json"

    /// A `--group` change that fails (here chown on a read-only bind mount of the device node)
    /// does not stop the cache from being written; refresh says what failed and exits 1.
    /// Without systemd-run on a host that systemd runs, `--detach` refreshes in a new session
    /// instead of failing.
    @Test func groupFailureStillWritesAndDetachWithoutSystemdRun() throws {
        let r = try EmulatedHost.run(scenario: Self.scenario, commands: [
            "echo 'kvm:x:78:' >> /etc/group && mkdir -m 755 /tmp/g && mount --bind /dev/dax0.0 /dev/dax0.0 && mount -o remount,bind,ro /dev/dax0.0 && stat -c '%G' /dev/dax0.0",
            "flushctl refresh --group kvm --cache /tmp/g/topology.json",
            "grep -c '\"generation\":1' /tmp/g/topology.json && stat -c '%G' /dev/dax0.0",
            // systemd "runs" the host (its marker directory), but there is no systemd-run.
            "mkdir -p /run/systemd/system /tmp/d && chmod 755 /tmp/d && ! command -v systemd-run && flushctl refresh --detach --cache /tmp/d/topology.json",
            "for i in $(seq 1 100); do [ -s /tmp/d/topology.json ] && break; sleep 0.2; done; grep -c '\"format\":\"flushctl-topology-cache\"' /tmp/d/topology.json",
        ], append: "iomem=relaxed")
        #expect(r[0].status == 0, "\(r[0].stderr)")
        let owner = r[0].stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(r[1].status == 1, "a --group failure is an error: \(r[1].stderr)")
        #expect(r[1].stderr.contains("wrote /tmp/g/topology.json generation 1"), "\(r[1].stderr)")
        #expect(r[1].stderr.contains("error: --group kvm: /dev/dax0.0: chgrp kvm: Read-only file system"), "\(r[1].stderr)")
        #expect(r[2].status == 0 && r[2].stdout.hasPrefix("1\n"), "the cache was written: \(r[2].stdout)\(r[2].stderr)")
        #expect(r[2].stdout.hasSuffix(owner + "\n"), "the node kept its group: \(r[2].stdout)")
        #expect(r[3].status == 0, "--detach without systemd-run: \(r[3].stderr)")
        #expect(r[3].stderr.contains("systemd-run is not in"), "\(r[3].stderr)")
        #expect(r[4].status == 0 && r[4].stdout == "1\n", "the detached refresh wrote the cache: \(r[4].stdout)\(r[4].stderr)")
    }
}
