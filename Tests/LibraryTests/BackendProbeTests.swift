import Testing

#if canImport(Glibc)
import Glibc
#endif
@testable import FlushPlanning
@testable import HostFiles
@testable import HostIO

/// What BackendProbe decides from the host on its own (issue 19 items 1, 3 and 5): the path it
/// plans, whether a file's blocks are on the device its filesystem reports, and the path a VMM
/// may be given. The NVDIMM cases run in the emulated host (Tests/HostTests/BackendPathTests.swift).
@Suite struct BackendProbeTests {
    /// Whether `path` is on a filesystem of type `magic` (statfs(2)'s f_type).
    static func isFilesystem(_ path: String, magic: Int) -> Bool {
        BackendProbe.filesystemType(path: path) == magic
    }

    /// A new empty file in tmpfs (/dev/shm), a mount point itself; removed by the caller.
    static func shmFile(_ name: String) -> String {
        let path = "/dev/shm/flushctl-\(name)-\(getpid())"
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        #expect(fd >= 0)
        close(fd)
        return path
    }

    /// `path` relative to the working directory: the backend as a user in another directory types it.
    static func relative(_ path: String) -> String {
        guard let cwd = getcwd(nil, 0) else { return path }
        defer { free(cwd) }
        let depth = String(cString: cwd).split(separator: "/").count
        return String(repeating: "../", count: depth) + path.dropFirst()
    }

    @Test func aRelativePathOrALinkIsPlannedAsTheFileItNames() throws {
        let dir = try TempDir()
        try dir.write("img", "data")
        #expect(symlink(dir.path + "/img", dir.path + "/link") == 0)
        let resolved = try BackendProbe.resolve(backend: dir.path + "/img")
        #expect(resolved.hasPrefix("/") && resolved.hasSuffix("/img"))
        #expect(try BackendProbe.inspect(path: Self.relative(dir.path + "/img")).backend.path == resolved)
        #expect(try BackendProbe.inspect(path: dir.path + "/link").backend.path == resolved)
        #expect(try BackendProbe.inspect(path: dir.path + "/./link").backend.path == resolved)
        // A missing backend is an error, not a path for QEMU to create.
        #expect(throws: HostError.self) { try BackendProbe.inspect(path: Self.relative(dir.path + "/missing")) }
    }

    @Test(.enabled(if: isFilesystem("/tmp", magic: BackendProbe.ext4Magic), "needs /tmp on ext2/3/4"))
    func anExt4FilesBlocksAreOnItsDevice() throws {
        let dir = try TempDir()
        try dir.write("img", "data")
        #expect(BackendProbe.dataElsewhere(path: dir.path + "/img", device: "8:1") == nil)
    }

    @Test(.enabled(if: isFilesystem("/dev/shm", magic: 0x0102_1994), "needs /dev/shm on tmpfs"))
    func aFilesystemFlushctlDoesNotKnowIsNeverTiedToItsDevice() throws {
        let path = Self.shmFile("probe")
        defer { unlink(path) }
        let why = try #require(BackendProbe.dataElsewhere(path: path, device: "0:26"))
        #expect(why.contains("type 0x1021994"), "\(why)")
        #expect(BackendProbe.dataElsewhere(path: path + ".missing", device: "0:26") != nil)
    }

    @Test func anUnplacedFileIsPlannedFsyncOnNoRegion() throws {
        let backend = Backend.unplacedFile(path: "/mnt/rt/img", why: "is an XFS realtime file (FS_XFLAG_REALTIME): its blocks are on the filesystem's realtime device, not on 259:0")
        let plan = try Planner.plan(backend: backend, region: nil, checks: [], guestBase: 0x1_0000_0000)
        #expect(plan.method == .fsync)
        #expect(plan.region == nil && plan.ranges.isEmpty && plan.guest == nil)
        #expect(plan.backendKind == "file")
        #expect(plan.reason.hasPrefix("/mnt/rt/img is an XFS realtime file"), "\(plan.reason)")
        #expect(HostPlanning.isPageCache(backend))
    }

    @Test func aFileBelowAMountPointFailsClosed() throws {
        let dir = try TempDir()
        try dir.write("img", "data")
        let probed = try BackendProbe.inspect(path: dir.path + "/img")
        #expect(BackendProbe.vmmPath(for: probed.backend) == .failsClosed(path: probed.backend.path, device: nil))
        // The probe's own answer is the same, with the file's size from the same stat.
        #expect(probed.vmmPath == .failsClosed(path: probed.backend.path, device: nil))
        #expect(probed.geometry == BackendGeometry(size: 4))
    }

    @Test(.enabled(if: isFilesystem("/dev/shm", magic: 0x0102_1994), "needs a mounted /dev/shm"))
    func aFileInAMountPointHasNoPathForAVMM() throws {
        let path = Self.shmFile("vmm")
        defer { unlink(path) }
        #expect(BackendProbe.isMountRoot("/dev/shm"))
        guard case .unguarded(let why) = BackendProbe.vmmPath(for: .otherFile(path: path)) else {
            Issue.record("a file in a mount point fails closed"); return
        }
        #expect(why.contains("/dev/shm, the root of a mounted filesystem"), "\(why)")
    }

    @Test func aDeviceWithoutItsUdevLinkHasNoPathForAVMM() {
        guard case .unguarded(let why) = BackendProbe.vmmPath(for: .otherFile(path: "/dev/null")) else {
            Issue.record("/dev/null fails closed"); return
        }
        #expect(why.contains("/dev/flushctl/null does not exist"), "\(why)")
        #expect(BackendProbe.vmmLink(kernelName: "dax0.0") == "/dev/flushctl/dax0.0/device")
    }
}
