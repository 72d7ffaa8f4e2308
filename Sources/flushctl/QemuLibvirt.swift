import FlushPlanning
import HostIO

// `flushctl qemu --libvirt`: the recipe as a libvirt domain, with the host's facts about every
// path QEMU opens (read by HostIO's `LibvirtHostPath.read`; the formatting is ``LibvirtDomain``).

/// The libvirt form of `recipe`: the domain is named after the output directory.
func libvirtDomain(_ recipe: QemuRecipe, report: PlanReport, files: [(key: String, path: String)],
                   directory: String) throws -> LibvirtDomain {
    let plan = report.plan
    var paths: [LibvirtHostPath] = []
    if !recipe.hintPages.isEmpty { paths.append(try LibvirtHostPath.read(plan.hintSource, writable: true)) }
    paths.append(try LibvirtHostPath.read(recipe.pmem.path, writable: true))
    for file in files where file.key != "args" { paths.append(try LibvirtHostPath.read(file.path, writable: false)) }
    let name = directory.split(separator: "/").last.map(String.init) ?? "guest"
    let summary = "\(plan.backend) (\(plan.backendKind)\(plan.region.map { " on \($0.dev)" } ?? "")): \(plan.method.rawValue)"
    return try LibvirtDomain.make(recipe: recipe, name: name, hintPath: recipe.hintPages.isEmpty ? nil : plan.hintSource,
                                  paths: paths, summary: summary)
}
