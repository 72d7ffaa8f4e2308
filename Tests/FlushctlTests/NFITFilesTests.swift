import Glibc
import Testing
@testable import flushctl

/// `nfit build -o`: the table replaces the output durably through HostFiles' one durable
/// writer, and names planted next to the output are never followed.
@Suite struct NFITFilesTests {
    /// A fresh directory under /tmp, removed (one level deep) by `remove`.
    static func scratch() throws -> String {
        var template = Array("/tmp/flushctl-nfitfiles-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { b in b.baseAddress.flatMap { mkdtemp($0) }.map { String(cString: $0) } }
        return try #require(made)
    }

    static func remove(_ dir: String) {
        for name in names(dir) { unlink(dir + "/" + name) }
        rmdir(dir)
    }

    static func names(_ dir: String) -> [String] {
        guard let d = opendir(dir) else { return [] }
        defer { closedir(d) }
        var names: [String] = []
        while let e = readdir(d) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    /// Creates `path` (mode 0600, never an existing file) holding `text`: a file the writer must not touch.
    static func create(_ path: String, _ text: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        try #require(fd >= 0)
        defer { close(fd) }
        try #require(write(fd, text, text.utf8.count) == text.utf8.count)
    }

    /// The permission bits of `path` (following a link); `nil` when stat fails.
    static func permissions(_ path: String) -> mode_t? {
        var st = stat()
        return stat(path, &st) == 0 ? st.st_mode & 0o777 : nil
    }

    static func contents(_ path: String) -> String? {
        guard let bytes = try? SmallFileForTests.read(path) else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }

    @Test("writes, refuses to overwrite without --force, replaces with it; no temporary file is left")
    func writesAndReplaces() throws {
        let dir = try Self.scratch()
        defer { Self.remove(dir) }
        let path = dir + "/nfit.aml"
        try NFITFiles.writeDurably(Array("one".utf8), to: path, replace: false)
        #expect(Self.contents(path) == "one")
        let refused = #expect(throws: NFITCommandError.self) { try NFITFiles.writeDurably(Array("two".utf8), to: path, replace: false) }
        #expect(refused?.description.contains("--force") == true)
        try NFITFiles.writeDurably(Array("two".utf8), to: path, replace: true)
        #expect(Self.contents(path) == "two")
        #expect(Self.names(dir) == ["nfit.aml"])
        #expect(Self.permissions(path) == 0o644)
    }

    @Test("something planted at the old temporary name (<out>.tmp.<pid>) neither stops the write nor is followed")
    func plantedTemporaryName() throws {
        let dir = try Self.scratch()
        defer { Self.remove(dir) }
        let outside = try Self.scratch()
        defer { Self.remove(outside) }
        let victim = outside + "/victim"
        try Self.create(victim, "keep")
        let path = dir + "/nfit.aml"
        #expect(symlink(victim, "\(path).tmp.\(getpid())") == 0)
        try NFITFiles.writeDurably(Array("table".utf8), to: path, replace: false)
        #expect(Self.contents(path) == "table")
        #expect(Self.contents(victim) == "keep")
        #expect(Self.permissions(victim) == 0o600)
    }

    @Test("a symlink or a directory at the output is refused, and the link's target is untouched")
    func refusesLinksAndDirectories() throws {
        let dir = try Self.scratch()
        defer { Self.remove(dir) }
        let victim = dir + "/victim"
        try Self.create(victim, "")
        #expect(symlink(victim, dir + "/link.aml") == 0)
        let error = #expect(throws: NFITCommandError.self) { try NFITFiles.writeDurably(Array("x".utf8), to: dir + "/link.aml", replace: true) }
        #expect(error?.description == "\(dir)/link.aml: is a symbolic link; refusing to write there")
        #expect(Self.contents(victim) == "")
        #expect(throws: NFITCommandError.self) { try NFITFiles.writeDurably(Array("x".utf8), to: dir, replace: true) }
        #expect(Self.names(dir) == ["link.aml", "victim"])
    }
}

/// Reads a whole file (the tests' own reader, so they do not lean on the code under test).
enum SmallFileForTests {
    struct Failure: Error {}

    static func read(_ path: String) throws -> [UInt8] {
        let fd = open(path, O_RDONLY | O_NOFOLLOW)
        guard fd >= 0 else { throw Failure() }
        defer { close(fd) }
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 { throw Failure() }
            if n == 0 { return out }
            out += buffer[..<n]
        }
    }
}
