import SystemPackage
#if canImport(Glibc)
import Glibc
#endif
import FactCache
import FlushPlanning
import HostFiles
import NVDIMMTopology

/// Reads the host and runs the pure planning functions on what it found (with
/// ``HostSnapshot`` and ``BackendProbe``, the part of planning that needs a real host); the
/// commands call it and format its report.
public enum HostPlanning {
    /// Whether a plan for `facts` could pass through, so its checks matter: the region is
    /// enabled and every DIMM has hints (refresh runs them once per such region).
    public static func needsChecks(_ facts: RegionFacts) -> Bool {
        facts.enabled && facts.incomplete == nil && !facts.dimms.isEmpty
            && facts.dimms.allSatisfy { !($0.flushHints ?? []).isEmpty }
    }

    /// The checks for mapping `facts`' hint pages, with the mmap proof tried on each page
    /// whose owner check passed (never map RAM, another device's registers or a page of
    /// unknown owner, even for a test). The pages map through the region's hint device
    /// (``HintDevice``) when it is usable, else from `devMem` (tests use a regular file).
    public static func checks(for facts: RegionFacts, host: HostFacts, proveMapping: Bool = true,
                              devMem: String = HintDevice.devMem,
                              device: HintDevice? = nil) -> [Check] {
        let device = device ?? HintDevice.probe(region: facts.name)
        let source: String
        if case .usable(let path) = device { source = path } else { source = devMem }
        let pages = facts.hintPages
        var owners: [UInt64: Check] = [:]
        for use in pages { owners[use.page] = DevMemChecks.owner(page: use.page, iomem: host.iomem, region: facts.name.dev) }
        var proofs: [UInt64: MapProof] = [:]
        if proveMapping {
            for use in pages where owners[use.page]?.verdict.allowsPassthrough == true {
                do {
                    let mapped = try MappedHintPages(pages: [use.page], path: source)
                    _ = consume mapped
                    proofs[use.page] = .mapped
                } catch {
                    proofs[use.page] = .failed("\(error.call): \(error.errno)")
                }
            }
        }
        return DevMemChecks.evaluate(facts: host, region: facts.name.dev, pages: pages, owners: owners, proofs: proofs,
                                     device: device)
    }

    /// Inspects `path`, reads its region's facts and the host's, proves the mapping, and plans.
    /// With `cache`, the hints and the root-only checks may come from the topology cache
    /// (``HostSnapshot/read(cache:needsHints:)``); the report's ``PlanReport/cache`` then says so.
    public static func plan(backendPath path: String, guestBase: UInt64?, cache: CachePolicy = .never) throws -> PlanReport {
        let probed = try BackendProbe.inspect(path: path)
        var report = try plan(probed, guestBase: guestBase, cache: cache)
        report.vmmPath = probed.vmmPath
        return report
    }

    private static func plan(_ probed: ProbedBackend, guestBase: UInt64?, cache: CachePolicy) throws -> PlanReport {
        let backend = probed.backend
        guard let regionName = backend.region else {
            var report = PlanReport(plan: try Planner.plan(backend: backend, region: nil, checks: [], guestBase: guestBase),
                                    checks: [], note: nil)
            report.geometry = probed.geometry
            return report
        }
        if isPageCache(backend) {
            // fsync whatever the region: its facts only add detail, so failing to read them
            // is a note, not an error.
            var facts: RegionFacts?
            var note: String?
            var provenance: String?
            do {
                let snapshot = try HostSnapshot.read(cache: cache)
                facts = try snapshot.region(regionName)
                note = snapshot.note
                provenance = snapshot.provenance
            } catch {
                note = "region details unavailable: \(error)"
            }
            let plan = try Planner.plan(backend: backend, region: facts, checks: [], guestBase: guestBase)
            var report = PlanReport(plan: plan, checks: [], note: note, region: facts, cache: provenance)
            report.geometry = probed.geometry
            return report
        }
        let snapshot = try HostSnapshot.read(cache: cache)
        var report = try plan(backend: backend, in: snapshot, guestBase: guestBase)
        // A device-dax device's size and alignment are libdaxctl's, read with the topology.
        report.geometry = probed.geometry ?? probed.deviceName.flatMap { name in
            snapshot.topology.daxDevice(named: name).map { BackendGeometry(size: $0.device.size, align: $0.device.align ?? $0.region.align) }
        }
        return report
    }

    /// Plans `backend` (not a page-cache one) on `snapshot`: its region's facts, the checks when
    /// passthrough is possible (from the snapshot's source), the plan.
    public static func plan(backend: Backend, in snapshot: HostSnapshot, guestBase: UInt64? = nil) throws -> PlanReport {
        guard let regionName = backend.region else {
            return PlanReport(plan: try Planner.plan(backend: backend, region: nil, checks: [], guestBase: guestBase),
                              checks: [], note: nil)
        }
        let facts = try snapshot.region(regionName)
        let checks = needsChecks(backend: backend, facts: facts) ? snapshot.checks(for: facts) : []
        let plan = try Planner.plan(backend: backend, region: facts, checks: checks, guestBase: guestBase)
        var report = PlanReport(plan: plan, checks: checks, note: snapshot.note, region: facts, cache: snapshot.provenance)
        report.platformCapabilities = snapshot.platformCapabilities
        return report
    }

    /// Whether the backend's writes need fsync whatever its region says.
    static func isPageCache(_ backend: Backend) -> Bool {
        switch backend {
        case .otherFile, .unplacedFile, .blockDevice, .daxFile(_, _, .refused, _), .daxFile(_, _, .accepted, false): return true
        case .deviceDAX, .daxFile: return false
        }
    }

    /// Plans for a region itself (as a device-dax backend would be planned: no fsync).
    public static func plan(region name: RegionName, in snapshot: HostSnapshot) throws -> PlanReport {
        try plan(backend: .deviceDAX(path: name.sysfsDirectory, region: name), in: snapshot)
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
                throw HostError(message: "plan has no deep_flush path")
            }
            try KernelFlush.deepFlush(path: path)
            return "wrote 1 to \(path)"
        case .passthrough:
            guard let facts else { throw HostError(message: "passthrough needs the region's facts") }
            let flusher = try RegionFlusher(schedule: try FlushSchedule(region: facts), path: plan.hintSource,
                                            firstIndex: UInt(getpid()))
            let written = flusher.schedule.targets(call: flusher.flush())
            return "wrote 1 to flush hint\(written.count == 1 ? "" : "s") " + written.map { planHex($0) }.joined(separator: ", ")
        }
    }

    /// Whether the plan for `backend` could pass through, so the checks matter.
    static func needsChecks(backend: Backend, facts: RegionFacts) -> Bool {
        !isPageCache(backend) && needsChecks(facts)
    }
}
