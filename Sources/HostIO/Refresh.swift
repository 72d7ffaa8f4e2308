import OrderedJSON
import SystemPackage
#if canImport(Glibc)
import Glibc
#endif
import FactCache
import FlushPlanning
import HostFiles
import NFIT
import NVDIMMTopology

// Refresh: the host I/O half of the topology cache. Gather what root learns, then write it
// through FactCache under the cache's lock, and give `--group` the device-dax nodes.

extension CacheContents {
    /// Reads the host and plans every backend on it, as root (the udev rule runs it so).
    ///
    /// - Throws: ``HostError`` when the topology cannot be read, or the NFIT is root-only and this
    ///   process may not read it (a cache without hints would only make readers fall back).
    public static func gather(log: (String) -> Void) throws -> CacheContents {
        let snapshot = try HostSnapshot.read()
        if let error = snapshot.nfitError {
            if error.reason == .permissionDenied {
                throw HostError(message: "\(error); refresh must run as root (the udev rule runs it so)")
            }
            log("note: flush hints unknown: \(error)")
        }
        let host = HostFacts.readRunning()
        var checks: [String: [Check]] = [:]
        var plans: [BackendPlan] = []
        var daxDevices: [String] = []
        // In libndctl's order, as the document lists them; each region's facts made once.
        for region in snapshot.topology.allRegions {
            let facts = RegionFacts(region: region, topology: snapshot.topology)
            if HostPlanning.needsChecks(facts) { checks[region.dev] = HostPlanning.checks(for: facts, host: host) }
            guard region.enabled else { continue }
            for ns in region.namespaces where ns.enabled {
                if let chardev = ns.chardev { daxDevices.append("/dev/" + chardev) }
                for path in [ns.chardev, ns.blockdev].compactMap({ $0 }).map({ "/dev/" + $0 }) {
                    do {
                        let backend = try BackendProbe.inspect(path: path).backend
                        let plan = try Planner.plan(backend: backend, region: facts, checks: checks[region.dev] ?? [])
                        plans.append(.planned(PlanReport(plan: plan, checks: [], note: nil, region: facts)))
                    } catch {
                        plans.append(.failed(backend: path, region: region.name, error: "\(error)"))
                    }
                }
            }
        }
        return CacheContents(topology: snapshot.topology, deviceHints: snapshot.deviceHints, checks: checks, plans: plans,
                             daxDevices: daxDevices)
    }
}

extension TopologyCache {
    /// What a refresh did.
    public struct RefreshOutcome: Sendable {
        /// The generation written; `nil` when the cache was already written after `startedAt`.
        public var generation: UInt64?
        /// `--group` changes that failed; the cache was written regardless.
        public var groupFailures: [HostError]
    }

    /// Reads the host, checks and plans (``CacheContents/gather(log:)``) and replaces the cache
    /// at `path` with the document, under the cache's lock (``write(path:startedAt:render:)``).
    /// Then, with `group`, gives that group read and write access to the regions' device-dax
    /// devices: its failures are returned, never stopping the cache from being written.
    public static func refresh(path: String, startedAt: Int64?, group: (name: String, gid: gid_t)?,
                               log: (String) -> Void) throws -> RefreshOutcome {
        var gathered: CacheContents?
        let generation = try write(path: path, startedAt: startedAt) { generation, snapshotBootTime in
            let contents = try CacheContents.gather(log: log)
            gathered = contents
            return try encode(contents, generation: generation, snapshotBootTime: snapshotBootTime)
        }
        var failures: [HostError] = []
        if let group, let devices = gathered?.daxDevices {
            for path in devices {
                // chgrp, then add group read/write to whatever mode udev gave the node.
                if chown(path, uid_t.max, group.gid) != 0 {
                    failures.append(HostError(path: path, operation: "chgrp \(group.name)", errno: Errno.last))
                    continue
                }
                var st = stat()
                if stat(path, &st) != 0 || chmod(path, (st.st_mode & 0o7777) | 0o060) != 0 {
                    failures.append(HostError(path: path, operation: "chmod g+rw", errno: Errno.last))
                }
            }
        }
        return RefreshOutcome(generation: generation, groupFailures: failures)
    }
}
