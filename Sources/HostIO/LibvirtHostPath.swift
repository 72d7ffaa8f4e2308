import FlushPlanning
import HostFiles
import SystemPackage
#if canImport(Glibc)
import Glibc
#endif

extension LibvirtHostPath {
    /// What the host says of `path`, which QEMU opens (read-write when `writable`): the file it
    /// leads to, its kind, owner, group and mode, and a device's `size` in sysfs.
    ///
    /// - Throws: ``HostError`` when `path` cannot be examined.
    public static func read(_ path: String, writable: Bool) throws(HostError) -> LibvirtHostPath {
        var st = stat()
        guard stat(path, &st) == 0 else {
            let error = Errno.last
            throw HostError(path: path, message: "stat failed: \(error)", errno: error)
        }
        let kind = st.st_mode & S_IFMT
        let isDevice = kind == S_IFCHR || kind == S_IFBLK
        let sysfsSize = isDevice
            ? BackendProbe.resolveLink("/sys/dev/\(kind == S_IFCHR ? "char" : "block")/\(BackendProbe.deviceNumber(UInt64(st.st_rdev)))/size")
            : nil
        let group = getgrgid(st.st_gid).flatMap { $0.pointee.gr_name.map { String(cString: $0) } } ?? String(st.st_gid)
        return LibvirtHostPath(path: path, resolved: BackendProbe.resolveLink(path) ?? path, isDevice: isDevice,
                               owner: DurableDirectory.userName(st.st_uid) ?? String(st.st_uid), group: group,
                               mode: UInt32(st.st_mode & 0o7777), writable: writable, sysfsSize: sysfsSize)
    }
}
