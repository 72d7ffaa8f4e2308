import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing
@testable import FlushPlanning

// `flushctl qemu --libvirt`'s formatting: recipes built by hand (their making is
// QemuRecipeTests'), the document read back by a real XML parser, and where the tools are
// installed (Tests/install-deps), libvirt's own schema check and AppArmor's parser.

/// A passthrough recipe over the flushhint node: two hint pages, a device-dax pmem, the tables
/// in `dir`.
private func nodeRecipe(dir: String = "/run/vm1", pmem: String = "/dev/flushctl/dax0.0/device") -> QemuRecipe {
    let args = ["-object", "memory-backend-file,id=fh0,mem-path=/dev/flushhint/region0,offset=0x37ffe000,size=4096,share=on",
                "-device", "pc-dimm,id=h0,memdev=fh0,addr=0x100000000",
                "-object", "memory-backend-file,id=fh1,mem-path=/dev/flushhint/region0,offset=0x37fff000,size=4096,share=on",
                "-device", "pc-dimm,id=h1,memdev=fh1,addr=0x100001000",
                "-object", "memory-backend-file,id=pm0,mem-path=\(pmem),size=0x3e00000,share=on,align=0x1000,pmem=on",
                "-device", "pc-dimm,id=p0,memdev=pm0,addr=0x140000000"] + MigrationBlocker.arguments
        + ["-acpitable", "file=\(dir)/nfit.aml", "-acpitable", "file=\(dir)/ssdt.aml"]
    return QemuRecipe(method: .passthrough, machine: .q35, guestRAM: 256 << 20, deviceMemoryBase: 0x1_0000_0000,
                      hintPages: [QemuHintPage(hostAddress: 0x37ffe000, guestAddress: 0x1_0000_0000),
                                  QemuHintPage(hostAddress: 0x37fff000, guestAddress: 0x1_0000_1000)],
                      pmem: QemuPmem(path: pmem, deviceNumber: "252:0", size: 0x3e0_0000, align: 0x1000,
                                     guestAddress: 0x1_4000_0000, device: .pcDIMM),
                      guestNFIT: nil, capabilitiesSource: nil, guestDIMMDevices: [], files: [], slots: 3,
                      maxmem: (256 << 20) + (1 << 30), minimumQEMU: "8.1", arguments: args,
                      requirements: ["-machine q35 with -m 256M: run flushctl qemu again with --guest-ram."],
                      migration: MigrationBlocker.policy(for: .passthrough))
}

/// /dev/dax0.0's size attribute, as sysfs resolves it in the emulated host.
private let daxSize = "/sys/devices/LNXSYSTM:00/LNXSYBUS:00/ACPI0012:00/ndbus0/region0/dax0.0/dax0.0/size"

private func nodePaths(dir: String = "/run/vm1", daxMode: UInt32 = 0o600) -> [LibvirtHostPath] {
    [LibvirtHostPath(path: "/dev/flushhint/region0", resolved: "/dev/flushhint/region0", isDevice: true,
                     owner: "root", group: "kvm", mode: 0o660, writable: true),
     LibvirtHostPath(path: "/dev/flushctl/dax0.0/device", resolved: "/dev/dax0.0", isDevice: true,
                     owner: "root", group: "root", mode: daxMode, writable: true, sysfsSize: daxSize),
     LibvirtHostPath(path: "\(dir)/nfit.aml", resolved: "\(dir)/nfit.aml", isDevice: false,
                     owner: "root", group: "root", mode: 0o644, writable: false),
     LibvirtHostPath(path: "\(dir)/ssdt.aml", resolved: "\(dir)/ssdt.aml", isDevice: false,
                     owner: "root", group: "root", mode: 0o644, writable: false)]
}

private func domain(_ recipe: QemuRecipe, _ paths: [LibvirtHostPath], hintPath: String? = "/dev/flushhint/region0") throws -> LibvirtDomain {
    try LibvirtDomain.make(recipe: recipe, name: "vm1", hintPath: hintPath, paths: paths, summary: "/dev/dax0.0 (device_dax on region0): passthrough")
}

/// The comment before the domain: its text between `<!--` and `-->`.
private func comment(_ document: String) -> String {
    let start = document.range(of: "<!--")!.upperBound
    return String(document[start..<document.range(of: "-->")!.lowerBound])
}

@Suite("libvirt domain")
struct LibvirtDomainTests {
    /// The document as an XML parser reads it: qemu:arg values are exactly qemu.args, in order.
    @Test func commandLineIsTheArgumentsButTheBlocker() throws {
        // A directory with every character XML escapes (QEMU's `,` is doubled by the recipe).
        let dir = "/run/a'b\"c&d<e>f"
        let recipe = nodeRecipe(dir: dir)
        let d = try domain(recipe, nodePaths(dir: dir))
        let xml = try XMLDocument(xmlString: d.document, options: [])
        let root = try #require(xml.rootElement())
        #expect(root.name == "domain" && root.attribute(forName: "type")?.stringValue == "kvm")
        let args = try xml.nodes(forXPath: "/domain/*[local-name()='commandline']/*[local-name()='arg']/@value").map { $0.stringValue ?? "" }
        // Every argument, in order, but the migration blocker, which is libvirt's own <shmem>.
        let blocker = MigrationBlocker.arguments
        let at = try #require(recipe.arguments.firstIndex(of: blocker[1]))
        #expect(args == Array(recipe.arguments[..<(at - 1)] + recipe.arguments[(at - 1 + blocker.count)...]))
        #expect(!args.contains { $0.contains("ivshmem") } && args.count == recipe.arguments.count - blocker.count)
        #expect(try xml.nodes(forXPath: "/domain/devices/shmem[@role='peer'][model/@type='ivshmem-plain']").count == 1)
        #expect(try xml.nodes(forXPath: "/domain/devices/shmem/@name").first?.stringValue == LibvirtDomain.blockerName(domain: "vm1"))
        let ns = try #require(try xml.nodes(forXPath: "/domain/*[local-name()='commandline']").first as? XMLElement)
        #expect(ns.uri == LibvirtDomain.qemuNamespace)
        func value(_ path: String) throws -> String? { try xml.nodes(forXPath: path).first?.stringValue }
        #expect(try value("/domain/maxMemory") == "1310720" && (try value("/domain/maxMemory/@slots")) == "3")
        #expect(try value("/domain/maxMemory/@unit") == "KiB")
        #expect(try value("/domain/memory") == "262144")
        #expect(try value("/domain/cpu/numa/cell/@memory") == "262144")
        #expect(try value("/domain/os/type/@machine") == "q35")
        #expect(try xml.nodes(forXPath: "/domain/features/acpi").count == 1)
        #expect(try xml.nodes(forXPath: "/domain/devices/memory").isEmpty)
    }

    /// The host settings: every device of the recipe and what a link leads to in
    /// cgroup_device_acl (after libvirt's defaults), the group QEMU's user needs, one AppArmor
    /// rule per file by the path AppArmor sees.
    @Test func hostSettingsNameEveryDeviceGroupAndRule() throws {
        let d = try domain(nodeRecipe(), nodePaths())
        #expect(d.deviceACL == ["/dev/flushhint/region0", "/dev/flushctl/dax0.0/device", "/dev/dax0.0"])
        #expect(d.appArmorRules == ["\"/dev/flushhint/region0\" rw,", "\"/dev/dax0.0\" rw,", "\"\(daxSize)\" r,",
                                    "\"/run/vm1/nfit.aml\" r,", "\"/run/vm1/ssdt.aml\" r,"])
        let text = comment(d.document)
        #expect(text.contains("\"/dev/kvm\", \"/dev/userfaultfd\", \"/dev/flushhint/region0\","), "\(text)")
        #expect(text.contains("/dev/flushhint/region0: root:kvm 0660, read-write: QEMU's user must be in group kvm"))
        #expect(text.contains("/dev/flushctl/dax0.0/device -> /dev/dax0.0: root:root 0600, read-write: give it a group"))
        #expect(text.contains("/run/vm1/nfit.aml: root:root 0644, read: anyone may"))
        #expect(text.contains(LibvirtDomain.appArmorLocal) && text.contains(LibvirtDomain.appArmorDropIn))
        #expect(!text.contains("user = \"root\""))
        // A dax node given to kvm needs nothing more.
        let given = comment(try domain(nodeRecipe(), nodePaths(daxMode: 0o660)).document)
        #expect(given.contains("/dev/flushctl/dax0.0/device -> /dev/dax0.0: root:root 0660, read-write: QEMU's user must be in group root"))
    }

    static func devMemPaths() -> [LibvirtHostPath] {
        var paths = nodePaths()
        paths[0] = LibvirtHostPath(path: "/dev/mem", resolved: "/dev/mem", isDevice: true, owner: "root", group: "kmem",
                                   mode: 0o640, writable: true)
        return paths
    }

    @Test func devMemNeedsRootWithItsCapabilities() throws {
        let d = try domain(nodeRecipe(), Self.devMemPaths(), hintPath: "/dev/mem")
        #expect(comment(d.document).contains("user = \"root\", group = \"root\", clear_emulator_capabilities = 0"))
        #expect(d.appArmorRules.first == "\"/dev/mem\" rw," && d.appArmorRules.last == "capability sys_rawio,", "\(d.appArmorRules)")
        #expect(d.deviceACL.first == "/dev/mem")
    }

    /// fsync: libvirt's own virtio-pmem, no <qemu:commandline>, no host setting; libvirt takes
    /// only whole 2 MiB.
    @Test func fsyncIsLibvirtsVirtioPmem() throws {
        let file = "/var/lib/vm/p&m.img"
        var recipe = nodeRecipe()
        recipe.method = .fsync
        recipe.hintPages = []
        recipe.slots = 1
        recipe.pmem = QemuPmem(path: file, deviceNumber: nil, size: 64 << 20, align: nil, guestAddress: 0x1_0000_0000, device: .virtioPmem)
        let path = LibvirtHostPath(path: file, resolved: file, isDevice: false, owner: "root", group: "root", mode: 0o644, writable: true)
        let d = try domain(recipe, [path], hintPath: nil)
        let xml = try XMLDocument(xmlString: d.document, options: [])
        #expect(try xml.nodes(forXPath: "/domain/devices/memory[@model='virtio-pmem'][@access='shared']/source/path").first?.stringValue == file)
        #expect(try xml.nodes(forXPath: "/domain/devices/memory/target/size").first?.stringValue == "65536")
        #expect(try xml.nodes(forXPath: "/domain/*[local-name()='commandline']").isEmpty)
        #expect(d.deviceACL.isEmpty && d.appArmorRules.isEmpty)
        recipe.pmem.size = (64 << 20) + 4096
        #expect(throws: QemuRecipeError.virtioPmemSize((64 << 20) + 4096)) { try domain(recipe, [path], hintPath: nil) }
    }

    /// The comment carries no `--` (prose is spaced), and a path with one, or a control
    /// character anywhere, is refused rather than written wrong.
    @Test func whatXMLCannotCarryIsRefused() throws {
        let text = comment(try domain(nodeRecipe(), nodePaths()).document)
        #expect(!text.contains("--") && text.contains("- -guest-ram"))
        #expect(throws: QemuRecipeError.doubleHyphen("/dev/flushctl/dax0.0/device")) {
            var paths = nodePaths()
            paths[1].resolved = "/dev/a--b"
            return try domain(nodeRecipe(), paths)
        }
        #expect(throws: QemuRecipeError.notXML("/run/v\u{1}/nfit.aml")) {
            var paths = nodePaths()
            paths[2].path = "/run/v\u{1}/nfit.aml"
            return try domain(nodeRecipe(), paths)
        }
    }

    @Test func appArmorPathsAreQuotedAndLiteral() {
        #expect(LibvirtDomain.appArmorPath("/run/vm 1/a*b?[c]{d}^e\"f\\g") == #""/run/vm 1/a\*b\?\[c\]\{d\}\^e\"f\\g""#)
    }

    // MARK: libvirt's and AppArmor's own tools

    static let validator = "/usr/bin/virt-xml-validate"
    static let appArmorParser = "/sbin/apparmor_parser"

    /// libvirt's schema (libvirt-clients' virt-xml-validate) accepts the passthrough and fsync
    /// documents once given a boot (the part the user adds).
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: validator), "needs virt-xml-validate (libvirt-clients, in Tests/install-deps)"))
    func libvirtSchemaAcceptsTheDocuments() throws {
        var fsync = nodeRecipe()
        fsync.method = .fsync
        fsync.pmem = QemuPmem(path: "/var/lib/vm/pmem.img", deviceNumber: nil, size: 64 << 20, align: nil, guestAddress: 0x1_0000_0000, device: .virtioPmem)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("libvirt-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        for (i, recipe) in [nodeRecipe(), fsync].enumerated() {
            let document = try domain(recipe, nodePaths()).document
                .replacingOccurrences(of: "hvm</type>", with: "hvm</type>\n    <kernel>/boot/vmlinuz</kernel>")
            let file = dir.appendingPathComponent("d\(i).xml")
            try document.write(to: file, atomically: true, encoding: .utf8)
            let (status, output) = try Self.run(Self.validator, [file.path])
            #expect(status == 0 && output.contains("validates"), "\(output)\n\(document)")
        }
    }

    /// apparmor_parser compiles a profile holding the rules (-Q: not loaded into a kernel).
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: appArmorParser), "needs apparmor_parser (apparmor, in Tests/install-deps)"))
    func appArmorAcceptsTheRules() throws {
        var paths = nodePaths(dir: "/run/vm 1")
        paths.append(LibvirtHostPath(path: "/var/lib/vm/a*b.img", resolved: "/var/lib/vm/a*b.img", isDevice: false,
                                     owner: "libvirt-qemu", group: "kvm", mode: 0o600, writable: true))
        let rules = try domain(nodeRecipe(dir: "/run/vm 1"), paths).appArmorRules
            + (try domain(nodeRecipe(), Self.devMemPaths(), hintPath: "/dev/mem").appArmorRules)
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("flushctl-aa-\(getpid())")
        try ("profile flushctl-libvirt-test {\n" + rules.map { "  \($0)\n" }.joined() + "}\n").write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let (status, output) = try Self.run(Self.appArmorParser, ["-Q", "-d", file.path])
        #expect(status == 0, "\(output)")
        #expect(output.contains("/var/lib/vm/a\\*b.img") || output.contains("a*b"), "\(output)")
        // A rule that is not AppArmor is refused by the same command, so the check can fail.
        try "profile t {\n  \"/dev/x\" rwq,\n}\n".write(to: file, atomically: true, encoding: .utf8)
        #expect(try Self.run(Self.appArmorParser, ["-Q", file.path]).0 != 0)
    }

    static func run(_ tool: String, _ arguments: [String]) throws -> (Int32, String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: tool)
        p.arguments = arguments
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
