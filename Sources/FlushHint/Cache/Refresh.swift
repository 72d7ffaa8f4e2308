import OrderedJSON
import SystemPackage
#if canImport(Glibc)
import Glibc
#endif

/// What a refresh learned from the host: the snapshot, root's mapping checks of every region
/// that could pass through, and the plan of every enabled region's device-dax and fsdax backend.
/// ``TopologyCache/encode(_:generation:snapshotBootTime:)`` turns it into the cache document.
public struct CacheContents: Sendable {
    /// One backend's plan, or why it could not be planned.
    public enum BackendPlan: Sendable {
        /// The plan (without checks: the region's checks are stored once, with the region).
        case planned(PlanReport)
        /// Planning `backend` on `region` failed with `error`.
        case failed(backend: String, region: RegionName, error: String)
    }

    /// The host as read, flush hints from the NFIT.
    public var snapshot: HostSnapshot
    /// Root's checks per region (`regionN`), for the regions ``HostPlanning/needsChecks(_:)`` selects.
    public var checks: [String: [Check]]
    /// Every enabled region's enabled namespaces' backends (`/dev/daxX.Y`, `/dev/pmemN`), planned.
    public var plans: [BackendPlan]
    /// The device-dax character devices among them, for `--group`.
    public var daxDevices: [String]

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
                        let backend = try BackendProbe.inspect(path: path)
                        let plan = try Planner.plan(backend: backend, region: facts, checks: checks[region.dev] ?? [])
                        plans.append(.planned(PlanReport(plan: plan, checks: [], note: nil, region: facts)))
                    } catch {
                        plans.append(.failed(backend: path, region: region.name, error: "\(error)"))
                    }
                }
            }
        }
        return CacheContents(snapshot: snapshot, checks: checks, plans: plans, daxDevices: daxDevices)
    }
}

extension TopologyCache {
    /// The cache document for `contents`: what ``decode(_:path:)`` reads back, plus the full
    /// topology listing and plans for other readers (a VMM's tooling), in `flushctl list` and
    /// `flushctl plan` JSON.
    public static func encode(_ contents: CacheContents, generation: UInt64, snapshotBootTime: Int64) throws(HostError) -> [UInt8] {
        let topology = contents.snapshot.topology
        let regions: [JSONValue] = regions(of: topology).map { summary in
            var members: [(String, JSONValue)] = [
                ("dev", .string(summary.dev)),
                ("enabled", .bool(summary.enabled)),
                ("size", .integer(summary.size)),
                ("dimms", .array(summary.dimms.map { d in
                    var m: [(String, JSONValue)] = [("dev", .string(d.dev))]
                    if let h = d.handle { m.append(("handle", .hex(h))) }
                    return .object(m)
                })),
            ]
            if let checks = contents.checks[summary.dev] { members.append(("checks", .array(checks.map(checkToJSON)))) }
            return .object(members)
        }
        let plans: [JSONValue] = contents.plans.map { outcome in
            switch outcome {
            case .planned(let report):
                return planToJSON(report)
            case .failed(let backend, let region, let error):
                return .object([("backend", .string(backend)), ("region", .string(region.dev)), ("error", .string(error))])
            }
        }
        let listing = topology.listing(ListOptions(buses: true, dimms: true, regions: true, namespaces: true))

        let now = currentUnixTime()
        var doc: [(String, JSONValue)] = [
            ("format", .string(formatName)),
            ("version", .integer(formatVersion)),
            ("generation", .integer(generation)),
            ("timestamp", .string(iso8601(now))),
            ("unix_time", .integer(now)),
            ("snapshot_boottime_ns", .integer(snapshotBootTime)),
            ("boot_id", .string(try currentBootID())),
            ("kernel", .string(kernelRelease())),
            ("flush_hints", .bool(topology.hasFlushHints)),
        ]
        if let devices = contents.snapshot.deviceHints {
            doc.append(("hints_by_handle", .array(devices.sorted { $0.handle < $1.handle }.map { device in
                .object([("handle", .hex(device.handle)), ("flush_hints", .array(device.addresses.map { .hex($0) }))])
            })))
        }
        doc.append(("regions", .array(regions)))
        doc.append(("topology", listing.isEmpty ? .array([]) : listingToJSON(listing)))
        doc.append(("plans", .array(plans)))
        return Array((JSONValue.object(doc).prettyPrinted() + "\n").utf8)
    }

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
                    failures.append(HostError(path: path, operation: "chgrp \(group.name)", errno: Errno(rawValue: errno)))
                    continue
                }
                var st = stat()
                if stat(path, &st) != 0 || chmod(path, (st.st_mode & 0o7777) | 0o060) != 0 {
                    failures.append(HostError(path: path, operation: "chmod g+rw", errno: Errno(rawValue: errno)))
                }
            }
        }
        return RefreshOutcome(generation: generation, groupFailures: failures)
    }
}
