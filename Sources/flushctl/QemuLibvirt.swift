import FlushPlanning
import HostFiles
#if canImport(Glibc)
import Glibc
#endif

// `flushctl qemu --libvirt`: the recipe as a libvirt domain, with the host's facts about every
// path QEMU opens (read here; the formatting is ``LibvirtDomain``, in the library).

/// The libvirt form of `recipe`: the domain is named after the output directory.
func libvirtDomain(_ recipe: QemuRecipe, report: PlanReport, files: [(key: String, path: String)],
                   directory: String) throws -> LibvirtDomain {
    let plan = report.plan
    var paths: [LibvirtHostPath] = []
    if !recipe.hintPages.isEmpty { paths.append(try hostPath(plan.hintSource, writable: true)) }
    paths.append(try hostPath(recipe.pmem.path, writable: true))
    for file in files where file.key != "args" { paths.append(try hostPath(file.path, writable: false)) }
    let name = directory.split(separator: "/").last.map(String.init) ?? "guest"
    let summary = "\(plan.backend) (\(plan.backendKind)\(plan.region.map { " on \($0.dev)" } ?? "")): \(plan.method.rawValue)"
    return try LibvirtDomain.make(recipe: recipe, name: name, hintPath: recipe.hintPages.isEmpty ? nil : plan.hintSource,
                                  paths: paths, summary: summary)
}

/// What the host says of `path`: the file it leads to, its kind, owner, group and mode.
private func hostPath(_ path: String, writable: Bool) throws -> LibvirtHostPath {
    var st = stat()
    guard stat(path, &st) == 0 else {
        throw HostError(path: path, message: "stat failed: \(String(cString: strerror(errno)))")
    }
    var resolved = path
    if let real = realpath(path, nil) {
        resolved = String(cString: real)
        free(real)
    }
    let kind = st.st_mode & S_IFMT
    var sysfsSize: String?
    if kind == S_IFCHR || kind == S_IFBLK {
        // Linux's dev_t: major in bits 8-19 and 32-43, minor in bits 0-7 and 20-31.
        let rdev = UInt64(st.st_rdev)
        let major = ((rdev >> 8) & 0xfff) | ((rdev >> 32) & ~UInt64(0xfff))
        let minor = (rdev & 0xff) | ((rdev >> 12) & ~UInt64(0xff))
        let link = "/sys/dev/\(kind == S_IFCHR ? "char" : "block")/\(major):\(minor)/size"
        if let real = realpath(link, nil) {
            sysfsSize = String(cString: real)
            free(real)
        }
    }
    let owner = getpwuid(st.st_uid).map { String(cString: $0.pointee.pw_name) } ?? String(st.st_uid)
    let group = getgrgid(st.st_gid).map { String(cString: $0.pointee.gr_name) } ?? String(st.st_gid)
    return LibvirtHostPath(path: path, resolved: resolved, isDevice: kind == S_IFCHR || kind == S_IFBLK,
                           owner: owner, group: group, mode: UInt32(st.st_mode & 0o7777), writable: writable,
                           sysfsSize: sysfsSize)
}
