import Foundation
import Testing
import TestSupport

/// `flushctl qemu` run as a program on this (NVDIMM-less) machine: a plain file is the fsync
/// recipe; bad input exits 2 with one line.
@Suite struct QemuCLITests {
    @Test func plainFileIsVirtioPmemAndOnlyTheArgumentsFile() throws {
        let dir = try Support.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let image = dir.appendingPathComponent("pmem.img")
        try Data(count: 16 << 20).write(to: image)
        let out = dir.appendingPathComponent("vm,1")
        let r = try Support.run(try Support.flushctl(),
                                ["qemu", image.path, "--out", out.path, "--guest-ram", "4G", "--machine", "q35", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let keys = r.stdout.split(separator: "\n").filter { $0.hasPrefix("  \"") }.map { $0.dropFirst(3).prefix { $0 != "\"" } }
        #expect(keys == ["backend", "backend_kind", "method", "reason", "machine", "guest_ram", "device_memory_base",
                         "pmem", "memory", "min_qemu_version", "files", "qemu_args", "migration", "requirements"])
        #expect(r.stdout.contains("\"option\":\"-m 4G,slots=1,maxmem=5G\""))
        // Issue 22: the fsync recipe stays migratable and says what the destination needs.
        #expect(r.stdout.contains("\"migration\":{\n    \"migratable\":true,"), "\(r.stdout)")
        #expect(r.stdout.contains("\"destination\":\"the same file at the same path and size"))
        #expect(!r.stdout.contains("refused_by") && !r.stdout.contains("ivshmem"))
        let text = try Support.run(try Support.flushctl(), ["qemu", image.path, "--out", dir.appendingPathComponent("text").path])
        #expect(text.stdout.contains("\n  migration: allowed: the backend is a file"), "\(text.stdout)")
        let args = try String(contentsOf: out.appendingPathComponent("qemu.args"), encoding: .utf8)
        let escaped = image.path.replacingOccurrences(of: ",", with: ",,")
        #expect(args == "-object\nmemory-backend-file,id=pm0,mem-path=\(escaped),size=0x1000000,share=on\n-device\nvirtio-pmem-pci,memdev=pm0,id=vp0,memaddr=0x180000000\n")
        #expect(!FileManager.default.fileExists(atPath: out.appendingPathComponent("nfit.aml").path))
    }

    /// Issue 19 item 3: a backend typed relative to the working directory, or through a link, is
    /// written as the absolute file it names: QEMU started anywhere opens that file, not a new
    /// one it creates where it runs.
    @Test func aRelativeOrLinkedBackendIsWrittenAsTheFileItNames() throws {
        let dir = try Support.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let vm = dir.appendingPathComponent("vm")
        try FileManager.default.createDirectory(at: vm, withIntermediateDirectories: false)
        try Data(count: 16 << 20).write(to: vm.appendingPathComponent("full"))
        try FileManager.default.createSymbolicLink(atPath: dir.appendingPathComponent("link").path, withDestinationPath: "vm/full")
        let real = vm.appendingPathComponent("full").resolvingSymlinksInPath().path
        for (backend, cwd) in [("full", vm), ("./vm/../vm/full", dir), ("link", dir)] {
            let out = dir.appendingPathComponent("out-\(backend.count)")
            let r = try Support.run(try Support.flushctl(), ["qemu", backend, "--out", out.path, "--json"], in: cwd)
            #expect(r.status == 0, "\(backend): \(r.stderr)")
            #expect(r.stdout.contains("\"backend\":\"\(real)\""), "\(backend): \(r.stdout)")
            let args = try String(contentsOf: out.appendingPathComponent("qemu.args"), encoding: .utf8)
            #expect(args.contains("mem-path=\(real.replacingOccurrences(of: ",", with: ",,")),"), "\(backend): \(args)")
        }
        // plan says the same path, and where a VMM may be given it.
        let plan = try Support.run(try Support.flushctl(), ["plan", "full", "--json"], in: vm)
        #expect(plan.stdout.contains("\"backend\":\"\(real)\"") && plan.stdout.contains("\"vmm_path\":\"\(real)\""), "\(plan.stdout)")
        #expect(plan.stdout.contains("\"migration\":{\n    \"migratable\":true,"), "a file's fsync plan may be migrated: \(plan.stdout)")
    }

    /// What `--out` left: the names in `dir`, or `nil` when it is not a directory.
    static func names(_ dir: String) -> [String]? { try? FileManager.default.contentsOfDirectory(atPath: dir).sorted() }

    /// Issue 19: root's `--out` into a directory someone else controls would let them rewrite
    /// the arguments of root's QEMU (mem-path=/dev/mem). Refused: exit 2, one line naming the
    /// directory, its owner and mode, and nothing written anywhere.
    @Test(.enabled(if: geteuid() == 0, "needs root: directories are handed to nobody"))
    func outDirectoryOthersControlIsRefused() throws {
        let dir = try Support.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let image = dir.appendingPathComponent("pmem.img")
        try Data(count: 16 << 20).write(to: image)
        let base = dir.path
        let target = base + "/roots"
        #expect(mkdir(target, 0o755) == 0)
        // (directory, owner, mode, the path the error names, its owner, its mode)
        let cases: [(String, uid_t, mode_t, String, uid_t, mode_t)] = [
            (base + "/vm-shared", 65534, 0o755, base + "/vm-shared", 65534, 0o755),   // as in the report
            (base + "/vm-777", 0, 0o777, base + "/vm-777", 0, 0o777),
            (base + "/vm-775", 0, 0o775, base + "/vm-775", 0, 0o775),
            (base + "/vm-1777", 0, 0o1777, base + "/vm-1777", 0, 0o1777),
            (base + "/nobodys/vm", 0, 0o755, base + "/nobodys", 65534, 0o755),       // a parent nobody owns
        ]
        for (path, owner, mode, named, namedOwner, namedMode) in cases {
            #expect(mkdir(path, 0o755) == 0 || (mkdir((path as NSString).deletingLastPathComponent, 0o755) == 0 && mkdir(path, 0o755) == 0))
            #expect(chown(path, owner, gid_t.max) == 0 && chmod(path, mode) == 0)
            if named != path { #expect(chown(named, namedOwner, gid_t.max) == 0) }
            let r = try Support.run(try Support.flushctl(), ["qemu", image.path, "--out", path])
            let digits = String(namedMode, radix: 8)
            let octal = String(repeating: "0", count: 4 - digits.count) + digits
            #expect(r.status == 2, "\(path): exit \(r.status): \(r.stderr)")
            #expect(r.stderr.hasPrefix("flushctl qemu: error: \(named): ") && r.stderr.contains("uid \(namedOwner)")
                    && r.stderr.contains("mode \(octal)") && r.stderr.split(separator: "\n").count == 1, "\(path): \(r.stderr)")
            #expect(Self.names(path) == [], "\(path): written into")
        }
        // A link root made, into the directory nobody owns: where it leads is checked too.
        #expect(symlink(base + "/nobodys", base + "/rootlink") == 0)
        let via = try Support.run(try Support.flushctl(), ["qemu", image.path, "--out", base + "/rootlink/vm"])
        #expect(via.status == 2 && via.stderr.hasPrefix("flushctl qemu: error: \(base)/nobodys: directory owned by uid 65534"), "\(via.stderr)")
        #expect(Self.names(base + "/nobodys/vm") == [])
        // A symbolic link nobody planted as --out, to a directory of root's: not followed.
        let link = base + "/vm-link"
        #expect(symlink(target, link) == 0 && lchown(link, 65534, gid_t.max) == 0)
        let r = try Support.run(try Support.flushctl(), ["qemu", image.path, "--out", link])
        #expect(r.status == 2 && r.stderr == "flushctl qemu: error: \(link): is a symbolic link owned by uid 65534 (nobody); refusing to follow it (give the directory itself)\n",
                "\(r.stderr)")
        // Through a link nobody planted on the way.
        let r2 = try Support.run(try Support.flushctl(), ["qemu", image.path, "--out", link + "/vm"])
        #expect(r2.status == 2 && r2.stderr.hasPrefix("flushctl qemu: error: \(link): symbolic link owned by uid 65534"), "\(r2.stderr)")
        #expect(Self.names(target) == [])
    }

    /// The README's `--out /tmp/vm1`: a fresh directory in sticky /tmp is made (0755, the
    /// caller's) and written, by root and by a user for themselves.
    @Test(.enabled(if: geteuid() == 0, "needs root: runs flushctl as nobody too"))
    func outFreshInTmpIsMadeForItsUser() throws {
        let dir = try Support.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        #expect(chmod(dir.path, 0o755) == 0)
        let image = dir.appendingPathComponent("pmem.img")
        try Data(count: 16 << 20).write(to: image)
        #expect(chmod(image.path, 0o644) == 0)
        for user in ["root", "nobody"] {
            let out = "/tmp/flushctl-vm1-\(user)-\(UUID().uuidString)"
            defer { try? FileManager.default.removeItem(atPath: out) }
            let r = try Support.run("/usr/sbin/runuser", ["-u", user, "--", try Support.flushctl(), "qemu", image.path, "--out", out])
            #expect(r.status == 0, "\(user): \(r.stderr)")
            var st = stat()
            #expect(lstat(out, &st) == 0 && st.st_mode & S_IFMT == S_IFDIR && st.st_mode & 0o7777 == 0o755
                    && st.st_uid == (user == "root" ? 0 : 65534), "\(user)")
            #expect(Self.names(out) == ["qemu.args"], "\(user)")
            // Again into the directory it made: replaced, not refused.
            let again = try Support.run("/usr/sbin/runuser", ["-u", user, "--", try Support.flushctl(), "qemu", image.path, "--out", out])
            #expect(again.status == 0, "\(user): \(again.stderr)")
        }
    }

    @Test(arguments: [
        (["--machine", "isapc"], "--machine 'isapc' is not pc or q35"),
        (["--guest-ram", "lots"], "--guest-ram 'lots' is not a size"),
        (["--guest-pmem-base", "0x100001000"], "--guest-pmem-base 0x100001000 is not aligned to 0x200000 bytes"),
        (["--guest-pmem-base", "0x80000000"], "lies below QEMU's device-memory area"),
        (["--guest-base", "zero"], "--guest-base 'zero' is not a number"),
        (["--libvirt", "--json"], "--json and --libvirt are two forms of the output: give one"),
    ])
    func badInputExitsTwoWithOneLine(options: [String], message: String) throws {
        let dir = try Support.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let image = dir.appendingPathComponent("pmem.img")
        try Data(count: 4 << 20).write(to: image)
        let r = try Support.run(try Support.flushctl(), ["qemu", image.path, "--out", dir.appendingPathComponent("out").path] + options)
        #expect(r.status == 2)
        #expect(r.stderr.hasPrefix("flushctl qemu: error: "), "\(r.stderr)")
        #expect(r.stderr.contains(message), "\(r.stderr)")
        #expect(r.stderr.split(separator: "\n").count == 1)
    }

    /// `--libvirt` on a plain file: the fsync domain, libvirt's own virtio-pmem with the file,
    /// and a backend libvirt cannot take (not whole 2 MiB) refused with one line.
    @Test func libvirtFormOfAPlainFile() throws {
        let dir = try Support.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let image = dir.appendingPathComponent("pmem&1.img")
        try Data(count: 4 << 20).write(to: image)
        let r = try Support.run(try Support.flushctl(), ["qemu", image.path, "--out", dir.appendingPathComponent("vm1").path, "--libvirt"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.hasPrefix("<!--\nflushctl qemu, the libvirt form: "), "\(r.stdout)")
        #expect(r.stdout.contains("<name>vm1</name>"))
        #expect(r.stdout.contains("<path>\(image.path.replacingOccurrences(of: "&", with: "&amp;"))</path>"), "\(r.stdout)")
        #expect(r.stdout.contains("<size unit='KiB'>4096</size>") && !r.stdout.contains("qemu:commandline>"))
        #expect(r.stdout.hasSuffix("</domain>\n"))
        try Data(count: (4 << 20) + 4096).write(to: image)
        let odd = try Support.run(try Support.flushctl(), ["qemu", image.path, "--out", dir.appendingPathComponent("vm1").path, "--libvirt"])
        #expect(odd.status == 2 && odd.stderr.split(separator: "\n").count == 1, "\(odd.stderr)")
        #expect(odd.stderr.contains("libvirt takes a virtio-pmem device only in whole multiples of 2 MiB"), "\(odd.stderr)")
    }
}
