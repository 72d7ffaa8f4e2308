import FlushHint
import NFIT
import OrderedJSON

/// A plan as JSON: snake_case keys in a fixed order, physical addresses as `"0x…"` strings,
/// handles and offsets within a page as integers, optional keys left out rather than null
/// (ndctl's conventions: `ndctl list` prints handles and offsets as numbers).
func planToJSON(_ report: PlanReport, guestNFIT: NFITLayout? = nil) -> JSONValue {
    let plan = report.plan
    var members: [(String, JSONValue)] = [
        ("backend", .string(plan.backend)),
        ("backend_kind", .string(plan.backendKind)),
        ("method", .string(plan.method.rawValue)),
        ("reason", .string(plan.reason)),
    ]
    if let region = plan.region { members.append(("region", .string(region.dev))) }
    if let domain = plan.persistenceDomain { members.append(("persistence_domain", .string(domain.rawValue))) }
    if !plan.dimms.isEmpty { members.append(("dimms", .array(plan.dimms.map(planDIMMToJSON)))) }
    if !plan.ranges.isEmpty {
        members.append(("ranges", .array(plan.ranges.enumerated().map { index, range in
            var r: [(String, JSONValue)] = [
                ("path", .string(MappedHintPages.devMem)),
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
    if let guestNFIT { members.append(("guest_nfit_layout", nfitLayoutToJSON(guestNFIT))) }
    if !report.checks.isEmpty { members.append(("checks", .array(report.checks.map(checkToJSON)))) }
    if let note = report.note { members.append(("note", .string(note))) }
    return .object(members)
}

/// An NFIT layout in the JSON form `flushctl nfit build` reads (handles as 4-digit hex).
func nfitLayoutToJSON(_ layout: NFITLayout) -> JSONValue {
    var members: [(String, JSONValue)] = []
    if let caps = layout.platformCapabilities {
        members.append(("platform_capabilities", .array(caps.map { .string($0.rawValue) })))
    }
    members.append(("regions", .array(layout.regions.map { region in
        .object([
            ("base", .hex(region.base)),
            ("size", .hex(region.size)),
            ("dimms", .array(region.dimms.map { dimm in
                var d: [(String, JSONValue)] = [("handle", .string(planHandle(dimm.handle)))]
                if let hints = dimm.hints { d.append(("hints", .array(hints.map { .hex($0) }))) }
                return .object(d)
            })),
        ])
    })))
    return .object(members)
}

/// A handle as `0x0001`, as the layout spec writes them.
private func planHandle(_ handle: UInt32) -> String {
    let digits = String(handle, radix: 16)
    return "0x" + String(repeating: "0", count: max(0, 4 - digits.count)) + digits
}

/// A plan's DIMM: name, handle, hints (`flush_hints` left out when unknown).
func planDIMMToJSON(_ dimm: DIMM) -> JSONValue {
    var d: [(String, JSONValue)] = [("dimm", .string(dimm.dev))]
    if let handle = dimm.handle { d.append(("handle", .integer(handle))) }
    if let hints = dimm.flushHints { d.append(("flush_hints", .array(hints.map { .hex($0) }))) }
    return .object(d)
}

/// The guest layout, with each DIMM's NFIT flush hint structure as hex bytes.
func guestToJSON(_ guest: GuestLayout) -> JSONValue {
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
func planHexBytes(_ bytes: [UInt8]) -> String {
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
func checkToJSON(_ check: Check) -> JSONValue {
    var c: [(String, JSONValue)] = [("id", .string(check.id.rawValue))]
    if let page = check.page { c.append(("page", .hex(page))) }
    c.append(("verdict", .string(check.verdict.rawValue)))
    c.append(("finding", .string(check.finding)))
    if let fix = check.fix { c.append(("fix", .string(fix))) }
    return .object(c)
}

/// The readable summary of a plan.
func planToText(_ report: PlanReport) -> String {
    let plan = report.plan
    var lines: [String] = []
    lines.append("\(plan.backend) (\(plan.backendKind)\(plan.region.map { " on \($0.dev)" } ?? "")): \(plan.method.rawValue)")
    lines.append("  \(plan.reason)")
    if let domain = plan.persistenceDomain { lines.append("  persistence domain: \(domain.rawValue)") }
    for dimm in plan.dimms {
        let handle = dimm.handle.map { " handle " + planText($0) } ?? ""
        let hints = dimm.flushHints.map { $0.isEmpty ? "no flush hints" : $0.map(planText).joined(separator: " ") } ?? "flush hints unknown"
        lines.append("  \(dimm.dev)\(handle): \(hints)")
    }
    for (index, range) in plan.ranges.enumerated() {
        let guest = plan.guest.map { " -> guest " + planText($0.guestAddress(ofPage: index)) } ?? ""
        let hints = range.hints.map { "\($0.dimm)+\(planText($0.offset))" }.joined(separator: " ")
        lines.append("  map \(MappedHintPages.devMem) offset \(planText(range.page)) length \(range.size)\(guest): \(hints)")
    }
    if let path = plan.deepFlushPath { lines.append("  on each guest flush: write 1 to \(path)") }
    if plan.method == .fsync { lines.append("  on each guest flush: fsync \(plan.backend)") }
    if let guest = plan.guest {
        lines.append("  guest NVDIMMs (base \(planText(guest.base))):")
        for dimm in guest.dimms {
            lines.append("    position \(dimm.position) handle \(planText(dimm.handle)) (mirrors \(dimm.hostDIMM)): \(dimm.hints.map(planText).joined(separator: " "))")
        }
    }
    let notable = report.checks.filter { $0.verdict != .ok }
    if !notable.isEmpty {
        lines.append("  checks:")
        for check in notable { lines.append("    " + checkToText(check)) }
    }
    if let note = report.note { lines.append("  note: \(note)") }
    return lines.joined(separator: "\n")
}

/// One check on one line: verdict, id, page, finding, fix.
func checkToText(_ check: Check) -> String {
    let page = check.page.map { " " + planText($0) } ?? ""
    let fix = check.fix.map { " Fix: \($0)" } ?? ""
    return "\(check.verdict.rawValue.padding(7))\(check.id.rawValue)\(page): \(check.finding)\(fix)"
}

private func planText<T: BinaryInteger>(_ value: T) -> String { "0x" + String(value, radix: 16) }

extension String {
    /// The string padded with spaces to `width` characters.
    fileprivate func padding(_ width: Int) -> String {
        count >= width ? self + " " : self + String(repeating: " ", count: width - count)
    }
}
