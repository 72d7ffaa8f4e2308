import HostFiles
import NFIT
import NVDIMMTopology
import FlushPlanning
import OrderedJSON

// The cache document as refresh writes it; TopologyCache.swift reads it back
// (``TopologyCache/decode(_:path:)``).

/// What a refresh learned from the host: the topology with the NFIT's hints, root's mapping
/// checks of every region that could pass through, and the plan of every enabled region's
/// device-dax and fsdax backend. HostIO gathers it (`CacheContents.gather(log:)`);
/// ``TopologyCache/encode(_:generation:snapshotBootTime:)`` turns it into the cache document.
public struct CacheContents: Sendable {
    /// One backend's plan, or why it could not be planned.
    public enum BackendPlan: Sendable {
        /// The plan (without checks: the region's checks are stored once, with the region).
        case planned(PlanReport)
        /// Planning `backend` on `region` failed with `error`.
        case failed(backend: String, region: RegionName, error: String)
    }

    /// The topology as read, flush hints from the NFIT.
    public var topology: Topology
    /// The NFIT's flush hints per device handle; `nil` when the NFIT could not be read.
    public var deviceHints: [NFITDeviceHints]?
    /// Root's checks per region (`regionN`), for the regions ``HostPlanning/needsChecks(_:)`` selects.
    public var checks: [String: [Check]]
    /// Every enabled region's enabled namespaces' backends (`/dev/daxX.Y`, `/dev/pmemN`), planned.
    public var plans: [BackendPlan]
    /// The device-dax character devices among them, for `--group`.
    public var daxDevices: [String]

    /// Creates what a refresh learned.
    public init(topology: Topology, deviceHints: [NFITDeviceHints]?, checks: [String: [Check]],
                plans: [BackendPlan], daxDevices: [String]) {
        self.topology = topology; self.deviceHints = deviceHints; self.checks = checks
        self.plans = plans; self.daxDevices = daxDevices
    }
}

extension TopologyCache {
    /// The cache document for `contents`: what ``decode(_:path:)`` reads back, plus the full
    /// topology listing and plans for other readers (a VMM's tooling), in `flushctl list` and
    /// `flushctl plan` JSON.
    public static func encode(_ contents: CacheContents, generation: UInt64, snapshotBootTime: Int64) throws(HostError) -> [UInt8] {
        let topology = contents.topology
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
        if let devices = contents.deviceHints {
            doc.append(("hints_by_handle", .array(devices.sorted { $0.handle < $1.handle }.map { device in
                .object([("handle", .hex(device.handle)), ("flush_hints", .array(device.addresses.map { .hex($0) }))])
            })))
        }
        doc.append(("regions", .array(regions)))
        doc.append(("topology", listing.isEmpty ? .array([]) : listingToJSON(listing)))
        doc.append(("plans", .array(plans)))
        return Array((JSONValue.object(doc).prettyPrinted() + "\n").utf8)
    }
}
