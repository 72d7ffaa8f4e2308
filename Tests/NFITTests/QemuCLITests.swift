import Foundation
import Testing

/// `flushctl qemu` run as a program on this (NVDIMM-less) machine: a plain file is the fsync
/// recipe; bad input exits 2 with one line.
@Suite struct QemuCLITests {
    @Test func plainFileIsVirtioPmemAndOnlyTheArgumentsFile() throws {
        let dir = try Support.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let image = dir.appendingPathComponent("pmem.img")
        try Data(count: 16 << 20).write(to: image)
        let out = dir.appendingPathComponent("vm,1")
        let r = try Support.run(try CLITests.flushctl(),
                                ["qemu", image.path, "--out", out.path, "--guest-ram", "4G", "--machine", "q35", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let keys = r.stdout.split(separator: "\n").filter { $0.hasPrefix("  \"") }.map { $0.dropFirst(3).prefix { $0 != "\"" } }
        #expect(keys == ["backend", "backend_kind", "method", "reason", "machine", "guest_ram", "device_memory_base",
                         "pmem", "memory", "min_qemu_version", "files", "qemu_args", "requirements"])
        #expect(r.stdout.contains("\"option\":\"-m 4G,slots=1,maxmem=5G\""))
        let args = try String(contentsOf: out.appendingPathComponent("qemu.args"), encoding: .utf8)
        let escaped = image.path.replacingOccurrences(of: ",", with: ",,")
        #expect(args == "-object\nmemory-backend-file,id=pm0,mem-path=\(escaped),size=0x1000000,share=on\n-device\nvirtio-pmem-pci,memdev=pm0,id=vp0,memaddr=0x180000000\n")
        #expect(!FileManager.default.fileExists(atPath: out.appendingPathComponent("nfit.aml").path))
    }

    @Test(arguments: [
        (["--machine", "isapc"], "--machine 'isapc' is not pc or q35"),
        (["--guest-ram", "lots"], "--guest-ram 'lots' is not a size"),
        (["--guest-pmem-base", "0x100001000"], "--guest-pmem-base 0x100001000 is not aligned to 0x200000 bytes"),
        (["--guest-pmem-base", "0x80000000"], "lies below QEMU's device-memory area"),
        (["--guest-base", "zero"], "--guest-base 'zero' is not a number"),
    ])
    func badInputExitsTwoWithOneLine(options: [String], message: String) throws {
        let dir = try Support.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let image = dir.appendingPathComponent("pmem.img")
        try Data(count: 4 << 20).write(to: image)
        let r = try Support.run(try CLITests.flushctl(), ["qemu", image.path, "--out", dir.appendingPathComponent("out").path] + options)
        #expect(r.status == 2)
        #expect(r.stderr.hasPrefix("flushctl qemu: error: "), "\(r.stderr)")
        #expect(r.stderr.contains(message), "\(r.stderr)")
        #expect(r.stderr.split(separator: "\n").count == 1)
    }
}
