import OrderedJSON

/// The report as JSON, snake_case keys in a fixed order; latencies in nanoseconds.
public func benchToJSON(_ report: BenchReport) -> JSONValue {
    var methods: [JSONValue] = []
    for (result, ratio) in zip(report.results, report.ratios) {
        var m: [(String, JSONValue)] = [("method", .string(result.method.rawValue))]
        if !result.target.isEmpty { m.append(("target", .string(result.target))) }
        switch result.outcome {
        case .measured(let s):
            m.append(("applies", .bool(true)))
            m += [("count", .uint(s.count)), ("min_ns", .uint(s.min)), ("p50_ns", .uint(s.p50)), ("p99_ns", .uint(s.p99)),
                  ("p99_9_ns", .uint(s.p999)), ("max_ns", .uint(s.max)), ("mean_ns", .double((s.mean * 10).rounded() / 10))]
            if let ratio { m.append(("ratio", .double((ratio * 100).rounded() / 100))) }
        case .notApplicable(let why):
            m += [("applies", .bool(false)), ("reason", .string(why))]
        case .failed(let why):
            m += [("applies", .bool(true)), ("error", .string(why))]
        }
        methods.append(.object(m))
    }
    var members: [(String, JSONValue)] = [("methods", .array(methods))]
    members.append(("dirty_bytes", .integer(report.dirtyBytes)))
    if let n = report.bounds.iterations { members.append(("iterations", .integer(n))) }
    if let d = report.bounds.duration { members.append(("duration_s", .double(d))) }
    members.append(("warmup", .integer(BenchLoop.warmup)))
    members.append(("scratch_files", .array(report.scratchFiles.map { .string($0) })))
    if let clock = report.clockOverhead { members.append(("clock_overhead_ns", .uint(clock.p50))) }
    if let note = report.note { members.append(("note", .string(note))) }
    return .object(members)
}
