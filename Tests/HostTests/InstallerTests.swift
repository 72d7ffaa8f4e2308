import Foundation
import Testing

/// udev/install.sh into a staging root (DESTDIR), as a package build runs it: what lands
/// where, the rule's RUN path following PREFIX and GROUP, uninstall, and refused arguments.
/// No root and no udev needed: with DESTDIR set the script never calls udevadm.
@Suite struct InstallerTests {
    static let script = EmulatedHost.repositoryRoot.appendingPathComponent("udev/install.sh").path

    /// Where the module's source goes: /usr/src/flushhint-VERSION, VERSION from dkms.conf's
    /// PACKAGE_VERSION (flushctl's one version: Tests/check-version).
    static func moduleSource() throws -> String {
        let conf = try String(contentsOfFile: EmulatedHost.repositoryRoot.appendingPathComponent("flushhint/dkms.conf").path,
                              encoding: .utf8)
        let line = try #require(conf.split(separator: "\n").first { $0.hasPrefix("PACKAGE_VERSION=\"") })
        return "/usr/src/flushhint-" + line.dropFirst("PACKAGE_VERSION=\"".count).dropLast()
    }

    /// A fresh staging directory and a stand-in binary (the script only copies it).
    static func stage() throws -> (root: URL, binary: String) {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("flushctl-install-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        let binary = root.appendingPathComponent("flushctl").path
        try "#!/bin/sh\necho program\n".write(toFile: binary, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: binary)
        return (root, binary)
    }

    /// The text of an installed file.
    static func standIn(_ root: URL, _ path: String) -> String? {
        try? String(contentsOfFile: root.path + "/dest" + path, encoding: .utf8)
    }

    static func exists(_ root: URL, _ path: String) -> Bool {
        FileManager.default.fileExists(atPath: root.path + "/dest" + path)
    }

    static func mode(_ path: String) throws -> Int? {
        try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
    }

    @Test func installsBinaryRuleManPagesAndDocsUnderDestdir() throws {
        let (root, binary) = try Self.stage()
        defer { try? FileManager.default.removeItem(at: root) }
        let dest = root.path + "/dest"
        let (status, output) = try EmulatedHost.shell(
            "sh '\(Self.script)' install DESTDIR='\(dest)' PREFIX=/usr UDEVRULESDIR=/lib/udev/rules.d GROUP=kvm BINARY='\(binary)'")
        #expect(status == 0, "install.sh failed: \(output)")
        #expect(try Self.mode(dest + "/usr/bin/flushctl") == 0o755)
        // One program: PREFIX/bin/flushctl, nothing in libexec.
        #expect(Self.standIn(root, "/usr/bin/flushctl") == "#!/bin/sh\necho program\n")
        #expect(!Self.exists(root, "/usr/libexec"))
        let rule = try String(contentsOfFile: dest + "/lib/udev/rules.d/60-flushctl.rules", encoding: .utf8)
        // Every RUN of the rule names the installed path (without DESTDIR) and the group.
        let runs = rule.split(separator: "\n").filter { !$0.hasPrefix("#") && $0.contains("RUN+=") }
        #expect(runs.count == 2, "\(rule)")
        #expect(runs.allSatisfy { $0.hasSuffix("RUN+=\"/usr/bin/flushctl refresh --detach --group kvm\"") }, "\(runs)")
        #expect(!rule.contains(dest) && !rule.contains("/usr/local"))
        // The VMM links' rule, as it is in the repository.
        let vmmRule = try String(contentsOfFile: dest + "/lib/udev/rules.d/61-flushctl-vmm.rules", encoding: .utf8)
        #expect(vmmRule.contains("SYMLINK+=\"flushctl/%k/device\""), "\(vmmRule)")
        #expect(try Self.mode(dest + "/lib/udev/rules.d/61-flushctl-vmm.rules") == 0o644)
        // GROUP=kvm: the flushhint nodes for kvm; the module's source where DKMS looks.
        let nodeRule = try String(contentsOfFile: dest + "/lib/udev/rules.d/62-flushhint.rules", encoding: .utf8)
        #expect(nodeRule.hasSuffix("SUBSYSTEM==\"misc\", KERNEL==\"flushhint-region*\", GROUP=\"kvm\", MODE=\"0660\"\n"), "\(nodeRule)")
        let moduleSource = try Self.moduleSource()
        for file in ["flushhint.c", "Kbuild", "Makefile", "dkms.conf"] {
            let installed = try String(contentsOfFile: dest + moduleSource + "/" + file, encoding: .utf8)
            let source = try String(contentsOfFile: EmulatedHost.repositoryRoot.appendingPathComponent("flushhint/" + file).path, encoding: .utf8)
            #expect(installed == source, "\(file)")
        }
        let pages = try FileManager.default.contentsOfDirectory(atPath: EmulatedHost.repositoryRoot.appendingPathComponent("docs/man").path)
            .filter { $0.hasSuffix(".1") }
        #expect(pages.count >= 7)
        for page in pages { #expect(Self.exists(root, "/usr/share/man/man1/" + page), "\(page) not installed") }
        #expect(Self.exists(root, "/usr/share/doc/flushctl/README.md"))
        #expect(Self.exists(root, "/usr/share/doc/flushctl/privileges.md"))

        // Uninstall also removes the second program an earlier version put in libexec.
        try FileManager.default.createDirectory(atPath: dest + "/usr/libexec/flushctl", withIntermediateDirectories: true)
        try "old".write(toFile: dest + "/usr/libexec/flushctl/flushctl", atomically: true, encoding: .utf8)
        let (removed, removeOutput) = try EmulatedHost.shell(
            "sh '\(Self.script)' uninstall DESTDIR='\(dest)' PREFIX=/usr UDEVRULESDIR=/lib/udev/rules.d")
        #expect(removed == 0, "uninstall failed: \(removeOutput)")
        #expect(!Self.exists(root, "/usr/bin/flushctl"))
        #expect(!Self.exists(root, "/usr/libexec/flushctl"))
        #expect(!Self.exists(root, "/lib/udev/rules.d/60-flushctl.rules"))
        #expect(!Self.exists(root, "/lib/udev/rules.d/61-flushctl-vmm.rules"))
        #expect(!Self.exists(root, "/lib/udev/rules.d/62-flushhint.rules"))
        #expect(!Self.exists(root, moduleSource))
        #expect(!Self.exists(root, "/usr/share/doc/flushctl"))
        for page in pages { #expect(!Self.exists(root, "/usr/share/man/man1/" + page)) }
    }

    /// The rule is written to a temporary file mktemp makes in the rules directory: a link
    /// planted at the predictable name earlier versions used (`60-flushctl.rules.tmp`) is neither
    /// followed nor written through, and no temporary file is left.
    @Test func aLinkAtTheOldTemporaryRuleNameIsNotWrittenThrough() throws {
        let (root, binary) = try Self.stage()
        defer { try? FileManager.default.removeItem(at: root) }
        let dest = root.path + "/dest"
        let rules = dest + "/lib/udev/rules.d"
        try FileManager.default.createDirectory(atPath: rules, withIntermediateDirectories: true)
        let victim = root.path + "/victim"
        try "precious\n".write(toFile: victim, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: victim)
        try FileManager.default.createSymbolicLink(atPath: rules + "/60-flushctl.rules.tmp", withDestinationPath: victim)
        let (status, output) = try EmulatedHost.shell(
            "sh '\(Self.script)' install DESTDIR='\(dest)' PREFIX=/usr UDEVRULESDIR=/lib/udev/rules.d BINARY='\(binary)'")
        #expect(status == 0, "install.sh failed: \(output)")
        #expect(try String(contentsOfFile: victim, encoding: .utf8) == "precious\n", "written through the planted link")
        #expect(try Self.mode(victim) == 0o600, "chmod'ed through the planted link")
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: rules + "/60-flushctl.rules.tmp") == victim)
        #expect(try FileManager.default.contentsOfDirectory(atPath: rules).sorted() == ["60-flushctl.rules", "60-flushctl.rules.tmp", "61-flushctl-vmm.rules"])
        let rule = try String(contentsOfFile: rules + "/60-flushctl.rules", encoding: .utf8)
        #expect(rule.contains("RUN+=\"/usr/bin/flushctl refresh --detach\""))
        #expect(try Self.mode(rules + "/60-flushctl.rules") == 0o644)
    }

    /// An install over an earlier one with a front: PREFIX/bin/flushctl becomes the program and
    /// the program left in PREFIX/libexec/flushctl goes.
    @Test func replacesAnEarlierInstallWithAFront() throws {
        let (root, binary) = try Self.stage()
        defer { try? FileManager.default.removeItem(at: root) }
        let dest = root.path + "/dest"
        try FileManager.default.createDirectory(atPath: dest + "/usr/libexec/flushctl", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: dest + "/usr/bin", withIntermediateDirectories: true)
        try "old program".write(toFile: dest + "/usr/libexec/flushctl/flushctl", atomically: true, encoding: .utf8)
        try "old front".write(toFile: dest + "/usr/bin/flushctl", atomically: true, encoding: .utf8)
        let (status, output) = try EmulatedHost.shell("sh '\(Self.script)' install DESTDIR='\(dest)' PREFIX=/usr BINARY='\(binary)'")
        #expect(status == 0, "install.sh failed: \(output)")
        #expect(Self.standIn(root, "/usr/bin/flushctl") == "#!/bin/sh\necho program\n")
        #expect(!Self.exists(root, "/usr/libexec/flushctl"))
    }

    /// Directories that exist keep their mode (an administrator's 0700 or 0750 stays); the
    /// ones install.sh makes are 0755 whatever the umask.
    @Test func keepsTheModeOfDirectoriesThatExist() throws {
        let (root, binary) = try Self.stage()
        defer { try? FileManager.default.removeItem(at: root) }
        let dest = root.path + "/dest"
        for (path, mode) in [("/opt/tools", 0o750), ("/opt/tools/bin", 0o700), ("/etc/udev/rules.d", 0o700)] {
            try FileManager.default.createDirectory(atPath: dest + path, withIntermediateDirectories: true)
            try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: dest + path)
        }
        let (status, output) = try EmulatedHost.shell(
            "umask 077; sh '\(Self.script)' install DESTDIR='\(dest)' PREFIX=/opt/tools UDEVRULESDIR=/etc/udev/rules.d BINARY='\(binary)'")
        #expect(status == 0, "install.sh failed: \(output)")
        #expect(try Self.mode(dest + "/opt/tools") == 0o750)
        #expect(try Self.mode(dest + "/opt/tools/bin") == 0o700)
        #expect(try Self.mode(dest + "/etc/udev/rules.d") == 0o700)
        for made in ["/opt/tools/share", "/opt/tools/share/man", "/opt/tools/share/man/man1", "/opt/tools/share/doc", "/opt/tools/share/doc/flushctl"] {
            #expect(try Self.mode(dest + made) == 0o755, "\(made)")
        }
        #expect(Self.standIn(root, "/opt/tools/bin/flushctl") == "#!/bin/sh\necho program\n")
    }

    /// install.sh copied with the rule and one man page into a scratch tree, with a stand-in
    /// `swift` first on PATH that records who ran it and leaves a program in .build/release.
    static func buildTree() throws -> (root: URL, tree: String, path: String) {
        let (root, _) = try stage()
        let tree = root.path + "/tree"
        for dir in ["/udev", "/docs/man", "/stub", "/flushhint"] {
            try FileManager.default.createDirectory(atPath: tree + dir, withIntermediateDirectories: true)
        }
        let repo = EmulatedHost.repositoryRoot.path
        for file in ["/udev/install.sh", "/udev/60-flushctl.rules", "/udev/61-flushctl-vmm.rules",
                     "/flushhint/flushhint.c", "/flushhint/Kbuild", "/flushhint/Makefile", "/flushhint/dkms.conf"] {
            try FileManager.default.copyItem(atPath: repo + file, toPath: tree + file)
        }
        try ".TH FLUSHCTL 1\n".write(toFile: tree + "/docs/man/flushctl.1", atomically: true, encoding: .utf8)
        let swift = """
            #!/bin/sh
            id -un > built-by
            mkdir -p .build/release && printf '#!/bin/sh\\necho built\\n' > .build/release/flushctl && chmod 755 .build/release/flushctl
            """
        try swift.write(toFile: tree + "/stub/swift", atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: tree + "/stub/swift")
        // The unprivileged builder writes in the tree, as in a checkout it owns.
        try FileManager.default.setAttributes([.posixPermissions: 0o777], ofItemAtPath: tree)
        return (root, tree, tree + "/stub:/usr/sbin:/usr/bin:/sbin:/bin")
    }

    /// Runs the ``buildTree()`` tree's install.sh (after `environment`, shell words that set or
    /// unset the builder) into DESTDIR=<root>/dest with PREFIX=/usr, expects it to succeed and
    /// hands `check` the scratch root, the tree and the output; removes the scratch root.
    static func installFromTree(after environment: String,
                                _ check: (_ root: URL, _ tree: String, _ output: String) throws -> Void) throws {
        let (root, tree, path) = try buildTree()
        defer { try? FileManager.default.removeItem(at: root) }
        let dest = root.path + "/dest"
        let (status, output) = try EmulatedHost.shell(
            "\(environment) PATH='\(path)' sh '\(tree)/udev/install.sh' install DESTDIR='\(dest)' PREFIX=/usr")
        #expect(status == 0, "install.sh failed: \(output)")
        try check(root, tree, output)
    }

    /// Under sudo, root installs what $SUDO_USER built: swift build (and so Package.swift) never
    /// runs as root.
    @Test(.enabled(if: getuid() == 0, "needs root, as sudo gives it"))
    func buildsAsTheSudoUser() throws {
        try Self.installFromTree(after: "SUDO_USER=nobody") { root, tree, output in
            #expect(try String(contentsOfFile: tree + "/built-by", encoding: .utf8) == "nobody\n", "\(output)")
            #expect(output.contains("building as nobody"), "\(output)")
            #expect(Self.standIn(root, "/usr/bin/flushctl") == "#!/bin/sh\necho built\n")
            let owner = try FileManager.default.attributesOfItem(atPath: root.path + "/dest/usr/bin/flushctl")[.ownerAccountID] as? Int
            #expect(owner == 0, "installed as root")
        }
    }

    /// Root without sudo can only build as root, and says so.
    @Test(.enabled(if: getuid() == 0, "needs root"))
    func saysSoWhenItBuildsAsRoot() throws {
        try Self.installFromTree(after: "unset SUDO_USER;") { root, tree, output throws in
            #expect(try String(contentsOfFile: tree + "/built-by", encoding: .utf8) == "root\n")
            #expect(output.contains("building as root") && output.contains("NOBUILD=1"), "\(output)")
            #expect(Self.standIn(root, "/usr/bin/flushctl") == "#!/bin/sh\necho built\n")
        }
    }

    @Test(arguments: [
        ("PREFIX=usr", "not an absolute path"),
        ("PREFIX='/opt/my tools'", "a udev RUN path cannot carry"),
        ("PREFIX='/opt/a&b'", "a udev RUN path cannot carry"),
        ("UDEVRULESDIR='/etc/udev/rules d'", "a udev RUN path cannot carry"),
        ("GROUP='kvm --user root'", "not a plain group name"),
        ("FOO=1", "unknown argument 'FOO=1'"),
        ("FRONT=/usr/bin/true", "unknown argument 'FRONT=/usr/bin/true'"),
    ])
    func refusesBadArgumentsAndInstallsNothing(argument: String, message: String) throws {
        let (root, binary) = try Self.stage()
        defer { try? FileManager.default.removeItem(at: root) }
        let dest = root.path + "/dest"
        let (status, output) = try EmulatedHost.shell("sh '\(Self.script)' install DESTDIR='\(dest)' BINARY='\(binary)' \(argument)")
        #expect(status == 2, "\(argument): exit \(status): \(output)")
        #expect(output.contains("install.sh: error:") && output.contains(message), "\(argument): \(output)")
        #expect(!FileManager.default.fileExists(atPath: dest), "\(argument): something was installed")
    }

    @Test func refusesAMissingBinary() throws {
        let (root, _) = try Self.stage()
        defer { try? FileManager.default.removeItem(at: root) }
        let dest = root.path + "/dest"
        let (status, output) = try EmulatedHost.shell("sh '\(Self.script)' install DESTDIR='\(dest)' BINARY='\(root.path)/nonexistent'")
        #expect(status == 2 && output.contains("is not an executable"), "exit \(status): \(output)")
        #expect(!FileManager.default.fileExists(atPath: dest))
    }
}
