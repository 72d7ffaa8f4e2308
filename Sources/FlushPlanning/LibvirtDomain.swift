// The libvirt form of a QEMU recipe (`flushctl qemu --libvirt`): the parts of a domain's XML
// that give QEMU the recipe, and what the host's libvirt must allow for QEMU to open what the
// recipe names. A formatting of ``QemuRecipe``, not a second model of it: pure, unit-tested in
// Tests/LibraryTests/LibvirtDomainTests.swift; run by a real libvirtd in the emulated host
// (Tests/HostTests/LibvirtTests.swift).

import HostFiles

/// A path QEMU opens because of the recipe, as the host has it (HostIO's `LibvirtHostPath.read`).
public struct LibvirtHostPath: Sendable, Equatable {
    /// The path as the recipe names it.
    public var path: String
    /// The file it leads to (symbolic links resolved), which AppArmor and the cgroup see.
    public var resolved: String
    /// A character or block device (needs the cgroup and the namespace), else a file.
    public var isDevice: Bool
    /// The owner's and the group's names (or numbers), and the permission bits.
    public var owner: String
    public var group: String
    public var mode: UInt32
    /// What QEMU does with it: opens it read-write, or only reads it (the ACPI tables).
    public var writable: Bool
    /// A device's `size` attribute in sysfs, as AppArmor sees it (links resolved), when it has
    /// one: QEMU reads a device-dax device's size there (`/sys/dev/char/M:m/size`).
    public var sysfsSize: String?

    /// A path.
    public init(path: String, resolved: String, isDevice: Bool, owner: String, group: String, mode: UInt32, writable: Bool,
                sysfsSize: String? = nil) {
        self.path = path; self.resolved = resolved; self.isDevice = isDevice
        self.owner = owner; self.group = group; self.mode = mode; self.writable = writable; self.sysfsSize = sysfsSize
    }
}

/// `flushctl qemu --libvirt`: a domain XML document with what the recipe needs, the host
/// settings in comments before it.
public struct LibvirtDomain: Sendable, Equatable {
    /// `arguments` without ``MigrationBlocker/arguments``, and whether they were there.
    static func withoutBlocker(_ arguments: [String]) -> (arguments: [String], removed: Bool) {
        let blocker = MigrationBlocker.arguments
        guard let start = arguments.indices.first(where: { Array(arguments[$0...].prefix(blocker.count)) == blocker }) else {
            return (arguments, false)
        }
        return (Array(arguments[..<start]) + arguments[(start + blocker.count)...], true)
    }

    /// The `<shmem>` that stands for the migration blocker: named for the domain, since libvirt
    /// backs it with /dev/shm/NAME and two domains' would otherwise be one.
    public static func blockerName(domain: String) -> String { "flushctl-nomig-" + domain }

    /// The namespace of `<qemu:commandline>`.
    public static let qemuNamespace = "http://libvirt.org/schemas/domain/qemu/1.0"
    /// The devices libvirt allows QEMU when `cgroup_device_acl` is not set (libvirt 9.0 lists
    /// the first seven, 11.3 adds /dev/userfaultfd); setting it replaces them.
    public static let defaultDeviceACL = ["/dev/null", "/dev/full", "/dev/zero", "/dev/random", "/dev/urandom",
                                          "/dev/ptmx", "/dev/kvm", "/dev/userfaultfd"]
    /// Where a site's rules for every domain's AppArmor profile go: Debian 12's libvirt 9.0
    /// includes the local file at the end of `abstractions/libvirt-qemu`; libvirt 11 includes
    /// the directory first and the local file still (deprecated).
    public static let appArmorLocal = "/etc/apparmor.d/local/abstractions/libvirt-qemu"
    /// libvirt 11's drop-in directory for the same abstraction.
    public static let appArmorDropIn = "/etc/apparmor.d/abstractions/libvirt-qemu.d/flushctl"

    /// The XML document, comments included, ending in a newline.
    public var document: String
    /// `cgroup_device_acl` entries beyond libvirt's defaults: the devices the recipe names and,
    /// for links, the devices they lead to.
    public var deviceACL: [String]
    /// The AppArmor rules, one a line.
    public var appArmorRules: [String]

    /// The libvirt form of `recipe`.
    ///
    /// - Parameters:
    ///   - recipe: the QEMU recipe.
    ///   - name: the domain's `<name>`.
    ///   - hintPath: where the recipe maps the hint pages from (the plan's hint source).
    ///   - paths: the host's facts about every path QEMU opens because of the recipe.
    ///   - summary: the first comment line (backend, kind, region, method).
    /// - Throws: ``QemuRecipeError`` when the recipe has no libvirt form (``QemuRecipeError/notXML(_:)``,
    ///   ``QemuRecipeError/doubleHyphen(_:)``, ``QemuRecipeError/virtioPmemSize(_:)``).
    public static func make(recipe: QemuRecipe, name: String, hintPath: String?, paths: [LibvirtHostPath],
                            summary: String) throws(QemuRecipeError) -> LibvirtDomain {
        for value in [name, summary] + recipe.arguments + paths.flatMap({ [$0.path, $0.resolved, $0.sysfsSize ?? ""] }) + recipe.requirements
        where value.unicodeScalars.contains(where: { $0.value < 0x20 && $0 != "\n" && $0 != "\t" }) {
            throw .notXML(value)
        }
        for p in paths where ([p.path, p.resolved] + (p.sysfsSize.map { [$0] } ?? [])).contains(where: { $0.contains("--") }) {
            throw .doubleHyphen(p.path)
        }
        let kib = { (bytes: UInt64) in String(bytes / 1024) }
        let ram = kib(recipe.guestRAM)

        var xml: [String] = []
        xml.append("<domain type='kvm' xmlns:qemu='\(qemuNamespace)'>")
        xml.append("  <name>\(escape(name))</name>")
        xml.append("  <maxMemory slots='\(recipe.slots)' unit='KiB'>\(kib(recipe.maxmem))</maxMemory>")
        xml.append("  <memory unit='KiB'>\(ram)</memory>")
        xml.append("  <vcpu>1</vcpu>")
        xml.append("  <os>")
        xml.append("    <type arch='x86_64' machine='\(recipe.machine.rawValue)'>hvm</type>")
        xml.append("  </os>")
        xml.append("  <features>")
        xml.append("    <acpi/>")
        xml.append("  </features>")
        xml.append("  <cpu>")
        xml.append("    <numa>")
        xml.append("      <cell id='0' cpus='0' memory='\(ram)' unit='KiB'/>")
        xml.append("    </numa>")
        xml.append("  </cpu>")
        if recipe.method == .fsync {
            guard recipe.pmem.size % (2 << 20) == 0 else { throw .virtioPmemSize(recipe.pmem.size) }
            xml.append("  <devices>")
            xml.append("    <memory model='virtio-pmem' access='shared'>")
            xml.append("      <source>")
            xml.append("        <path>\(escape(recipe.pmem.path))</path>")
            xml.append("      </source>")
            xml.append("      <target>")
            xml.append("        <size unit='KiB'>\(kib(recipe.pmem.size))</size>")
            xml.append("      </target>")
            xml.append("    </memory>")
            xml.append("  </devices>")
        } else {
            // The migration blocker is a PCI device: in <qemu:commandline> it would take a slot
            // libvirt then gives one of its own devices (QEMU refuses to start). libvirt's own
            // <shmem> is the same device, placed by libvirt, and libvirt refuses to migrate or
            // save a domain with a peer-role shmem itself.
            let blocked = Self.withoutBlocker(recipe.arguments)
            if blocked.removed {
                xml.append("  <devices>")
                xml.append("    <shmem name='\(escape(Self.blockerName(domain: name)))' role='peer'>")
                xml.append("      <model type='ivshmem-plain'/>")
                xml.append("      <size unit='M'>1</size>")
                xml.append("    </shmem>")
                xml.append("  </devices>")
            }
            xml.append("  <qemu:commandline>")
            for argument in blocked.arguments { xml.append("    <qemu:arg value='\(escape(argument))'/>") }
            xml.append("  </qemu:commandline>")
        }
        xml.append("</domain>")

        // The host settings.
        var deviceACL: [String] = []
        for p in paths where p.isDevice {
            for d in [p.path, p.resolved] where !deviceACL.contains(d) && !defaultDeviceACL.contains(d) { deviceACL.append(d) }
        }
        var rules: [String] = []
        for p in paths where recipe.method != .fsync {
            for rule in ["\(appArmorPath(p.resolved)) \(p.writable ? "rw" : "r"),"] + (p.sysfsSize.map { ["\(appArmorPath($0)) r,"] } ?? [])
            where !rules.contains(rule) { rules.append(rule) }
        }
        // /dev/mem opens only with CAP_SYS_RAWIO, a capability AppArmor mediates too, and which
        // libvirt's abstraction does not grant.
        if hintPath == HintDevice.devMem && recipe.method != .fsync { rules.append("capability sys_rawio,") }

        var c: [String] = []
        c.append("flushctl qemu, the libvirt form: \(summary)")
        c.append("")
        c.append("The domain below has what the recipe needs; give it the rest of yours (the <os> boot, disks,")
        c.append("consoles; <vcpu> N with the NUMA cell's cpus='0-(N-1)'). <maxMemory> slots and size are the")
        c.append("recipe's \(recipe.memoryOption.dropFirst(3)); libvirt needs a NUMA cell for memory slots;")
        c.append("the machine type '\(recipe.machine.rawValue)' is the one the guest addresses were computed for;")
        c.append("<acpi/>, as without it libvirt starts QEMU with -no-acpi (no NFIT, no guest NVDIMM).")
        if recipe.method == .fsync {
            c.append("fsync: libvirt's own virtio-pmem device carries the backend (libvirt opens, labels and confines")
            c.append("it itself, so the host needs no setting for it; libvirt chooses the device's address).")
        } else {
            c.append("\(recipe.method.rawValue): libvirt cannot express these devices, so <qemu:commandline> carries")
            c.append("qemu.args, except the migration blocker, which is libvirt's own <shmem> (ivshmem-plain, peer): libvirt")
            c.append("places it and refuses to migrate or save the domain. libvirt does not know the paths in")
            c.append("<qemu:commandline>, so the host must allow them:")
            c.append("")
            c.append("1. /etc/libvirt/qemu.conf, then restart libvirtd (or virtqemud):")
            if !deviceACL.isEmpty {
                let list = (defaultDeviceACL + deviceACL).map { "\"\($0)\"" }
                c.append("   cgroup_device_acl = [")
                var line = "     "
                for (i, item) in list.enumerated() {
                    let piece = item + (i + 1 < list.count ? "," : "")
                    if line.count + piece.count > 96 { c.append(line); line = "     " }
                    line += (line.hasSuffix(" ") ? "" : " ") + piece
                }
                c.append(line)
                c.append("   ]")
                c.append("   libvirt starts QEMU with a /dev of its own (its mount namespace) holding only the")
                c.append("   devices it set up, and allows QEMU only those devices in its cgroup; the list replaces")
                c.append("   libvirt's default (the first \(defaultDeviceACL.count) entries, libvirt 11's; 9.0's lacks /dev/userfaultfd)")
                c.append("   and adds each device of the recipe, links and what they lead to. namespaces = [] would give")
                c.append("   QEMU the host's /dev instead, but where libvirt uses the cgroup devices controller the list")
                c.append("   is still needed.")
            } else {
                c.append("   nothing: the recipe names no device.")
            }
            if hintPath == HintDevice.devMem {
                c.append("   user = \"root\", group = \"root\", clear_emulator_capabilities = 0: QEMU maps the hint")
                c.append("   pages from /dev/mem, which needs root with CAP_SYS_RAWIO (and iomem=relaxed on the host).")
                c.append("   Prefer the flushhint module's node (docs/flushhint.md), which QEMU's own user can map.")
                c.append("   (Not tried with libvirt: flushctl's libvirt test maps the node.)")
            }
            c.append("")
            c.append("2. QEMU's user (qemu.conf user; Debian's libvirt-qemu, primary group kvm) opens each path")
            c.append("   (libvirt gives QEMU that user's supplementary groups too):")
            for p in paths {
                let need: UInt32 = p.writable ? 0o6 : 0o4
                let where_ = p.resolved == p.path ? p.path : "\(p.path) -> \(p.resolved)"
                var line = "   \(where_): \(p.owner):\(p.group) \(octalMode(p.mode)), \(p.writable ? "read-write" : "read")"
                if p.mode & need == need {
                    line += ": anyone may"
                } else if (p.mode >> 3) & need == need {
                    line += ": QEMU's user must be in group \(p.group)"
                } else {
                    line += p.isDevice ? ": give it a group QEMU's user is in (a udev rule's GROUP= and MODE=\"0660\")"
                                       : ": give it to QEMU's user or to a group it is in, mode 0660 (libvirt does not, as it does not know it)"
                }
                c.append(line)
            }
            c.append("")
            c.append("3. AppArmor (Debian's libvirt confines QEMU with a profile virt-aa-helper writes from the paths")
            c.append("   it knows, which are not these). Add to \(appArmorLocal)")
            c.append("   (libvirt 9.0, Debian 12), or to \(appArmorDropIn) (libvirt 11,")
            c.append("   which includes abstractions/libvirt-qemu.d/; the local file still works there, deprecated);")
            c.append("   AppArmor checks the file a link leads to, so the rules name those (and a device-dax device's")
            c.append("   size in sysfs, which QEMU reads). Then start the domain again:")
            for rule in rules { c.append("     \(rule)") }
        }
        if !recipe.requirements.isEmpty {
            c.append("")
            c.append("What flushctl qemu requires of QEMU, the host and the guest (as without libvirt):")
            for r in recipe.requirements { c.append("- " + r) }
        }
        let comment = "<!--\n" + c.map { commentText($0) }.joined(separator: "\n") + "\n-->"
        return LibvirtDomain(document: comment + "\n" + xml.joined(separator: "\n") + "\n", deviceACL: deviceACL, appArmorRules: rules)
    }

    /// `value` as XML character data or a quoted attribute value.
    public static func escape(_ value: String) -> String {
        var s = ""
        for ch in value.unicodeScalars {
            switch ch {
            case "&": s += "&amp;"
            case "<": s += "&lt;"
            case ">": s += "&gt;"
            case "'": s += "&apos;"
            case "\"": s += "&quot;"
            default: s.unicodeScalars.append(ch)
            }
        }
        return s
    }

    /// A path in an AppArmor rule: quoted, with AppArmor's pattern characters, quotes and
    /// backslashes escaped, so the rule names exactly this file.
    public static func appArmorPath(_ path: String) -> String {
        var s = "\""
        for ch in path {
            if "\\\"*?[]{}^".contains(ch) { s += "\\" }
            s.append(ch)
        }
        return s + "\""
    }

    /// Text for a comment: `--` may not appear in one, so a hyphen after a hyphen is spaced
    /// (prose only: paths with `--` are refused). A line ending in `-` gets a space.
    static func commentText(_ line: String) -> String {
        var s = ""
        for ch in line {
            if ch == "-" && s.hasSuffix("-") { s += " " }
            s.append(ch)
        }
        return s.hasSuffix("-") ? s + " " : s
    }
}
