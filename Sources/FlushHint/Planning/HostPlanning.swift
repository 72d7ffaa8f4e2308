import SystemPackage
#if canImport(Glibc)
import Glibc
#endif

/// A plan with everything it was decided from, as `flushctl plan` prints it.
public struct PlanReport: Sendable {
    /// The plan.
    public var plan: Plan
    /// The checks of the backend's region (empty for a backend on no region).
    public var checks: [Check]
    /// A note about facts that could not be read (for example the NFIT without root).
    public var note: String?
    /// The facts of the backend's region, when it is on one.
    public var region: RegionFacts?
    /// When flush hints and checks came from the topology cache: where from and how old
    /// (``TopologyCache/provenance(_:path:now:)``), for the command to say on stderr.
    public var cache: String?

    /// Creates a report.
    public init(plan: Plan, checks: [Check], note: String?, region: RegionFacts? = nil, cache: String? = nil) {
        self.plan = plan
        self.checks = checks
        self.note = note
        self.region = region
        self.cache = cache
    }
}

/// Why the host could not be planned for: the topology or a region could not be found.
public struct HostPlanningError: Error, Sendable, CustomStringConvertible {
    /// The message, naming what was wrong.
    public var description: String

    /// Creates an error.
    public init(_ description: String) { self.description = description }
}

/// Reads the host and runs the pure planning functions on what it found. This is the only
/// part of planning that needs a real host; the commands call it and only format.
public enum HostPlanning {
    /// The topology with flush hints, and a note when the NFIT could not be read (the hints
    /// are then unknown, which no plan treats as "none").
    public static func readTopology() throws(HostPlanningError) -> (topology: Topology, note: String?) {
        let topology: Topology
        do {
            topology = try Topology.read()
        } catch {
            throw HostPlanningError("cannot read the NVDIMM topology through libndctl: \(error)")
        }
        // No bus, nothing to join: skip the NFIT and any note about it.
        if topology.buses.isEmpty { return (topology, nil) }
        do {
            return (topology.attachingFlushHints(try NFITFlushHints.read()), nil)
        } catch {
            return (topology.attachingFlushHints(nil), "flush hints unknown: \(error)")
        }
    }

    /// Like ``readTopology()``, but when `cache` allows it the flush hints come from the
    /// topology cache `flushctl refresh` wrote: always with ``CachePolicy/always(path:)``, or
    /// when the NFIT is root-only and this process cannot read it with
    /// ``CachePolicy/whenNFITUnreadable(path:)``. A cache that disagrees with the live
    /// topology is never used: forced, that is an error; otherwise the hints stay unknown
    /// (so no plan says passthrough or none) and the note says the cache is stale.
    public static func readTopology(cache policy: CachePolicy) throws(HostPlanningError) -> (topology: Topology, note: String?, cached: CachedTopology?) {
        guard case .always(let path) = policy else {
            let (topology, note) = try readTopology()
            guard case .whenNFITUnreadable(let path) = policy, topology.hasFlushHints == false, !topology.buses.isEmpty,
                  Privilege.current().effectiveUID != 0, (try? SmallFile.read(NFITFlushHints.defaultPath, limit: 1)) == nil else {
                return (topology, note, nil)
            }
            do {
                let cached = try TopologyCache.readVerified(path: path, live: topology)
                guard let hints = cached.hintsByHandle else {
                    return (topology, (note.map { $0 + "; " } ?? "") + "the cache has no flush hints either", nil)
                }
                return (topology.attachingFlushHints(hints), nil, cached)
            } catch {
                return (topology, (note.map { $0 + "; " } ?? "") + "cache not used: \(error)", nil)
            }
        }
        let topology: Topology
        do {
            topology = try Topology.read()
        } catch {
            throw HostPlanningError("cannot read the NVDIMM topology through libndctl: \(error)")
        }
        let cached: CachedTopology
        do { cached = try TopologyCache.readVerified(path: path, live: topology) } catch {
            throw HostPlanningError("--cached: \(error)")
        }
        guard let hints = cached.hintsByHandle else {
            return (topology.attachingFlushHints(nil), "flush hints unknown: the cache has none (refresh could not read the NFIT)", cached)
        }
        return (topology.attachingFlushHints(hints), nil, cached)
    }

    /// The checks root ran for `region` when it wrote `cached`, with the privilege check run
    /// again for this process: root's mmap proof stands for the pages, but whether the caller
    /// may open /dev/mem is the caller's own fact.
    public static func cachedChecks(for region: String, in cached: CachedTopology) -> [Check] {
        guard let stored = cached.region(named: region)?.checks, !stored.isEmpty else { return [] }
        return stored.map { $0.id == .privilege ? DevMemChecks.privilege(Privilege.current()) : $0 }
    }

    /// Whether a plan for `facts` could pass through, so its checks matter (for refresh,
    /// which runs them once per region).
    public static func regionNeedsChecks(_ facts: RegionFacts) -> Bool {
        facts.enabled && !facts.dimms.isEmpty && facts.dimms.allSatisfy { !($0.hints ?? []).isEmpty }
    }

    /// The facts of the region named `name` (`regionN` or `N`).
    public static func regionFacts(named name: String, in topology: Topology) throws(HostPlanningError) -> RegionFacts {
        let dev = name.allSatisfy({ $0.isASCII && $0.isNumber }) && !name.isEmpty ? "region" + name : name
        guard let region = topology.region(named: dev) else {
            let known = topology.allRegions.map(\.dev)
            throw HostPlanningError("\(name): no such region (regions: \(known.isEmpty ? "none, no NVDIMM bus" : known.joined(separator: ", ")))")
        }
        return RegionFacts(region: region, topology: topology)
    }

    /// The checks for mapping `facts`' hint pages, with the mmap proof tried on each page
    /// whose owner check passed (never map RAM, another device's registers or a page of
    /// unknown owner, even for a test).
    /// `devMem` is where pages are mapped from (tests use a regular file).
    public static func checks(for facts: RegionFacts, host: HostFacts, proveMapping: Bool = true,
                              devMem: String = PlanConstants.devMem) -> [Check] {
        let pages = facts.hintPages
        var proofs: [UInt64: MapProof] = [:]
        if proveMapping {
            for use in pages {
                let owner = DevMemChecks.owner(page: use.page, iomem: host.iomem, region: facts.name)
                guard owner.verdict.allowsPassthrough else { continue }
                do {
                    let mapped = try MappedHintPages(pages: [use.page], path: devMem)
                    _ = consume mapped
                    proofs[use.page] = .mapped
                } catch {
                    proofs[use.page] = .failed("\(error.call): \(error.errno)")
                }
            }
        }
        return DevMemChecks.evaluate(facts: host, region: facts.name, pages: pages, proofs: proofs)
    }

    /// Inspects `path`, reads its region's facts and the host's, proves the mapping, and plans.
    /// With `cache`, the hints and the root-only checks may come from the topology cache
    /// (see ``readTopology(cache:)``); the report's ``PlanReport/cache`` then says so.
    public static func plan(backendPath path: String, guestBase: UInt64?, cache: CachePolicy = .never) throws -> PlanReport {
        let backend = try BackendProbe.inspect(path: path)
        guard let regionName = backend.region else {
            return PlanReport(plan: try Planner.plan(backend: backend, region: nil, checks: [], guestBase: guestBase),
                              checks: [], note: nil)
        }
        if isPageCache(backend) {
            // fsync whatever the region: its facts only add detail, so failing to read them
            // is a note, not an error.
            var facts: RegionFacts?
            var note: String?
            var provenance: String?
            do {
                let read = try readTopology(cache: cache)
                facts = try regionFacts(named: regionName, in: read.topology)
                note = read.note
                provenance = read.cached.map { TopologyCache.provenance($0, path: cache.path ?? "") }
            } catch {
                note = "region details unavailable: \(error)"
            }
            let plan = try Planner.plan(backend: backend, region: facts, checks: [], guestBase: guestBase)
            return PlanReport(plan: plan, checks: [], note: note, region: facts, cache: provenance)
        }
        let (topology, note, cached) = try readTopology(cache: cache)
        let facts = try regionFacts(named: regionName, in: topology)
        let checks: [Check]
        if !needsChecks(backend: backend, facts: facts) {
            checks = []
        } else if let cached {
            checks = cachedChecks(for: facts.name, in: cached)
        } else {
            checks = self.checks(for: facts, host: HostFacts.readRunning())
        }
        let plan = try Planner.plan(backend: backend, region: facts, checks: checks, guestBase: guestBase)
        return PlanReport(plan: plan, checks: checks, note: note, region: facts,
                          cache: cached.map { TopologyCache.provenance($0, path: cache.path ?? "") })
    }

    /// Whether the backend's writes need fsync whatever its region says.
    static func isPageCache(_ backend: Backend) -> Bool {
        switch backend {
        case .otherFile, .blockDevice, .daxFile(_, _, .refused, _), .daxFile(_, _, .accepted, false): return true
        case .deviceDAX, .daxFile: return false
        }
    }

    /// Plans for a region itself (as a device-dax backend would be planned: no fsync).
    public static func plan(region name: String) throws -> PlanReport {
        let (topology, note) = try readTopology()
        let facts = try regionFacts(named: name, in: topology)
        let backend = Backend.deviceDAX(path: "/sys/bus/nd/devices/\(facts.name)", region: facts.name)
        let checks = needsChecks(backend: backend, facts: facts) ? checks(for: facts, host: HostFacts.readRunning()) : []
        let plan = try Planner.plan(backend: backend, region: facts, checks: checks)
        return PlanReport(plan: plan, checks: checks, note: note, region: facts)
    }

    /// Carries out `plan` once, as the VMM would on one guest flush. Returns what was done.
    public static func execute(_ plan: Plan, region facts: RegionFacts?) throws -> String {
        switch plan.method {
        case .none:
            return "nothing to flush: \(plan.reason)"
        case .fsync:
            try KernelFlush.fsync(path: plan.backend)
            return "fsync \(plan.backend): done"
        case .deepFlush:
            guard let path = plan.deepFlushPath else {
                throw HostPlanningError("plan has no deep_flush path")
            }
            try KernelFlush.deepFlush(path: path)
            return "wrote 1 to \(path)"
        case .passthrough:
            guard let facts else { throw HostPlanningError("passthrough needs the region's facts") }
            let flusher = try RegionFlusher(schedule: try FlushSchedule(region: facts), firstIndex: UInt(getpid()))
            let written = flusher.schedule.targets(call: flusher.flush())
            return "wrote 1 to flush hint\(written.count == 1 ? "" : "s") " + written.map { planHex($0) }.joined(separator: ", ")
        }
    }

    /// Whether the plan for `backend` could pass through, so the checks matter.
    static func needsChecks(backend: Backend, facts: RegionFacts) -> Bool {
        !isPageCache(backend) && facts.enabled && !facts.dimms.isEmpty
            && facts.dimms.allSatisfy { !($0.hints ?? []).isEmpty }
    }
}
