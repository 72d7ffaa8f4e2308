import NFIT
import SystemPackage
import FactCache
import FlushPlanning
import HostFiles
import NVDIMMTopology

/// Why the host could not be read.
public enum SnapshotError: Error, Sendable, Equatable, CustomStringConvertible {
    /// libndctl could not read the topology.
    case topology(HostError)
    /// The cache was required (``CachePolicy/always(path:)``) and is missing, unreadable or stale.
    case requiredCache(HostError)

    /// One line.
    public var description: String {
        switch self {
        case .topology(let error): return error.description
        case .requiredCache(let error): return "the required topology cache cannot be used: \(error)"
        }
    }
}

/// Where a snapshot's flush hints, and root's mapping checks, came from.
public enum FactSource: Sendable, Equatable {
    /// Read from this host now: the NFIT, and the checks run by this process.
    case host
    /// From the topology cache `flushctl refresh` wrote as root, checked against the live
    /// topology before use.
    case cache(path: String, CachedTopology)

    /// `host` or `cache`, as JSON and notes name it.
    public var name: String {
        switch self {
        case .host: return "host"
        case .cache: return "cache"
        }
    }
}

/// One read of the host: the topology through libndctl with every DIMM's flush hints joined
/// by NFIT handle, and where those hints came from. The one way `list`, `plan`, `check`,
/// `flush`, `bench` and `refresh` read the host.
///
/// The rule for the cache is the same for every command (``read(cache:needsHints:)``):
/// forced with ``CachePolicy/always(path:)``; otherwise used only when the NFIT is root-only
/// and this process may not read it, and only when it matches the live topology. Hints that
/// cannot be had are unknown (`nil`), never "none": no plan says passthrough or none on them.
public struct HostSnapshot: Sendable {
    /// The topology, with flush hints attached when ``Topology/hasFlushHints``.
    public var topology: Topology
    /// Where the flush hints (and, for `cache`, root's checks) came from.
    public var source: FactSource = .host
    /// The hints per NFIT device handle as read, in table order (or by handle from the cache);
    /// `nil` when unknown or not read.
    public var deviceHints: [NFITDeviceHints]? = nil
    /// The host NFIT's platform capabilities structure, when this process read the NFIT
    /// (``HostPlatformCapabilities/unread`` from the cache, which does not keep it).
    public var platformCapabilities: HostPlatformCapabilities = .unread
    /// Why the NFIT could not be read, when it was tried and failed.
    public var nfitError: NFITReadError? = nil
    /// Why the flush hints are unknown, for a note; `nil` when they are known or were not needed.
    public var note: String? = nil

    /// Reads the host.
    ///
    /// - Parameters:
    ///   - policy: when the topology cache may stand in for the root-only NFIT.
    ///   - needsHints: whether this read needs flush hints at all, given the topology (`list`
    ///     without `-D`/`-R` does not); the default reads them whenever there is a bus.
    /// - Throws: ``SnapshotError`` when libndctl cannot read the topology, or when the cache is
    ///   required and missing, unreadable or stale.
    public static func read(cache policy: CachePolicy = .never,
                            needsHints: (Topology) -> Bool = { !$0.buses.isEmpty }) throws(SnapshotError) -> HostSnapshot {
        let live: Topology
        do {
            live = try Topology.read()
        } catch {
            throw .topology(HostError(message: "cannot read the NVDIMM topology through libndctl: \(error)", errno: error))
        }
        if case .always(let path) = policy {
            do {
                return fromCache(try TopologyCache.readVerified(path: path, live: live), path: path, live: live, note: nil)
            } catch {
                throw .requiredCache(error)
            }
        }
        guard needsHints(live) else { return HostSnapshot(topology: live) }
        let devices: [NFITDeviceHints]
        let capabilities: NFITPlatformCapabilities?
        do {
            (devices, capabilities) = try NFITFlushHints.readFacts()
        } catch {
            var snapshot = HostSnapshot(topology: live.attachingFlushHints(nil), nfitError: error,
                                        note: "flush hints unknown: \(error)")
            if error.reason == .permissionDenied, let path = policy.path {
                do {
                    return fromCache(try TopologyCache.readVerified(path: path, live: live), path: path, live: live,
                                     note: snapshot.note)
                } catch {
                    snapshot.note = (snapshot.note ?? "") + "; cache not used: \(error)"
                }
            }
            return snapshot
        }
        return HostSnapshot(topology: live.attachingFlushHints(devices), deviceHints: devices,
                            platformCapabilities: .read(capabilities))
    }

    /// The snapshot with the cache's hints; when the cache has none (refresh could not read
    /// the NFIT either), the hints stay unknown and the note says so.
    private static func fromCache(_ cached: CachedTopology, path: String, live: Topology, note: String?) -> HostSnapshot {
        guard let byHandle = cached.hintsByHandle else {
            let why = (note.map { $0 + "; " } ?? "flush hints unknown: ") + "the cache has no flush hints either (refresh could not read the NFIT)"
            return HostSnapshot(topology: live.attachingFlushHints(nil), source: .cache(path: path, cached), note: why)
        }
        let devices = byHandle.keys.sorted().map { NFITDeviceHints(handle: $0, addresses: byHandle[$0] ?? []) }
        return HostSnapshot(topology: live.attachingFlushHints(devices), source: .cache(path: path, cached),
                            deviceHints: devices)
    }

    /// Where the hints came from, for a note on stderr: `nil` for the host, else the cache's
    /// path, generation and age (``TopologyCache/provenance(_:path:now:)``).
    public var provenance: String? {
        guard case .cache(let path, let cached) = source else { return nil }
        return TopologyCache.provenance(cached, path: path)
    }

    /// The region named `name` (`regionN` or `N`, as a user writes it) as the planner sees it.
    ///
    /// - Throws: ``HostError`` naming the regions there are, when there is no such region.
    public func region(named name: String) throws(HostError) -> RegionFacts {
        guard let parsed = RegionName(parsing: name), let region = topology.region(parsed) else { throw noRegion(name) }
        return RegionFacts(region: region, topology: topology)
    }

    /// The region `name` as the planner sees it.
    ///
    /// - Throws: ``HostError`` naming the regions there are, when there is no such region.
    public func region(_ name: RegionName) throws(HostError) -> RegionFacts {
        guard let region = topology.region(name) else { throw noRegion(name.dev) }
        return RegionFacts(region: region, topology: topology)
    }

    private func noRegion(_ name: String) -> HostError {
        let known = topology.allRegions.map(\.dev)
        return HostError(message: "\(name): no such region (regions: \(known.isEmpty ? "none, no NVDIMM bus" : known.joined(separator: ", ")))")
    }

    /// Every region as the planner sees it, in ndctl's order (by number).
    public var regions: [RegionFacts] {
        topology.allRegions.sorted { $0.id < $1.id }.map { RegionFacts(region: $0, topology: topology) }
    }

    /// The enabled regions some of whose DIMMs have flush hints, in ndctl's order: what `check`
    /// and `bench` look at when no region is named.
    public var regionsWithHints: [RegionFacts] {
        regions.filter { $0.enabled && $0.hasHints }
    }

    /// The /dev/mem checks for `facts`' hint pages: root's, as the cache recorded them, with
    /// the privilege check run again for this process (root's mmap proof stands for the pages,
    /// but whether the caller may open /dev/mem is its own fact); else run now on this host.
    public func checks(for facts: RegionFacts, host: @autoclosure () -> HostFacts = HostFacts.readRunning()) -> [Check] {
        if case .cache(_, let cached) = source {
            guard let stored = cached.region(named: facts.name.dev)?.checks else { return [] }
            return stored.map { $0.id == .privilege ? DevMemChecks.privilege(Privilege.current()) : $0 }
        }
        return HostPlanning.checks(for: facts, host: host())
    }
}
