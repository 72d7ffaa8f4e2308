import Testing
@testable import FlushPlanning
@testable import HostFiles
@testable import HostIO
@testable import NVDIMMTopology

/// A /proc/iomem as root sees it on a host whose NFIT puts flush hints in a reserved range.
let iomemFixture = """
00000000-00000fff : Reserved
00001000-0009fbff : System RAM
000a0000-000bffff : PCI Bus 0000:00
00100000-2fffffff : System RAM
  01000000-01ffffff : Kernel code
30000000-31ffffff : Persistent Memory
  30000000-31ffffff : namespace0.0
37ffe000-37ffefff : 0000:00:02.0
37fff000-37ffffff : Reserved
  37fff000-37ffffff : ndbus0
38000000-38000fff : ndbus1
38001000-38001fff : Reserved
38002000-38003fff : ndbus0
  38003000-38003fff : 0000:00:03.0
fed00000-fed003ff : HPET 0
"""

@Suite("Planning: host facts")
struct PlanningHostFactsTests {
    @Test func iomemParsesNesting() throws {
        let map = try IOMemMap.parse(iomemFixture)
        #expect(map.resources.count == 11)
        let ram = map.resources[3]
        #expect(ram.name == "System RAM" && ram.start == 0x100000 && ram.end == 0x2fff_ffff)
        #expect(ram.children.map(\.name) == ["Kernel code"])
        #expect(map.resources[6].children.first?.name == "ndbus0")
        #expect(!map.addressesHidden)
    }

    @Test func pageClaimedByNDBusInsideReserved() throws {
        let map = try IOMemMap.parse(iomemFixture)
        #expect(map.owner(ofPage: 0x37fff000) == .ndBus(name: "ndbus0", containers: ["Reserved"]))
        #expect(map.owner(ofPage: 0x3800_0000) == .ndBus(name: "ndbus1", containers: []))
    }

    @Test func pageInSystemRAMIsRefused() throws {
        let map = try IOMemMap.parse(iomemFixture)
        guard case .systemRAM(let r) = map.owner(ofPage: 0x0100_0000) else {
            Issue.record("expected System RAM"); return
        }
        #expect(r.start == 0x100000)
    }

    @Test func pageOfAnotherDeviceIsRefused() throws {
        let map = try IOMemMap.parse(iomemFixture)
        guard case .otherDevice(let others) = map.owner(ofPage: 0x37ffe000) else {
            Issue.record("expected another device"); return
        }
        #expect(others.map(\.name) == ["0000:00:02.0"])
        // Persistent memory is not a flush-hint page either.
        guard case .otherDevice = map.owner(ofPage: 0x3000_0000) else {
            Issue.record("expected another device for pmem"); return
        }
    }

    @Test func deviceNestedInsideNDBusClaimIsRefused() throws {
        let map = try IOMemMap.parse(iomemFixture)
        guard case .otherDevice(let others) = map.owner(ofPage: 0x3800_3000) else {
            Issue.record("expected another device"); return
        }
        #expect(others.map(\.name) == ["0000:00:03.0"])
        // The claim's other page is fine.
        #expect(map.owner(ofPage: 0x3800_2000) == .ndBus(name: "ndbus0", containers: []))
    }

    @Test func unclaimedPages() throws {
        let map = try IOMemMap.parse(iomemFixture)
        #expect(map.owner(ofPage: 0x3800_1000) == .nothing(containers: ["Reserved"]))
        #expect(map.owner(ofPage: 0x4000_0000) == .nothing(containers: []))
        // PCI bus windows are containers too.
        #expect(map.owner(ofPage: 0xa0000) == .nothing(containers: ["PCI Bus 0000:00"]))
    }

    @Test func zeroedAddressesAreHidden() throws {
        let hidden = """
        00000000-00000000 : Reserved
        00000000-00000000 : System RAM
          00000000-00000000 : Kernel code
        00000000-00000000 : ndbus0
        """
        let map = try IOMemMap.parse(hidden)
        #expect(map.addressesHidden)
        #expect(map.owner(ofPage: 0x37fff000) == .addressesHidden)
    }

    @Test func iomemErrorsNameTheLine() {
        #expect(throws: HostError(path: "/proc/iomem", message: "line 2: '1000-zz' is not a hexadecimal range START-END")) {
            try IOMemMap.parse("00000000-00000fff : Reserved\n1000-zz : x")
        }
        #expect(throws: HostError(path: "/proc/iomem", message: "line 1: nested 1 levels deep under a range -1 levels deep")) {
            try IOMemMap.parse("  00000000-00000fff : Reserved")
        }
        #expect(throws: HostError(path: "/proc/iomem", message: "line 1: range 2000-1000 ends before it starts")) {
            try IOMemMap.parse("2000-1000 : x")
        }
        #expect(throws: HostError.self) { try IOMemMap.parse("00000000-00000fff Reserved") }
        #expect(throws: HostError.self) { try IOMemMap.parse(" 00000000-00000fff : odd indent") }
    }

    @Test func ndBusNames() {
        #expect(IOMemMap.isNDBusName("ndbus0"))
        #expect(IOMemMap.isNDBusName("ndbus12"))
        #expect(!IOMemMap.isNDBusName("ndbus"))
        #expect(!IOMemMap.isNDBusName("ndbus0x"))
        #expect(!IOMemMap.isNDBusName("nd_bus0"))
    }

    @Test func kernelConfig() throws {
        let text = """
        #
        # Automatically generated file; DO NOT EDIT.
        CONFIG_STRICT_DEVMEM=y
        # CONFIG_IO_STRICT_DEVMEM is not set
        CONFIG_LOCALVERSION=""
        CONFIG_NR_CPUS=64

        """
        let config = try KernelConfig.parse(text, source: "/boot/config-6.1.0")
        #expect(config.isEnabled("CONFIG_STRICT_DEVMEM"))
        #expect(!config.isEnabled("CONFIG_IO_STRICT_DEVMEM"))
        #expect(config.options["CONFIG_NR_CPUS"] == "64")
        #expect(throws: HostError(path: "x", message: "line 1: expected 'CONFIG_NAME=value', got 'garbage'")) {
            try KernelConfig.parse("garbage", source: "x")
        }
    }

    @Test func kernelConfigFromBoot() throws {
        let dir = try TempDir()
        let noGz = dir.path + "/config.gz"
        #expect(throws: HostError.self) {
            try KernelConfig.readRunning(release: "6.1.0-test", procConfig: noGz, bootDirectory: dir.path)
        }
        try dir.write("config-6.1.0-test", "CONFIG_STRICT_DEVMEM=y\nCONFIG_IO_STRICT_DEVMEM=y\n")
        let config = try KernelConfig.readRunning(release: "6.1.0-test", procConfig: noGz, bootDirectory: dir.path)
        #expect(config.source == dir.path + "/config-6.1.0-test")
        #expect(config.isEnabled("CONFIG_IO_STRICT_DEVMEM"))
        #expect(throws: HostError.self) {
            try KernelConfig.readRunning(release: nil, procConfig: noGz, bootDirectory: dir.path)
        }
    }

    @Test func commandLine() {
        let cmdline = KernelCommandLine.parse("BOOT_IMAGE=/vmlinuz root=/dev/vda1 iomem=relaxed quiet\n")
        #expect(cmdline.iomemRelaxed)
        #expect(!KernelCommandLine.parse("root=/dev/vda1 quiet").iomemRelaxed)
        // The last value wins, as the kernel applies parameters in order.
        #expect(!KernelCommandLine.parse("iomem=relaxed iomem=strict").iomemRelaxed)
        #expect(KernelCommandLine.parse("iomem=strict iomem=relaxed").iomemRelaxed)
        #expect(!KernelCommandLine.parse("xiomem=relaxed").iomemRelaxed)
    }

    @Test func privilegeFromStatus() throws {
        let root = try Privilege.parse(status: "Name:\tqemu\nUid:\t0\t0\t0\t0\nCapEff:\t000001ffffffffff\n")
        #expect(root.effectiveUID == 0 && root.hasSysRawIO == true)
        // Bit 17 cleared: root in a container without CAP_SYS_RAWIO.
        let noRaw = try Privilege.parse(status: "Uid:\t0\t0\t0\t0\nCapEff:\t000001fffffdffff\n")
        #expect(noRaw.hasSysRawIO == false)
        let user = try Privilege.parse(status: "Uid:\t1000\t1000\t1000\t1000\nCapEff:\t0000000000000000\n")
        #expect(user.effectiveUID == 1000 && user.hasSysRawIO == false)
        let rawOnly = try Privilege.parse(status: "Uid:\t1000\t1000\t1000\t1000\nCapEff:\t0000000000020000\n")
        #expect(rawOnly.hasSysRawIO == true)
        #expect(throws: HostError.self) { try Privilege.parse(status: "CapEff:\tzz\n") }
        #expect(throws: HostError.self) { try Privilege.parse(status: "Uid:\n") }
    }

    @Test func kernelRelease() {
        #expect(KernelRelease.parse("6.1.0-18-amd64") == KernelRelease(major: 6, minor: 1))
        #expect(KernelRelease.parse("5.8.0") == KernelRelease(major: 5, minor: 8))
        #expect(KernelRelease.parse("5.10-rc1") == KernelRelease(major: 5, minor: 10))
        #expect(KernelRelease.parse("garbage") == nil)
        #expect(KernelRelease(major: 5, minor: 8).isAtLeast(5, 8))
        #expect(!KernelRelease(major: 5, minor: 7).isAtLeast(5, 8))
        #expect(KernelRelease(major: 6, minor: 0).isAtLeast(5, 8))
    }

    @Test func sysfsPaths() {
        #expect(BackendProbe.region(inSysfsPath: "/sys/devices/platform/ACPI0012:00/ndbus0/region3/namespace3.0/block/pmem3/pmem3p1") == "region3")
        #expect(BackendProbe.region(inSysfsPath: "/sys/devices/virtual/block/dm-0") == nil)
        #expect(BackendProbe.region(inSysfsPath: "/sys/devices/x/regionx/y") == nil)
        #expect(BackendProbe.isDeviceDAX(sysfsPath: "/sys/devices/platform/ACPI0012:00/ndbus0/region0/dax0.1/dax0.0"))
        #expect(!BackendProbe.isDeviceDAX(sysfsPath: "/sys/devices/platform/ACPI0012:00/ndbus0/region0/namespace0.0"))
        #expect(!BackendProbe.isDeviceDAX(sysfsPath: "/sys/devices/x/dax0"))
        #expect(!BackendProbe.isDeviceDAX(sysfsPath: "/sys/devices/x/dax0.x"))
        #expect(!BackendProbe.isDeviceDAX(sysfsPath: "/sys/devices/virtual/tty/tty0"))
        // glibc's dev_t encoding (makedev): 8:1, 259:0, 259:65536, 4096:1.
        #expect(BackendProbe.deviceNumber(0x801) == "8:1")
        #expect(BackendProbe.deviceNumber(0x10300) == "259:0")
        #expect(BackendProbe.deviceNumber(0x1001_0300) == "259:65536")
        #expect(BackendProbe.deviceNumber(0x0000_1000_0000_0001) == "4096:1")
    }
}

/// A temporary directory removed when the test ends.
final class TempDir {
    let path: String

    init() throws {
        var template = Array("/tmp/flushctl-plan-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { buffer in buffer.baseAddress.flatMap { mkdtemp($0) }.map { String(cString: $0) } }
        guard let made else { throw TempDirError() }
        path = made
    }

    func write(_ name: String, _ text: String) throws {
        let fd = open(path + "/" + name, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw TempDirError() }
        defer { close(fd) }
        var text = text
        let ok = text.withUTF8 { Glibc.write(fd, $0.baseAddress, $0.count) == $0.count }
        guard ok else { throw TempDirError() }
    }

    deinit {
        if let dir = opendir(path) {
            while let entry = readdir(dir) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                if name != "." && name != ".." { unlink(path + "/" + name) }
            }
            closedir(dir)
        }
        rmdir(path)
    }
}

struct TempDirError: Error {}

#if canImport(Glibc)
import Glibc
#endif
