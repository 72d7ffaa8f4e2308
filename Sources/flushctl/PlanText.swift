import FlushPlanning
import HostIO

/// The readable summary of a plan.
func planToText(_ report: PlanReport) -> String {
    let plan = report.plan
    var lines: [String] = []
    lines.append("\(plan.backend) (\(plan.backendKind)\(plan.region.map { " on \($0.dev)" } ?? "")): \(plan.method.rawValue)")
    lines.append("  \(plan.reason)")
    if let domain = plan.persistenceDomain { lines.append("  persistence domain: \(domain.rawValue)") }
    switch report.vmmPath {
    case .failsClosed(let path, _)?: lines.append("  give the VMM: \(path)")
    case .unguarded(let why)?: lines.append("  give the VMM no path: \(why)")
    case nil: break
    }
    for dimm in plan.dimms {
        let handle = dimm.handle.map { " handle " + planText($0) } ?? ""
        let hints = dimm.flushHints.map { $0.isEmpty ? "no flush hints" : $0.map(planText).joined(separator: " ") } ?? "flush hints unknown"
        lines.append("  \(dimm.dev)\(handle): \(hints)")
    }
    for (index, range) in plan.ranges.enumerated() {
        let guest = plan.guest.map { " -> guest " + planText($0.guestAddress(ofPage: index)) } ?? ""
        let hints = range.hints.map { "\($0.dimm)+\(planText($0.offset))" }.joined(separator: " ")
        lines.append("  map \(plan.hintSource) offset \(planText(range.page)) length \(range.size)\(guest): \(hints)")
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
