import CLinuxFS
import SystemPackage
#if canImport(Glibc)
import Glibc
#endif
import FlushPlanning
import HostFiles
import NVDIMMTopology

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

    /// Inspects `path` once: a device-dax character device, an NVDIMM block device, a file on a
    /// filesystem on an NVDIMM region (probing MAP_SYNC and holes), or any other file; with its
    /// size (a block device's from sysfs, a file's; a device-dax device's is the topology's) and
    /// the path to give a VMM (``vmmPath(for:sysfs:)``), all from one `stat`. The backend
    /// carries `path` resolved (``resolve(backend:)``), so the file planned is the file a VMM
    /// started elsewhere opens.
    ///
    /// - Throws: ``HostError`` when the path cannot be resolved, is a character device that is
    ///   not device-dax on a region, or is neither a file nor a device.
    public static func inspect(path given: String, sysfs: String = "/sys") throws(HostError) -> ProbedBackend {
        let path = try resolve(backend: given)
        var st = stat()
        if stat(path, &st) != 0 {
            let error = Errno.last
            throw HostError(path: path, message: "cannot stat: \(error)", errno: error)
        }
        let backend: Backend
        var geometry: BackendGeometry?
        var deviceName: String?
        switch st.st_mode & S_IFMT {
        case S_IFCHR:
            let dev = deviceNumber(UInt64(st.st_rdev))
            let link = "\(sysfs)/dev/char/\(dev)"
            guard let resolved = resolveLink(link), isDeviceDAX(sysfsPath: resolved), let region = region(inSysfsPath: resolved) else {
                throw HostError(path: path, message: "character device \(dev) is not a device-dax device on an NVDIMM region")
            }
            backend = .deviceDAX(path: path, region: region)
            deviceName = resolved.split(separator: "/").last.map(String.init)
        case S_IFBLK:
            let dev = deviceNumber(UInt64(st.st_rdev))
            if let resolved = resolveLink("\(sysfs)/dev/block/\(dev)"), let region = region(inSysfsPath: resolved) {
                backend = .blockDevice(path: path, region: region)
                deviceName = resolved.split(separator: "/").last.map(String.init)
            } else {
                backend = .otherFile(path: path)
            }
            if let sectors = SmallFile.readInteger("\(sysfs)/dev/block/\(dev)/size"), sectors > 0 {
                geometry = BackendGeometry(size: UInt64(sectors) * 512)
            }
        case S_IFREG:
            geometry = BackendGeometry(size: UInt64(max(0, st.st_size)))
            let dev = deviceNumber(UInt64(st.st_dev))
            if let resolved = resolveLink("\(sysfs)/dev/block/\(dev)"), let region = region(inSysfsPath: resolved) {
                // st_dev names the filesystem's data device; the file's blocks may be elsewhere.
                if let why = dataElsewhere(path: path, device: dev) {
                    backend = .unplacedFile(path: path, why: why)
                } else {
                    backend = .daxFile(path: path, region: region, mapSync: probeMapSync(path: path),
                                       fullyAllocated: isFullyAllocated(path: path, size: Int64(st.st_size)))
                }
            } else {
                backend = .otherFile(path: path)
            }
        default:
            throw HostError(path: path, message: "is neither a regular file nor a block or character device")
        }
        return ProbedBackend(backend: backend, geometry: geometry, vmmPath: vmmPath(path: path, status: st, sysfs: sysfs),
                             deviceName: deviceName)
    }

    /// `path` absolute, with every symbolic link, `.` and `..` resolved (`realpath(3)`): what a
    /// VMM started from any directory opens. A relative path would name another file, or none
    /// that QEMU then creates, once QEMU runs elsewhere.
    ///
    /// - Throws: ``HostError`` when the path or a directory on it does not exist or cannot be read.
    public static func resolve(backend path: String) throws(HostError) -> String {
        guard let resolved = realpath(path, nil) else {
            let error = Errno.last
            throw HostError(path: path, message: "cannot stat: \(error)", errno: error)
        }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// Where flushctl's udev rule (udev/61-flushctl-vmm.rules) puts a directory for each
    /// device-dax and pmem block device, holding one link to it: `/dev/flushctl/dax0.0/device`.
    public static let vmmLinkDirectory = "/dev/flushctl"

    /// The link a VMM is given for the device whose kernel name is `name`.
    public static func vmmLink(kernelName name: String) -> String { "\(vmmLinkDirectory)/\(name)/device" }

    /// The path to give a VMM for `backend`, one that no longer opens once the backend's device
    /// or filesystem is gone, or why there is none (``VMMPath``).
    public static func vmmPath(for backend: Backend, sysfs: String = "/sys") -> VMMPath {
        var st = stat()
        if stat(backend.path, &st) != 0 { return .unguarded(why: "\(backend.path) cannot be examined (\(Errno.last))") }
        return vmmPath(path: backend.path, status: st, sysfs: sysfs)
    }

    /// ``vmmPath(for:sysfs:)`` of the backend at `path`, whose `stat` is `st`.
    static func vmmPath(path: String, status st: stat, sysfs: String) -> VMMPath {
        switch st.st_mode & S_IFMT {
        case S_IFCHR, S_IFBLK:
            let isChar = st.st_mode & S_IFMT == S_IFCHR
            let dev = deviceNumber(UInt64(st.st_rdev))
            guard let sysfsPath = resolveLink("\(sysfs)/dev/\(isChar ? "char" : "block")/\(dev)"),
                  let name = sysfsPath.split(separator: "/").last.map(String.init) else {
                return .unguarded(why: "sysfs does not name device \(dev) (\(path))")
            }
            let link = vmmLink(kernelName: name)
            let directory = "\(vmmLinkDirectory)/\(name)"
            let missing = "QEMU creates a missing mem-path, so given \(path) it would make a RAM file in /dev once the device is gone; flushctl gives a VMM \(link) instead, which udev removes with the device, but"
            var dirStat = stat()
            guard lstat(directory, &dirStat) == 0 else {
                return .unguarded(why: "\(missing) \(directory) does not exist: install flushctl's udev rules (udev/install.sh) and run udevadm trigger")
            }
            guard dirStat.st_mode & S_IFMT == S_IFDIR, dirStat.st_uid == 0, dirStat.st_mode & 0o022 == 0 else {
                return .unguarded(why: "\(missing) \(directory) is not a directory owned by root and writable by root alone (uid \(dirStat.st_uid), mode \(String(dirStat.st_mode & 0o7777, radix: 8)))")
            }
            var linkStat = stat()
            var target = stat()
            guard lstat(link, &linkStat) == 0, linkStat.st_mode & S_IFMT == S_IFLNK, stat(link, &target) == 0 else {
                return .unguarded(why: "\(missing) \(link) is missing or not udev's link to the device")
            }
            guard target.st_mode & S_IFMT == st.st_mode & S_IFMT, target.st_rdev == st.st_rdev else {
                return .unguarded(why: "\(link) leads to device \(deviceNumber(UInt64(target.st_rdev))), not to \(path) (\(dev)): run udevadm trigger and plan again")
            }
            return .failsClosed(path: link, device: dev)
        case S_IFREG:
            let slash = path.lastIndex(of: "/") ?? path.startIndex
            let parent = slash == path.startIndex ? "/" : String(path[..<slash])
            if parent == "/" { return .failsClosed(path: path, device: nil) }
            let name = String(path[path.index(after: slash)...])
            if isMountRoot(parent) {
                return .unguarded(why: "\(path) is in \(parent), the root of a mounted filesystem: when it is not mounted, QEMU creates a new, empty \(name) in the directory beneath and carries on; keep the backend in a directory of that filesystem (e.g. \(parent)/vm/\(name))")
            }
            return .failsClosed(path: path, device: nil)
        default:
            return .unguarded(why: "\(path) is neither a regular file nor a device")
        }
    }

    /// Whether the directory `path` is where a filesystem is mounted: statx(2)'s
    /// STATX_ATTR_MOUNT_ROOT (bind mounts too), else (before Linux 5.8) whether its device
    /// differs from its parent's. An error counts as a mount root: the answer that refuses.
    static func isMountRoot(_ path: String) -> Bool {
        var root: Int32 = 0
        guard flushctl_is_mount_root(path, &root) == 0 else { return true }
        if root >= 0 { return root == 1 }
        var here = stat()
        var above = stat()
        guard stat(path, &here) == 0, stat(path + "/..", &above) == 0 else { return true }
        return here.st_dev != above.st_dev || here.st_ino == above.st_ino
    }

    /// `statfs(2)` `f_type` of ext2, ext3 and ext4 (one magic number for all three).
    static let ext4Magic: Int = 0xEF53
    /// `statfs(2)` `f_type` of XFS.
    static let xfsMagic: Int = 0x5846_5342
    /// statfs(2)'s `f_type` of the filesystem holding `path`, or `nil` when it cannot be asked.
    static func filesystemType(path: String) -> Int? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { return nil }
        defer { close(fd) }
        var type = 0
        return flushctl_fs_type(fd, &type) == 0 ? type : nil
    }

    /// Why the blocks of the regular file at `path` may not be on `device` (its `st_dev`), or
    /// `nil` when they are. Only filesystems known to keep every file's data on their one data
    /// device count: ext2/3/4, and XFS for a file without `FS_XFLAG_REALTIME` (a realtime
    /// file's blocks are on the filesystem's realtime device, `-o rtdev=`). Anything unknown,
    /// or a question that fails, is an answer of "elsewhere": the plan is then fsync.
    static func dataElsewhere(path: String, device: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        if fd < 0 { return "could not be opened to find where its blocks are (\(Errno.last))" }
        defer { close(fd) }
        var type = 0
        if flushctl_fs_type(fd, &type) != 0 { return "is on a filesystem statfs(2) refused (\(Errno.last))" }
        switch type {
        case ext4Magic:
            return nil
        case xfsMagic:
            var flags: UInt32 = 0
            if flushctl_fs_xflags(fd, &flags) != 0 {
                return "is on XFS, and FS_IOC_FSGETXATTR failed (\(Errno.last)), so whether its blocks are on the realtime device is unknown"
            }
            if flags & flushctl_fs_xflag_realtime != 0 {
                return "is an XFS realtime file (FS_XFLAG_REALTIME): its blocks are on the filesystem's realtime device, not on \(device)"
            }
            return nil
        default:
            return "is on a filesystem (type 0x\(String(UInt(bitPattern: type), radix: 16))) that flushctl does not know to keep a file's blocks on the device it reports (\(device))"
        }
    }

    /// Tries `mmap(MAP_SHARED_VALIDATE | MAP_SYNC)` of the file's first page, read-write.
    /// The kernel accepts it only for a DAX file whose filesystem commits block mappings
    /// before a write fault returns.
    public static func probeMapSync(path: String) -> MapSyncProbe {
        let fd = open(path, O_RDWR | O_CLOEXEC)
        if fd < 0 { return .refused("open for writing: \(Errno.last)") }
        defer { close(fd) }
        let size = Int(FlushHintPage.pageSize)
        let base = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED_VALIDATE | MAP_SYNC, fd, 0)
        guard let base, base != MAP_FAILED else {
            return .refused("mmap: \(Errno.last)")
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
    static func resolveLink(_ link: String) -> String? {
        guard let resolved = realpath(link, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}

