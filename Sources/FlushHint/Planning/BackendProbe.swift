import SystemPackage
#if canImport(Glibc)
import Glibc
#endif

/// Finds what kind of backend a path is: the small part of planning that needs the host.
public enum BackendProbe {
    /// The region (`regionN`) a resolved sysfs device path lies under, if any:
    /// `/sys/devices/platform/ACPI0012:00/ndbus0/region0/namespace0.0/block/pmem0` → `region0`.
    public static func region(inSysfsPath path: String) -> RegionName? {
        path.split(separator: "/").reversed().lazy
            .compactMap { RegionName(parsing: String($0), allowBareNumber: false) }.first
    }

    /// Whether a resolved sysfs path names a device-dax instance (last component `daxX.Y`).
    /// Only meaningful for a path resolved from /sys/dev/char: the nd_dax parent device has
    /// the same name pattern but is not a character device.
    public static func isDeviceDAX(sysfsPath path: String) -> Bool {
        guard let last = path.split(separator: "/").last, last.hasPrefix("dax") else { return false }
        let parts = last.dropFirst(3).split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 2 && parts.allSatisfy { !$0.isEmpty && $0.allSatisfy { $0.isASCII && $0.isNumber } }
    }

    /// Inspects `path`: a device-dax character device, an NVDIMM block device, a file on a
    /// filesystem on an NVDIMM region (probing MAP_SYNC and holes), or any other file.
    ///
    /// - Throws: ``HostError`` when the path does not exist, is a character device that is
    ///   not device-dax on a region, or is neither a file nor a device.
    public static func inspect(path: String, sysfs: String = "/sys") throws(HostError) -> Backend {
        var st = stat()
        if stat(path, &st) != 0 {
            let error = Errno(rawValue: errno)
            throw HostError(path: path, message: "cannot stat: \(error)", errno: error)
        }
        switch st.st_mode & S_IFMT {
        case S_IFCHR:
            let dev = deviceNumber(UInt64(st.st_rdev))
            let link = "\(sysfs)/dev/char/\(dev)"
            guard let resolved = resolve(link), isDeviceDAX(sysfsPath: resolved), let region = region(inSysfsPath: resolved) else {
                throw HostError(path: path, message: "character device \(dev) is not a device-dax device on an NVDIMM region")
            }
            return .deviceDAX(path: path, region: region)
        case S_IFBLK:
            let dev = deviceNumber(UInt64(st.st_rdev))
            if let resolved = resolve("\(sysfs)/dev/block/\(dev)"), let region = region(inSysfsPath: resolved) {
                return .blockDevice(path: path, region: region)
            }
            return .otherFile(path: path)
        case S_IFREG:
            let dev = deviceNumber(UInt64(st.st_dev))
            guard let resolved = resolve("\(sysfs)/dev/block/\(dev)"), let region = region(inSysfsPath: resolved) else {
                return .otherFile(path: path)
            }
            return .daxFile(path: path, region: region, mapSync: probeMapSync(path: path),
                            fullyAllocated: isFullyAllocated(path: path, size: Int64(st.st_size)))
        default:
            throw HostError(path: path, message: "is neither a regular file nor a block or character device")
        }
    }

    /// The backend's size and the alignment a mapping of it needs, for a VMM that maps all of
    /// it: a device-dax device's `size` and `align` from sysfs (`align` is absent before Linux
    /// 5.10: then the dax region's `align`), a block device's size, a file's size.
    ///
    /// - Throws: ``HostError`` when the path cannot be examined or sysfs has no size for it.
    public static func geometry(path: String, sysfs: String = "/sys") throws(HostError) -> QemuBackendGeometry {
        var st = stat()
        if stat(path, &st) != 0 {
            throw HostError(path: path, operation: "stat", errno: Errno(rawValue: errno))
        }
        switch st.st_mode & S_IFMT {
        case S_IFCHR:
            let dev = deviceNumber(UInt64(st.st_rdev))
            guard let dir = resolve("\(sysfs)/dev/char/\(dev)"), let size = SmallFile.readInteger("\(dir)/size"), size > 0 else {
                throw HostError(path: path, message: "sysfs gives no size for character device \(dev)")
            }
            let align = SmallFile.readInteger("\(dir)/align") ?? SmallFile.readInteger("\(dir)/../dax_region/align")
            return QemuBackendGeometry(size: UInt64(size), align: align.flatMap { $0 > 0 ? UInt64($0) : nil })
        case S_IFBLK:
            let dev = deviceNumber(UInt64(st.st_rdev))
            guard let sectors = SmallFile.readInteger("\(sysfs)/dev/block/\(dev)/size"), sectors > 0 else {
                throw HostError(path: path, message: "sysfs gives no size for block device \(dev)")
            }
            return QemuBackendGeometry(size: UInt64(sectors) * 512)
        default:
            return QemuBackendGeometry(size: UInt64(max(0, st.st_size)))
        }
    }

    /// Tries `mmap(MAP_SHARED_VALIDATE | MAP_SYNC)` of the file's first page, read-write.
    /// The kernel accepts it only for a DAX file whose filesystem commits block mappings
    /// before a write fault returns.
    public static func probeMapSync(path: String) -> MapSyncProbe {
        let fd = open(path, O_RDWR | O_CLOEXEC)
        if fd < 0 { return .refused("open for writing: \(Errno(rawValue: errno))") }
        defer { close(fd) }
        let size = Int(FlushHintPage.pageSize)
        let base = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED_VALIDATE | MAP_SYNC, fd, 0)
        guard let base, base != MAP_FAILED else {
            return .refused("mmap: \(Errno(rawValue: errno))")
        }
        munmap(base, size)
        return .accepted
    }

    /// Whether the file has no holes: `lseek(SEEK_HOLE)` from 0 finds only the implicit hole
    /// at the end. Any error counts as not allocated (the safe answer).
    public static func isFullyAllocated(path: String, size: Int64) -> Bool {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { return false }
        defer { close(fd) }
        let seekHole: Int32 = 4  // SEEK_HOLE (Linux), not exported without _GNU_SOURCE
        let hole = lseek(fd, 0, seekHole)
        return size > 0 && hole >= 0 && Int64(hole) >= size
    }

    /// `MAJOR:MINOR` of a `dev_t`, as /sys/dev/{block,char} names devices (glibc's
    /// `gnu_dev_major`/`gnu_dev_minor` encoding, which Swift does not import).
    public static func deviceNumber(_ dev: UInt64) -> String {
        let major = ((dev >> 32) & 0xffff_f000) | ((dev >> 8) & 0xfff)
        let minor = ((dev >> 12) & 0xffff_ff00) | (dev & 0xff)
        return "\(major):\(minor)"
    }

    /// The target of a sysfs symlink, resolved to an absolute path.
    static func resolve(_ link: String) -> String? {
        guard let resolved = realpath(link, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}
