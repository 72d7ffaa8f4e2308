import NFIT
import OrderedJSON
import NVDIMMTopology

/// A plan as JSON: snake_case keys in a fixed order, physical addresses as `"0x…"` strings,
/// handles and offsets within a page as integers, optional keys left out rather than null
/// (ndctl's conventions: `ndctl list` prints handles and offsets as numbers).
public func planToJSON(_ report: PlanReport, guestNFIT: NFITLayout? = nil) -> JSONValue {
    let plan = report.plan
    var members = planHeadToJSON(plan)
    switch report.vmmPath {
    case .failsClosed(let path, _)?: members.append(("vmm_path", .string(path)))
    case .unguarded(let why)?: members.append(("vmm_path_problem", .string(why)))
    case nil: break
    }
    if !plan.dimms.isEmpty { members.append(("dimms", .array(plan.dimms.map(planDIMMToJSON)))) }
    if !plan.ranges.isEmpty {
        members.append(("ranges", .array(plan.ranges.enumerated().map { index, range in
            var r: [(String, JSONValue)] = [
                ("path", .string(plan.hintSource)),
                ("offset", .hex(range.page)),
                ("length", .integer(range.size)),
            ]
            if let guest = plan.guest { r.append(("guest_address", .hex(guest.guestAddress(ofPage: index)))) }
            r.append(("hints", .array(range.hints.map { hint in
                var h: [(String, JSONValue)] = [("dimm", .string(hint.dimm))]
                if let handle = hint.handle { h.append(("handle", .integer(handle))) }
                h.append(("offset", .integer(hint.offset)))
                return .object(h)
            })))
            return .object(r)
        })))
    }
    if let path = plan.deepFlushPath { members.append(("deep_flush", .string(path))) }
    if let guest = plan.guest { members.append(("guest", guestToJSON(guest))) }
    if let guestNFIT { members.append(("guest_nfit_layout", guestNFIT.json)) }
    if !report.checks.isEmpty { members.append(("checks", .array(report.checks.map(checkToJSON)))) }
    if let note = report.note { members.append(("note", .string(note))) }
    return .object(members)
}

/// The members every plan's JSON starts with, in this order: `backend`, `backend_kind`,
/// `method`, `reason`, then `region` and `persistence_domain` when known (`flushctl plan` and
/// `flushctl qemu` both begin so).
public func planHeadToJSON(_ plan: Plan) -> [(String, JSONValue)] {
    var members: [(String, JSONValue)] = [
        ("backend", .string(plan.backend)),
        ("backend_kind", .string(plan.backendKind)),
        ("method", .string(plan.method.rawValue)),
        ("reason", .string(plan.reason)),
    ]
    if let region = plan.region { members.append(("region", .string(region.dev))) }
    if let domain = plan.persistenceDomain { members.append(("persistence_domain", .string(domain.rawValue))) }
    return members
}

/// A plan's DIMM: name, handle, hints (`flush_hints` left out when unknown).
public func planDIMMToJSON(_ dimm: DIMM) -> JSONValue {
    var d: [(String, JSONValue)] = [("dimm", .string(dimm.dev))]
    if let handle = dimm.handle { d.append(("handle", .integer(handle))) }
    if let hints = dimm.flushHints { d.append(("flush_hints", .array(hints.map { .hex($0) }))) }
    return .object(d)
}

/// The guest layout, with each DIMM's NFIT flush hint structure as hex bytes.
public func guestToJSON(_ guest: GuestLayout) -> JSONValue {
    .object([
        ("base", .hex(guest.base)),
        ("dimms", .array(guest.dimms.map { dimm in
            var d: [(String, JSONValue)] = [
                ("position", .integer(dimm.position)),
                ("handle", .integer(dimm.handle)),
                ("host_dimm", .string(dimm.hostDIMM)),
                ("flush_hints", .array(dimm.hints.map { .hex($0) })),
            ]
            if let bytes = try? dimm.encodedStructure() {
                d.append(("nfit_flush_hint_structure", .string(planHexBytes(bytes))))
            }
            return .object(d)
        })),
    ])
}

/// Bytes as lowercase hex pairs without separators.
public func planHexBytes(_ bytes: [UInt8]) -> String {
    let digits = Array("0123456789abcdef")
    var text = ""
    text.reserveCapacity(bytes.count * 2)
    for b in bytes {
        text.append(digits[Int(b >> 4)])
        text.append(digits[Int(b & 0xf)])
    }
    return text
}

/// A check as JSON.
public func checkToJSON(_ check: Check) -> JSONValue {
    var c: [(String, JSONValue)] = [("id", .string(check.id.rawValue))]
    if let page = check.page { c.append(("page", .hex(page))) }
    c.append(("verdict", .string(check.verdict.rawValue)))
    c.append(("finding", .string(check.finding)))
    if let fix = check.fix { c.append(("fix", .string(fix))) }
    if let path = check.path { c.append(("path", .string(path))) }
    return .object(c)
}

/// The recipe as JSON: snake_case keys in a fixed order, addresses and sizes as `"0x…"`
/// strings, optional keys left out.
public func qemuToJSON(_ recipe: QemuRecipe, report: PlanReport, files: [(key: String, path: String)]) -> JSONValue {
    let plan = report.plan
    var members = planHeadToJSON(plan)
    members.append(("machine", .string(recipe.machine.rawValue)))
    members.append(("guest_ram", .hex(recipe.guestRAM)))
    members.append(("device_memory_base", .hex(recipe.deviceMemoryBase)))
    if !recipe.hintPages.isEmpty {
        members.append(("hint_pages", .array(recipe.hintPages.map { page in
            .object([("path", .string(plan.hintSource)), ("offset", .hex(page.hostAddress)),
                     ("length", .integer(FlushHintPage.pageSize)), ("guest_address", .hex(page.guestAddress))])
        })))
    }
    var pmem: [(String, JSONValue)] = [("path", .string(recipe.pmem.path))]
    if let number = recipe.pmem.deviceNumber { pmem.append(("device_number", .string(number))) }
    pmem += [
        ("device", .string(recipe.pmem.device.rawValue)),
        ("size", .hex(recipe.pmem.size)),
    ]
    if let align = recipe.pmem.align { pmem.append(("align", .hex(align))) }
    pmem.append(("guest_address", .hex(recipe.pmem.guestAddress)))
    members.append(("pmem", .object(pmem)))
    members.append(("memory", .object([
        ("option", .string(recipe.memoryOption)),
        ("slots", .integer(recipe.slots)),
        ("maxmem", .hex(recipe.maxmem)),
    ])))
    members.append(("min_qemu_version", .string(recipe.minimumQEMU)))
    members.append(("files", .object(files.map { ($0.key, .string($0.path)) })))
    members.append(("qemu_args", .array(recipe.arguments.map { .string($0) })))
    if let source = recipe.capabilitiesSource { members.append(("platform_capabilities_from", .string(source.rawValue))) }
    if let layout = recipe.guestNFIT { members.append(("guest_nfit_layout", layout.json)) }
    if !recipe.guestDIMMDevices.isEmpty {
        members.append(("guest_dimm_devices", .array(recipe.guestDIMMDevices.map {
            .object([("path", .string($0.path)), ("adr", .integer(UInt64($0.handle)))])
        })))
    }
    members.append(("requirements", .array(recipe.requirements.map { .string($0) })))
    if let note = report.note { members.append(("note", .string(note))) }
    return .object(members)
}

/// `flushctl check`'s JSON for one region (or the host, without one): its checks, and the
/// snapshot's note.
public func checksToJSON(region: RegionName?, checks: [Check], note: String?) -> JSONValue {
    var members: [(String, JSONValue)] = []
    if let region { members.append(("region", .string(region.dev))) }
    members.append(("checks", .array(checks.map(checkToJSON))))
    if let note { members.append(("note", .string(note))) }
    return .object(members)
}

extension Check {
    /// A check as ``checkToJSON(_:)`` wrote it (the topology cache keeps root's checks).
    public init(json: JSONField) throws(JSONFieldError) {
        self.init(id: try json["id"].oneOf(CheckID.self),
                  page: try json["page"].ifPresent.map { (p) throws(JSONFieldError) in try p.unsigned(UInt64.self) },
                  verdict: try json["verdict"].oneOf(Verdict.self),
                  finding: try json["finding"].string(),
                  fix: try json["fix"].ifPresent.map { (f) throws(JSONFieldError) in try f.string() },
                  path: try json["path"].ifPresent.map { (f) throws(JSONFieldError) in try f.string() })
    }
}
