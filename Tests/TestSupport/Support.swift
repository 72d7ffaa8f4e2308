import Foundation
import Testing

/// Test helpers for NFITTests and FlushctlTests: the iasl fixtures, temporary directories,
/// running iasl and the built flushctl, editing table bytes.
package enum Support {
    /// The fixtures directory (the test bundle's copy, or the source tree's).
    package static var fixtures: URL {
        if let url = Bundle.module.url(forResource: "Fixtures", withExtension: nil) { return url }
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
    }

    /// The `.asl` fixtures, by name without extension.
    package static let fixtureNames = ["template", "interleave-2way-hints", "multi-dimm", "single-dimm"]

    package static func fixture(_ name: String) -> URL { fixtures.appendingPathComponent("\(name).asl") }

    /// A new empty temporary directory.
    package static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("nfit-tests-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    package struct RunResult {
        package var status: Int32
        package var stdout: String
        package var stderr: String
    }

    /// Runs `executable` with `arguments`, capturing both outputs.
    package static func run(_ executable: String, _ arguments: [String], in directory: URL? = nil) throws -> RunResult {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = directory }
        // stdout through a pipe, stderr through a file, so neither can block the other.
        let errURL = FileManager.default.temporaryDirectory.appendingPathComponent("nfit-stderr-\(UUID().uuidString)")
        _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: errURL) }
        let errHandle = try FileHandle(forWritingTo: errURL)
        let out = Pipe()
        process.standardOutput = out
        process.standardError = errHandle
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        try? errHandle.close()
        let errData = FileManager.default.contents(atPath: errURL.path) ?? Data()
        return RunResult(status: process.terminationStatus,
                         stdout: String(decoding: outData, as: UTF8.self),
                         stderr: String(decoding: errData, as: UTF8.self))
    }

    /// Runs `executable` with `arguments` given as raw bytes (no UTF-8 repair, unlike
    /// `Process`), through posix_spawn, capturing both outputs.
    package static func runRaw(_ executable: String, _ arguments: [[UInt8]]) throws -> RunResult {
        let outPath = FileManager.default.temporaryDirectory.appendingPathComponent("nfit-stdout-\(UUID().uuidString)").path
        let errPath = FileManager.default.temporaryDirectory.appendingPathComponent("nfit-stderr-\(UUID().uuidString)").path
        defer { unlink(outPath); unlink(errPath) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, errPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        let argv: [UnsafeMutablePointer<CChar>?] = ([Array(executable.utf8)] + arguments).map { bytes in
            let p = UnsafeMutablePointer<CChar>.allocate(capacity: bytes.count + 1)
            for (i, b) in bytes.enumerated() { p[i] = CChar(bitPattern: b) }
            p[bytes.count] = 0
            return p
        } + [nil]
        defer { for p in argv { p?.deallocate() } }
        var pid: pid_t = 0
        let rc = argv.withUnsafeBufferPointer { buffer in
            posix_spawn(&pid, executable, &actions, nil, UnsafeMutablePointer(mutating: buffer.baseAddress!), environ)
        }
        guard rc == 0 else { throw ToolFailed(description: "posix_spawn \(executable): errno \(rc)") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let exited = status & 0x7f == 0
        return RunResult(status: exited ? (status >> 8) & 0xff : 128 + (status & 0x7f),
                         stdout: String(decoding: FileManager.default.contents(atPath: outPath) ?? Data(), as: UTF8.self),
                         stderr: String(decoding: FileManager.default.contents(atPath: errPath) ?? Data(), as: UTF8.self))
    }

    /// The path of `iasl`, or a failed test saying how to install it.
    package static func iasl() throws -> String {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for dir in path.split(separator: ":") + ["/usr/bin", "/usr/local/bin"] {
            let candidate = "\(dir)/iasl"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        Issue.record("iasl (ACPICA) is not installed: apt-get install acpica-tools")
        throw MissingTool(name: "iasl")
    }

    package struct MissingTool: Error, CustomStringConvertible {
        package var name: String
        package var description: String { "\(name) not found: apt-get install acpica-tools" }
    }

    package struct ToolFailed: Error, CustomStringConvertible {
        package var description: String
    }

    /// Compiles an `.asl` data-table source with `iasl -p`, returning the table's bytes.
    package static func compile(_ asl: URL) throws -> [UInt8] {
        let iasl = try iasl()
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("out")
        let r = try run(iasl, ["-p", out.path, asl.path], in: dir)
        let aml = dir.appendingPathComponent("out.aml")
        guard r.status == 0, let data = FileManager.default.contents(atPath: aml.path) else {
            throw ToolFailed(description: "iasl -p failed on \(asl.lastPathComponent) (status \(r.status)):\n\(r.stdout)\n\(r.stderr)")
        }
        return [UInt8](data)
    }

    /// Disassembles table bytes with `iasl -d`, returning the `.dsl` text.
    package static func disassemble(_ bytes: [UInt8]) throws -> String {
        let iasl = try iasl()
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let aml = dir.appendingPathComponent("table.aml")
        try Data(bytes).write(to: aml)
        let r = try run(iasl, ["-d", aml.path], in: dir)
        let dsl = dir.appendingPathComponent("table.dsl")
        guard r.status == 0, let data = FileManager.default.contents(atPath: dsl.path) else {
            throw ToolFailed(description: "iasl -d failed (status \(r.status)):\n\(r.stdout)\n\(r.stderr)")
        }
        return String(decoding: data, as: UTF8.self)
    }

    /// The compiled bytes of fixture `name`.
    package static func compiledFixture(_ name: String) throws -> [UInt8] { try compile(fixture(name)) }

    /// The built flushctl: beside the test runner, else beside this target's resource bundle
    /// (both in the build directory, e.g. `.build/debug`).
    package static func flushctl() throws -> String {
        var candidates: [URL] = []
        if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            var dir = URL(fileURLWithPath: exe).deletingLastPathComponent()
            // The runner may be inside an .xctest bundle directory.
            for _ in 0..<3 {
                candidates.append(dir.appendingPathComponent("flushctl"))
                dir = dir.deletingLastPathComponent()
            }
        }
        candidates.append(Bundle.module.bundleURL.deletingLastPathComponent().appendingPathComponent("flushctl"))
        for c in candidates where FileManager.default.isExecutableFile(atPath: c.path) { return c.path }
        Issue.record("the flushctl binary was not found beside the test bundle (looked at \(candidates.map(\.path))); run swift build first")
        throw ToolFailed(description: "flushctl not built")
    }

    // Little-endian edits of table bytes, for tables made wrong on purpose.

    package static func put16(_ b: inout [UInt8], _ offset: Int, _ v: UInt16) {
        b[offset] = UInt8(v & 0xff); b[offset + 1] = UInt8(v >> 8)
    }
    package static func put32(_ b: inout [UInt8], _ offset: Int, _ v: UInt32) {
        put16(&b, offset, UInt16(v & 0xffff)); put16(&b, offset + 2, UInt16(v >> 16))
    }
    package static func put64(_ b: inout [UInt8], _ offset: Int, _ v: UInt64) {
        put32(&b, offset, UInt32(v & 0xffff_ffff)); put32(&b, offset + 4, UInt32(v >> 32))
    }
    /// Sets an ACPI table's header length to the byte count and fixes its checksum.
    package static func reseal(_ b: inout [UInt8]) {
        put32(&b, 4, UInt32(b.count))
        b[9] = 0
        b[9] = 0 &- b.reduce(UInt8(0), &+)
    }
}
