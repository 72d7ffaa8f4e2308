import Foundation
import Testing

/// udev/install.sh into a staging root (DESTDIR), as a package build runs it: what lands
/// where, the rule's RUN path following PREFIX and GROUP, uninstall, and refused arguments.
/// No root and no udev needed: with DESTDIR set the script never calls udevadm.
@Suite struct InstallerTests {
    static let script = EmulatedHost.repositoryRoot.appendingPathComponent("udev/install.sh").path

    /// A fresh staging directory and a stand-in binary (the script only copies it), with a
    /// stand-in front `flushctl-front` beside it when `front` is true.
    static func stage(front: Bool = false) throws -> (root: URL, binary: String) {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("flushctl-install-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        let binary = root.appendingPathComponent("flushctl").path
        var programs = [(binary, "program")]
        if front { programs.append((root.appendingPathComponent("flushctl-front").path, "front")) }
        for (path, text) in programs {
            try "#!/bin/sh\necho \(text)\n".write(toFile: path, atomically: true, encoding: .utf8)
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path)
        }
        return (root, binary)
    }

    /// The text of an installed stand-in (`program` or `front`).
    static func standIn(_ root: URL, _ path: String) -> String? {
        try? String(contentsOfFile: root.path + "/dest" + path, encoding: .utf8)
    }

    static func exists(_ root: URL, _ path: String) -> Bool {
        FileManager.default.fileExists(atPath: root.path + "/dest" + path)
    }

    @Test func installsBinaryRuleManPagesAndDocsUnderDestdir() throws {
        let (root, binary) = try Self.stage(front: true)
        defer { try? FileManager.default.removeItem(at: root) }
        let dest = root.path + "/dest"
        let (status, output) = try EmulatedHost.shell(
            "sh '\(Self.script)' install DESTDIR='\(dest)' PREFIX=/usr UDEVRULESDIR=/lib/udev/rules.d GROUP=kvm BINARY='\(binary)'")
        #expect(status == 0, "install.sh failed: \(output)")
        let mode = try FileManager.default.attributesOfItem(atPath: dest + "/usr/bin/flushctl")[.posixPermissions] as? Int
        #expect(mode == 0o755)
        // The front found beside BINARY is PREFIX/bin/flushctl; the program goes to libexec.
        #expect(Self.standIn(root, "/usr/bin/flushctl") == "#!/bin/sh\necho front\n")
        #expect(Self.standIn(root, "/usr/libexec/flushctl/flushctl") == "#!/bin/sh\necho program\n")
        let rule = try String(contentsOfFile: dest + "/lib/udev/rules.d/60-flushctl.rules", encoding: .utf8)
        // Every RUN of the rule names the installed path (without DESTDIR) and the group.
        let runs = rule.split(separator: "\n").filter { !$0.hasPrefix("#") && $0.contains("RUN+=") }
        #expect(runs.count == 2, "\(rule)")
        #expect(runs.allSatisfy { $0.hasSuffix("RUN+=\"/usr/bin/flushctl refresh --detach --group kvm\"") }, "\(runs)")
        #expect(!rule.contains(dest) && !rule.contains("/usr/local"))
        let pages = try FileManager.default.contentsOfDirectory(atPath: EmulatedHost.repositoryRoot.appendingPathComponent("docs/man").path)
            .filter { $0.hasSuffix(".1") }
        #expect(pages.count >= 7)
        for page in pages { #expect(Self.exists(root, "/usr/share/man/man1/" + page), "\(page) not installed") }
        #expect(Self.exists(root, "/usr/share/doc/flushctl/README.md"))
        #expect(Self.exists(root, "/usr/share/doc/flushctl/privileges.md"))

        let (removed, removeOutput) = try EmulatedHost.shell(
            "sh '\(Self.script)' uninstall DESTDIR='\(dest)' PREFIX=/usr UDEVRULESDIR=/lib/udev/rules.d")
        #expect(removed == 0, "uninstall failed: \(removeOutput)")
        #expect(!Self.exists(root, "/usr/bin/flushctl"))
        #expect(!Self.exists(root, "/usr/libexec/flushctl"))
        #expect(!Self.exists(root, "/lib/udev/rules.d/60-flushctl.rules"))
        #expect(!Self.exists(root, "/usr/share/doc/flushctl"))
        for page in pages { #expect(!Self.exists(root, "/usr/share/man/man1/" + page)) }
    }

    @Test(arguments: [
        ("PREFIX=usr", "not an absolute path"),
        ("PREFIX='/opt/my tools'", "a udev RUN path cannot carry"),
        ("PREFIX='/opt/a&b'", "a udev RUN path cannot carry"),
        ("UDEVRULESDIR='/etc/udev/rules d'", "a udev RUN path cannot carry"),
        ("GROUP='kvm --user root'", "not a plain group name"),
        ("FOO=1", "unknown argument 'FOO=1'"),
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

    /// Without a front beside BINARY (and no FRONT), the program alone is PREFIX/bin/flushctl.
    @Test func installsTheProgramAloneWithoutAFront() throws {
        let (root, binary) = try Self.stage()
        defer { try? FileManager.default.removeItem(at: root) }
        let dest = root.path + "/dest"
        let (status, output) = try EmulatedHost.shell("sh '\(Self.script)' install DESTDIR='\(dest)' PREFIX=/usr BINARY='\(binary)'")
        #expect(status == 0, "install.sh failed: \(output)")
        #expect(Self.standIn(root, "/usr/bin/flushctl") == "#!/bin/sh\necho program\n")
        #expect(!Self.exists(root, "/usr/libexec/flushctl"))
        let (refused, refusal) = try EmulatedHost.shell(
            "sh '\(Self.script)' install DESTDIR='\(dest)' PREFIX=/usr BINARY='\(binary)' FRONT='\(root.path)/nonexistent'")
        #expect(refused == 2 && refusal.contains("nonexistent is not an executable"), "exit \(refused): \(refusal)")
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
