// The plan: how a VMM makes its guest's flush-hint writes durable for one backend.
//
// `Planner.plan` is a pure function of the region's facts, the backend, the check verdicts
// and the MAP_SYNC probe, so every rule that could wrongly say "passthrough" or "none" is
// unit-tested. Durability first: whenever a fact is missing or doubtful, the plan takes the
// safer method and its reason says why.

import NFIT
import NVDIMMTopology

/// What the plan needs to know about a region: a view of a ``Region`` and its ``DIMM``s from
/// one snapshot, in interleave position order.
public struct RegionFacts: Sendable, Equatable {
    /// The region's name.
    public var name: RegionName
    /// Whether the region is bound to its driver.
    public var enabled: Bool
    /// What the platform promises on power loss.
    public var persistenceDomain: PersistenceDomain
    /// `deep_flush` read as an integer (1: flush hints to write, 0: none); `nil` when absent or unreadable.
    public var deepFlush: Int?
    /// The DIMMs in interleave position order. A DIMM's ``DIMM/flushHints`` is `nil` when unknown.
    public var dimms: [DIMM] { didSet { hintPages = Self.pages(of: dimms, sharedPages: sharedPages) } }
    /// For each hint page, the other regions whose DIMMs have hints in it.
    public var sharedPages: [UInt64: [String]] { didSet { hintPages = Self.pages(of: dimms, sharedPages: sharedPages) } }
    /// Why the DIMMs above may not be all of the region's (a mapping libndctl could not resolve,
    /// a DIMM the bus does not list); `nil` when they are. A plan on an incomplete region is
    /// never passthrough or none: either could leave a DIMM unflushed.
    public var incomplete: String?
    /// The distinct 4 KiB pages holding the DIMMs' hints, ascending, hints in interleave order,
    /// with the other regions that share them: computed once with the DIMMs, and used by the
    /// checks, the plan and the QEMU recipe alike.
    public private(set) var hintPages: [FlushHintPage]

    /// The facts of a region.
    public init(name: RegionName, enabled: Bool, persistenceDomain: PersistenceDomain, deepFlush: Int?,
                dimms: [DIMM], sharedPages: [UInt64: [String]] = [:], incomplete: String? = nil) {
        self.name = name; self.enabled = enabled; self.persistenceDomain = persistenceDomain
        self.deepFlush = deepFlush; self.dimms = dimms; self.sharedPages = sharedPages; self.incomplete = incomplete
        self.hintPages = Self.pages(of: dimms, sharedPages: sharedPages)
    }

    private static func pages(of dimms: [DIMM], sharedPages: [UInt64: [String]]) -> [FlushHintPage] {
        FlushHintPage.pages(of: dimms).map { page in
            var page = page
            page.sharedWith = sharedPages[page.page] ?? []
            return page
        }
    }
}

extension RegionFacts {
    /// The facts of `region` from a topology snapshot: DIMMs in interleave position order
    /// (the mapping order when positions are unknown), hints from the NFIT join.
    public init(region: Region, topology: Topology) {
        let ordered = region.mappings.enumerated().sorted { a, b in
            let pa = a.element.position.map(Int.init) ?? a.offset
            let pb = b.element.position.map(Int.init) ?? b.offset
            return pa != pb ? pa < pb : a.offset < b.offset
        }.map(\.element)
        let dimms = ordered.map { mapping -> DIMM in
            // A mapping libndctl names but whose DIMM it did not list: nothing is known of it.
            var dimm = topology.dimm(named: mapping.dimm) ?? DIMM(id: 0, dev: mapping.dimm, handle: nil)
            if !topology.hasFlushHints { dimm.flushHints = nil }
            return dimm
        }
        var shared: [UInt64: [String]] = [:]
        for page in region.flushHintPages ?? [] where !page.sharedWith.isEmpty {
            shared[page.page] = page.sharedWith
        }
        var incomplete: [String] = []
        if region.mappings.count != Int(region.interleaveWays) || !region.unresolvedMappings.isEmpty {
            let missing = region.unresolvedMappings.isEmpty ? "" : " (missing: \(region.unresolvedMappings.joined(separator: ", ")))"
            incomplete.append("\(region.dev) interleaves \(region.interleaveWays) DIMM\(region.interleaveWays == 1 ? "" : "s") but libndctl resolved \(region.mappings.count) mapping\(region.mappings.count == 1 ? "" : "s")\(missing)")
        }
        let unlisted = region.mappings.map(\.dimm).filter { topology.dimm(named: $0) == nil }
        if !unlisted.isEmpty {
            incomplete.append("\(unlisted.joined(separator: ", ")) of \(region.dev) \(unlisted.count == 1 ? "is" : "are") not among the bus's DIMMs")
        }
        self.init(name: region.name, enabled: region.enabled, persistenceDomain: region.persistenceDomain,
                  deepFlush: region.deepFlush, dimms: dimms, sharedPages: shared,
                  incomplete: incomplete.isEmpty ? nil : incomplete.joined(separator: "; "))
    }

    /// The sysfs file whose write of "1" makes the kernel flush the region.
    public var deepFlushPath: String { name.deepFlushPath }

    /// Whether some DIMM of the region is known to have flush hints.
    public var hasHints: Bool { dimms.contains { !($0.flushHints ?? []).isEmpty } }
}

/// Whether `mmap(MAP_SHARED_VALIDATE | MAP_SYNC)` was accepted on the backend.
public enum MapSyncProbe: Sendable, Equatable {
    /// Accepted: the file's block mapping is durable before a write fault returns.
    case accepted
    /// Refused, with the reason (`EOPNOTSUPP`: not DAX, …).
    case refused(String)
}

/// What the VMM backs the guest's NVDIMM with.
public enum Backend: Sendable, Equatable {
    /// A device-dax character device (`/dev/daxX.Y`) in `region`.
    case deviceDAX(path: String, region: RegionName)
    /// An fsdax namespace's block device (`/dev/pmemN`) opened without DAX: writes go
    /// through the page cache.
    case blockDevice(path: String, region: RegionName)
    /// A regular file on a filesystem on `region`'s block device.
    case daxFile(path: String, region: RegionName, mapSync: MapSyncProbe, fullyAllocated: Bool)
    /// Anything else: a file on a filesystem not on an NVDIMM region.
    case otherFile(path: String)
    /// A regular file whose filesystem is on an NVDIMM region but whose blocks may lie on
    /// another device (an XFS realtime file, a filesystem flushctl does not know), so no region
    /// can be named for its data. `why` completes "PATH …".
    case unplacedFile(path: String, why: String)

    /// The path the VMM opens.
    public var path: String {
        switch self {
        case .deviceDAX(let p, _), .blockDevice(let p, _), .daxFile(let p, _, _, _), .otherFile(let p), .unplacedFile(let p, _): return p
        }
    }

    /// The region the backend is on, if any.
    public var region: RegionName? {
        switch self {
        case .deviceDAX(_, let r), .blockDevice(_, let r), .daxFile(_, let r, _, _): return r
        case .otherFile, .unplacedFile: return nil
        }
    }

    /// The kind's name as `flushctl plan` prints it.
    public var kindName: String {
        switch self {
        case .deviceDAX: return "devdax"
        case .blockDevice: return "block_device"
        case .daxFile: return "dax_file"
        case .otherFile, .unplacedFile: return "file"
        }
    }
}

/// The backend's size and the alignment a mapping of it needs: a device-dax device's from
/// libdaxctl (its `align`, else its dax region's), a block device's or a file's size.
public struct BackendGeometry: Sendable, Equatable {
    /// Bytes the guest gets: a device-dax device's size, a file's or block device's size.
    public var size: UInt64
    /// The mapping alignment the backend needs (a device-dax device's `align`), if any.
    public var align: UInt64?

    /// A geometry.
    public init(size: UInt64, align: UInt64? = nil) { self.size = size; self.align = align }
}

/// A backend as one probe found it: what it is, its size and alignment when the probe could
/// tell (a device-dax device's come from the topology instead), and the path to give a VMM.
public struct ProbedBackend: Sendable, Equatable {
    /// What the backend is.
    public var backend: Backend
    /// Its size and alignment; `nil` for a device-dax device, whose the topology has.
    public var geometry: BackendGeometry?
    /// The path a VMM is given, or why there is none.
    public var vmmPath: VMMPath
    /// The kernel's name of a device backend (`dax0.0`, `pmem0`), from sysfs.
    public var deviceName: String?

    /// A probed backend.
    public init(backend: Backend, geometry: BackendGeometry?, vmmPath: VMMPath, deviceName: String? = nil) {
        self.backend = backend; self.geometry = geometry; self.vmmPath = vmmPath; self.deviceName = deviceName
    }
}

/// How the VMM must handle the guest's flush-hint writes.
public enum PlanMethod: String, Sendable, Equatable {
    /// Map the host's hint pages into the guest: its hint writes reach the hardware.
    case passthrough
    /// Trap the guest's hint writes and write "1" to the region's `deep_flush`.
    case deepFlush = "deep_flush"
    /// Trap the guest's hint writes and fsync the backend.
    case fsync
    /// Give the guest no flush hints: the platform makes writes durable without them.
    case none
}

/// A plan for one backend.
public struct Plan: Sendable, Equatable {
    /// The method.
    public var method: PlanMethod
    /// One actionable sentence saying why.
    public var reason: String
    /// The backend path.
    public var backend: String
    /// The backend kind (`devdax`, `block_device`, `dax_file`, `file`).
    public var backendKind: String
    /// The region, when the backend is on one.
    public var region: RegionName?
    /// The region's DIMMs in interleave order.
    public var dimms: [DIMM] = []
    /// The region's persistence domain.
    public var persistenceDomain: PersistenceDomain?
    /// For passthrough: the hint pages to map from ``hintSource``, one range each, ascending;
    /// with a guest layout, page `i` is at guest address `guest.base + i * pageSize`.
    public var ranges: [FlushHintPage] = []
    /// For passthrough: the file the pages are mapped from, at their physical address as the
    /// offset: the region's hint device (``HintDevice``) or ``HintDevice/devMem``.
    public var hintSource: String = HintDevice.devMem
    /// For deep_flush: the sysfs file to write "1" to.
    public var deepFlushPath: String?
    /// For passthrough with a guest base: the guest's DIMMs and their flush hint structures.
    public var guest: GuestLayout?
}

/// Why no plan could be made. Each is bad input or a host that cannot do what was asked.
public enum PlanError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The guest base address is not page aligned.
    case unalignedGuestBase(UInt64)
    /// The guest base plus the mapped pages overflows 64 bits.
    case guestBaseOverflow(UInt64)
    /// The backend is on a region but no facts for it were given.
    case regionMissing(RegionName)
    /// The backend's region and the facts given are different regions.
    case regionMismatch(backend: RegionName, facts: RegionName)
    /// The region is disabled.
    case regionDisabled(RegionName)
    /// No method keeps the guest's writes durable for this backend.
    case noSafeMethod(String)

    /// The error as one line, naming what was wrong and where.
    public var description: String {
        switch self {
        case .unalignedGuestBase(let base):
            return "guest base \(planHex(base)) is not aligned to \(FlushHintPage.pageSize) bytes"
        case .guestBaseOverflow(let base):
            return "guest base \(planHex(base)) leaves no room for the hint pages below 2^64"
        case .regionMissing(let region):
            return "\(region): no such region in the NVDIMM topology"
        case .regionMismatch(let backend, let facts):
            return "backend is on \(backend) but the facts given are for \(facts)"
        case .regionDisabled(let region):
            return "\(region) is disabled; enable it first (ndctl enable-region \(region))"
        case .noSafeMethod(let why):
            return why
        }
    }
}

/// Decides plans.
public enum Planner {
    /// Decides how a VMM must handle the guest's flush-hint writes for `backend`.
    ///
    /// - Parameters:
    ///   - backend: what the guest's NVDIMM is backed by (with the MAP_SYNC probe for files).
    ///   - region: the facts of the backend's region; `nil` for a backend on no region.
    ///   - checks: the verdicts of ``DevMemChecks/evaluate(facts:region:pages:proofs:)`` for the
    ///     region's hint pages, with the mmap proof. Passthrough needs every page proven.
    ///   - guestBase: where the guest sees the first hint page (page aligned); when given, a
    ///     passthrough plan includes the guest's DIMMs and flush hint structures.
    /// - Throws: ``PlanError`` for an unaligned guest base, a disabled or missing region, or
    ///   a backend no method can make durable.
    public static func plan(backend: Backend, region: RegionFacts?, checks: [Check],
                            guestBase: UInt64? = nil) throws(PlanError) -> Plan {
        if let guestBase, guestBase % FlushHintPage.pageSize != 0 {
            throw .unalignedGuestBase(guestBase)
        }

        // Backends whose writes go through the page cache or whose blocks can move: fsync.
        switch backend {
        case .otherFile(let path):
            return fsyncPlan(backend, region: nil, reason: "\(path) is not on an NVDIMM region, so the guest's writes reach it through the page cache: fsync it on every guest flush.")
        case .unplacedFile(let path, let why):
            return fsyncPlan(backend, region: nil, reason: "\(path) \(why), so no region can be named for its data and its flush hints would flush the wrong DIMMs: fsync it on every guest flush.")
        case .blockDevice(let path, let name):
            return fsyncPlan(backend, region: region, name: name, reason: "\(path) is opened without DAX, so the guest's writes sit in the page cache: fsync it on every guest flush.")
        case .daxFile(let path, let name, .refused(let why), _):
            return fsyncPlan(backend, region: region, name: name, reason: "mmap(MAP_SYNC) on \(path) was refused (\(why)), so the file's block mapping is only durable after fsync: fsync it on every guest flush.")
        case .daxFile(let path, let name, .accepted, false):
            return fsyncPlan(backend, region: region, name: name, reason: "\(path) is not fully allocated, so a guest write into a hole allocates blocks whose metadata only fsync makes durable: fsync it on every guest flush (or write the whole file, e.g. with dd conv=notrunc or cp from a full file, and plan again; fallocate is not enough).")
        case .deviceDAX, .daxFile:
            break
        }

        guard let regionName = backend.region else { throw .noSafeMethod("\(backend.path): not on an NVDIMM region") }
        guard let region else { throw .regionMissing(regionName) }
        guard region.name == regionName else { throw .regionMismatch(backend: regionName, facts: region.name) }
        guard region.enabled else { throw .regionDisabled(region.name) }

        // The safer methods, for when passthrough is refused.
        func fallback(_ why: String) throws(PlanError) -> Plan {
            if region.deepFlush == 1 {
                return Plan(method: .deepFlush, reason: "\(why); trap the guest's flush-hint writes and write 1 to \(region.deepFlushPath), which makes the kernel flush every DIMM of \(region.name).",
                            backend: backend.path, backendKind: backend.kindName, region: region.name, dimms: region.dimms,
                            persistenceDomain: region.persistenceDomain, deepFlushPath: region.deepFlushPath)
            }
            let deepFlushState = region.deepFlush.map { "reads \($0)" } ?? "is missing or unreadable"
            if case .daxFile = backend {
                return Plan(method: .fsync, reason: "\(why), and \(region.deepFlushPath) \(deepFlushState); trap the guest's flush-hint writes and fsync \(backend.path), which flushes \(region.name) through the filesystem.",
                            backend: backend.path, backendKind: backend.kindName, region: region.name, dimms: region.dimms,
                            persistenceDomain: region.persistenceDomain)
            }
            throw .noSafeMethod("\(backend.path): \(why), and \(region.deepFlushPath) \(deepFlushState), so no method can make the guest's writes durable")
        }

        if let why = region.incomplete {
            return try fallback("\(why), so a plan on the DIMMs read could leave one unflushed")
        }
        if region.dimms.isEmpty {
            return try fallback("\(region.name) has no DIMMs in the NFIT, so whether it needs flush hints is unknown")
        }
        let noHandle = region.dimms.filter { $0.handle == nil }
        if !noHandle.isEmpty {
            return try fallback("the NFIT handles of \(names(noHandle)) are unknown, so their flush hints are unknown")
        }
        let unknown = region.dimms.filter { $0.flushHints == nil }
        if !unknown.isEmpty {
            return try fallback("the flush hints of \(names(unknown)) are unknown (the NFIT could not be read)")
        }
        let withHints = region.dimms.filter { !($0.flushHints ?? []).isEmpty }
        if withHints.isEmpty {
            if region.deepFlush == 1 {
                return try fallback("the NFIT lists no flush hints for \(region.name) but its deep_flush reads 1, so the kernel and the NFIT disagree")
            }
            return Plan(method: .none, reason: "No DIMM of \(region.name) has flush hints, so the platform (persistence domain \(region.persistenceDomain.rawValue)) makes writes durable once they reach the memory controller: give the guest no flush hints.",
                        backend: backend.path, backendKind: backend.kindName, region: region.name, dimms: region.dimms,
                        persistenceDomain: region.persistenceDomain)
        }
        if withHints.count != region.dimms.count {
            let without = region.dimms.filter { ($0.flushHints ?? []).isEmpty }
            return try fallback("\(names(without)) of \(region.name) \(without.count == 1 ? "has" : "have") no flush hints while \(names(withHints)) \(withHints.count == 1 ? "has" : "have"), so neither passthrough nor none is safe")
        }

        // Every DIMM has hints: passthrough if the guest layout can mirror the region and
        // every page is proven mappable.
        if let why = layoutObstacle(region) {
            return try fallback(why)
        }
        let pages = region.hintPages
        if let why = checkObstacle(checks, pages: pages.map(\.page)) {
            return try fallback(why)
        }
        if let guestBase {
            let span = UInt64(pages.count) * FlushHintPage.pageSize
            if guestBase.addingReportingOverflow(span).overflow { throw .guestBaseOverflow(guestBase) }
        }

        // The pages were proven through one file: the region's hint device or /dev/mem. Any
        // other (a cache naming another file) is not one flushctl maps from.
        let sources = Set(checks.filter { $0.id == .mmap }.map { $0.path ?? HintDevice.devMem })
        let source = sources.first ?? HintDevice.devMem
        guard sources.count <= 1, source == HintDevice.devMem || source == HintDevice.path(for: region.name) else {
            return try fallback("the hint pages were proven through \(sources.sorted().joined(separator: ", ")), which is neither /dev/mem nor \(HintDevice.path(for: region.name))")
        }
        let guest = guestBase.map { GuestLayout.mirroring(region: region, pages: pages, base: $0) }
        let warned = checks.filter { $0.verdict == .warn }.map(\.id.rawValue)
        let caveat = warned.isEmpty ? "" : " (heed the warnings: \(Array(Set(warned)).sorted().joined(separator: ", ")))"
        return Plan(method: .passthrough,
                    reason: "Every DIMM of \(region.name) has flush hints and \(pages.count == 1 ? "its hint page was" : "all \(pages.count) of its hint pages were") mapped from \(source): map \(pages.count == 1 ? "it" : "them") into the guest and give it one DIMM per host DIMM, each with its own hints\(caveat).",
                    backend: backend.path, backendKind: backend.kindName, region: region.name, dimms: region.dimms,
                    persistenceDomain: region.persistenceDomain, ranges: pages, hintSource: source, guest: guest)
    }

    /// Why the guest layout cannot mirror the region (one guest DIMM per host DIMM, each
    /// with its own hint), or `nil` when it can.
    static func layoutObstacle(_ region: RegionFacts) -> String? {
        let noHandle = region.dimms.filter { $0.handle == nil }
        if !noHandle.isEmpty {
            return "the NFIT handles of \(names(noHandle)) are unknown, so the guest's DIMMs cannot mirror them"
        }
        var seen: Set<UInt32> = []
        for dimm in region.dimms {
            guard let handle = dimm.handle else { continue }
            if !seen.insert(handle).inserted {
                return "handle \(planHex(handle)) appears twice in \(region.name), so the guest's DIMMs cannot mirror the interleave set"
            }
        }
        for dimm in region.dimms {
            let hints = dimm.flushHints ?? []
            if hints.count > Int(UInt16.max) {
                return "\(dimm.dev) has \(hints.count) flush hints, more than an NFIT flush hint structure holds"
            }
            if let bad = hints.first(where: { $0 % 8 != 0 }) {
                return "\(dimm.dev)'s flush hint \(planHex(bad)) is not 8-byte aligned, so it cannot be written with one 8-byte store"
            }
        }
        return nil
    }

    /// Why the checks do not prove passthrough safe and possible, or `nil` when they do.
    static func checkObstacle(_ checks: [Check], pages: [UInt64]) -> String? {
        if let bad = checks.filter({ !$0.verdict.allowsPassthrough }).max(by: { $0.verdict < $1.verdict }) {
            let fix = bad.fix.map { " (\($0.hasSuffix(".") ? String($0.dropLast()) : $0))" } ?? ""
            let finding = bad.finding.hasSuffix(".") ? String(bad.finding.dropLast()) : bad.finding
            return "passthrough is refused because \(bad.id.rawValue) is \(bad.verdict.rawValue): \(finding)\(fix)"
        }
        // Through /dev/mem its own conditions must have been checked; through a hint device, the device.
        let throughDevMem = (checks.first { $0.id == .mmap }?.path ?? HintDevice.devMem) == HintDevice.devMem
        let required: [CheckID] = throughDevMem ? [.privilege, .devmemRestrictions] : [.hintDevice]
        for id in required where !checks.contains(where: { $0.id == id }) {
            return "passthrough is refused because the \(id.rawValue) check was not run"
        }
        for page in pages {
            for id in [CheckID.iomemOwner, .mmap] where !checks.contains(where: { $0.id == id && $0.page == page && $0.verdict.allowsPassthrough }) {
                return "passthrough is refused because page \(planHex(page)) has no passing \(id.rawValue) check"
            }
        }
        return nil
    }

    private static func fsyncPlan(_ backend: Backend, region: RegionFacts?, name: RegionName? = nil, reason: String) -> Plan {
        let facts = region.flatMap { $0.name == name ? $0 : nil }
        return Plan(method: .fsync, reason: reason, backend: backend.path, backendKind: backend.kindName,
                    region: name, dimms: facts?.dimms ?? [], persistenceDomain: facts?.persistenceDomain)
    }

    private static func names(_ dimms: [DIMM]) -> String {
        dimms.map(\.dev).joined(separator: ", ")
    }
}

/// The path a VMM is given for a backend. QEMU's memory-backend-file opens `mem-path` and, when
/// it does not exist, creates it (`O_CREAT|O_EXCL`) and carries on: a recipe naming /dev/dax0.0
/// after its namespace was destroyed gives the guest a RAM file in devtmpfs, whose flushes all
/// "succeed". A path through a directory that goes away with the device (or filesystem) makes
/// QEMU fail to start instead ("can't open backing store").
public enum VMMPath: Sendable, Equatable {
    /// A path that fails to open once the backend is gone; `device` is the `MAJOR:MINOR` planned
    /// for a device node, which the link was checked to lead to.
    case failsClosed(path: String, device: String?)
    /// No such path, and why: a VMM must not be given this backend.
    case unguarded(why: String)
}

/// What is known of the host NFIT's platform capabilities structure (type 7), from which
/// Linux derives every region's persistence domain.
public enum HostPlatformCapabilities: Sendable, Equatable {
    /// The NFIT was read: its structure, or `nil` when it has none.
    case read(NFITPlatformCapabilities?)
    /// The NFIT was not read by this process (no privilege, the cache, no NVDIMM bus).
    case unread
}

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
    /// The host NFIT's platform capabilities, when this process read the NFIT.
    public var platformCapabilities: HostPlatformCapabilities = .unread
    /// The path to give a VMM for the backend (``BackendProbe/vmmPath(for:sysfs:)``); `nil` for
    /// a plan of a region rather than a backend.
    public var vmmPath: VMMPath?
    /// The backend's size and alignment, from the same probe (a device-dax device's from the
    /// topology); `nil` for a plan of a region, or a device-dax device libdaxctl does not list.
    public var geometry: BackendGeometry?

    /// Creates a report.
    public init(plan: Plan, checks: [Check], note: String?, region: RegionFacts? = nil, cache: String? = nil) {
        self.plan = plan
        self.checks = checks
        self.note = note
        self.region = region
        self.cache = cache
    }
}
