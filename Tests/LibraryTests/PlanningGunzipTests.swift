import Testing
@testable import FlushPlanning
@testable import HostFiles
@testable import HostIO

/// gzip files made with Python's gzip/zlib (mtime 0): a dynamic-Huffman block, a stored
/// block, and a fixed-Huffman block with a file name in the header.
private let dynamicGzip: [UInt8] = [31, 139, 8, 0, 0, 0, 0, 0, 2, 3, 125, 212, 171, 82, 3, 81, 16, 132, 97, 159, 167, 216, 42, 94, 32, 221, 157, 171, 64, 45, 1, 86, 36, 75, 133, 45, 236, 42, 68, 12, 136, 196, 240, 246, 32, 98, 168, 233, 211, 118, 206, 127, 212, 87, 51, 253, 120, 122, 30, 94, 230, 241, 109, 26, 198, 211, 188, 124, 252, 89, 60, 116, 253, 125, 54, 189, 30, 206, 243, 178, 187, 92, 187, 175, 239, 91, 119, 253, 188, 45, 250, 127, 53, 106, 141, 118, 205, 90, 179, 93, 171, 214, 106, 215, 171, 90, 175, 218, 245, 186, 214, 235, 118, 189, 169, 245, 166, 93, 111, 107, 189, 109, 215, 187, 90, 239, 218, 245, 190, 214, 251, 160, 99, 48, 145, 52, 29, 103, 240, 132, 1, 69, 16, 133, 33, 69, 48, 133, 65, 69, 80, 133, 97, 69, 112, 133, 129, 69, 144, 133, 161, 69, 176, 133, 193, 69, 208, 133, 225, 69, 240, 165, 241, 101, 240, 165, 241, 101, 218, 87, 183, 176, 193, 151, 198, 151, 193, 151, 198, 151, 193, 151, 198, 151, 193, 151, 198, 151, 193, 151, 198, 151, 193, 151, 198, 151, 193, 151, 198, 151, 193, 87, 198, 87, 193, 87, 198, 87, 193, 87, 198, 87, 233, 34, 187, 147, 28, 124, 101, 124, 21, 124, 101, 124, 21, 124, 101, 124, 21, 124, 101, 124, 21, 124, 101, 124, 21, 124, 101, 124, 229, 124, 223, 167, 243, 208, 79, 243, 211, 225, 227, 120, 56, 254, 253, 185, 143, 135, 177, 188, 252, 2, 169, 190, 252, 147, 157, 7, 0, 0]
private let storedGzip: [UInt8] = [31, 139, 8, 0, 0, 0, 0, 0, 4, 3, 1, 23, 0, 232, 255, 67, 79, 78, 70, 73, 71, 95, 83, 84, 82, 73, 67, 84, 95, 68, 69, 86, 77, 69, 77, 61, 121, 10, 48, 169, 105, 193, 23, 0, 0, 0]
private let fixedGzip: [UInt8] = [31, 139, 8, 8, 0, 0, 0, 0, 0, 3, 99, 111, 110, 102, 105, 103, 0, 115, 246, 247, 115, 243, 116, 143, 15, 14, 9, 242, 116, 14, 137, 119, 113, 13, 243, 117, 245, 181, 173, 228, 114, 198, 46, 12, 0, 149, 139, 136, 73, 46, 0, 0, 0]

/// The text `dynamicGzip` holds.
private let dynamicText: String = {
    var text = ""
    for i in 0..<40 { text += "CONFIG_OPTION_\(i)=y\n# CONFIG_OTHER_\(i) is not set\n" }
    return text + "CONFIG_STRICT_DEVMEM=y\nCONFIG_IO_STRICT_DEVMEM=y\n"
}()

@Suite("Planning: gunzip")
struct PlanningGunzipTests {
    @Test func dynamicHuffman() throws {
        let out = try Gunzip.decompress(dynamicGzip)
        #expect(String(decoding: out, as: UTF8.self) == dynamicText)
        let config = try KernelConfig.parse(String(decoding: out, as: UTF8.self), source: "/proc/config.gz")
        #expect(config.isEnabled("CONFIG_IO_STRICT_DEVMEM"))
    }

    @Test func storedAndFixed() throws {
        #expect(String(decoding: try Gunzip.decompress(storedGzip), as: UTF8.self) == "CONFIG_STRICT_DEVMEM=y\n")
        #expect(String(decoding: try Gunzip.decompress(fixedGzip), as: UTF8.self) == "CONFIG_STRICT_DEVMEM=y\nCONFIG_STRICT_DEVMEM=y\n")
    }

    @Test func corruptDataIsAnErrorNotACrash() {
        #expect(throws: GunzipError(offset: 0, message: "empty, not gzip")) { try Gunzip.decompress([]) }
        // Truncated anywhere, in the deflate data or in the trailer.
        for length in [1, 2, 10, 100, dynamicGzip.count - 8, dynamicGzip.count - 1] {
            let error = #expect(throws: GunzipError.self, "\(length)") { try Gunzip.decompress(Array(dynamicGzip.prefix(length))) }
            #expect(error?.message.hasPrefix("truncated") == true, "\(length): \(String(describing: error))")
        }
        var badMagic = storedGzip
        badMagic[0] = 0
        #expect(throws: GunzipError(offset: 0, message: "not gzip (bad magic)")) { try Gunzip.decompress(badMagic) }
        var badMethod = storedGzip
        badMethod[2] = 7
        let method = #expect(throws: GunzipError.self) { try Gunzip.decompress(badMethod) }
        #expect(method?.message.hasPrefix("corrupt: ") == true, "\(String(describing: method))")
        var badCRC = dynamicGzip
        badCRC[badCRC.count - 8] ^= 1
        #expect(throws: GunzipError(offset: dynamicGzip.count - 4, message: "corrupt: incorrect data check")) { try Gunzip.decompress(badCRC) }
        var badLength = storedGzip
        badLength[badLength.count - 4] ^= 1
        #expect(throws: GunzipError.self) { try Gunzip.decompress(badLength) }
        // Text after the gzip data is not another member.
        let trailing = #expect(throws: GunzipError.self) { try Gunzip.decompress(storedGzip + Array("garbage!".utf8)) }
        #expect(trailing?.message.hasPrefix("corrupt: ") == true, "\(String(describing: trailing))")
        // Flip every byte of the deflate data in turn: always an error or the right text
        // (a flip in an unused bit), never a trap or wrong text passing the CRC.
        for i in 10..<(dynamicGzip.count - 8) {
            var damaged = dynamicGzip
            damaged[i] ^= 0x5a
            if let out = try? Gunzip.decompress(damaged) {
                #expect(String(decoding: out, as: UTF8.self) == dynamicText)
            }
        }
        #expect(throws: GunzipError.self) { try Gunzip.decompress(dynamicGzip, limit: 100) }
    }

    @Test("a real gzip file from the gzip tool: several output chunks, and concatenated members")
    func gzipTool() throws {
        let dir = try TempDir()
        var text = ""
        for i in 0..<20_000 { text += "CONFIG_OPTION_\(i)=\(i % 3 == 0 ? "y" : "m")\n" }
        try dir.write("config", text)
        let candidates: [String] = ["/usr/bin/gzip", "/bin/gzip"]
        let gzip = try #require(candidates.first { access($0, X_OK) == 0 }, "no gzip tool")
        #expect(try run("\(gzip) -9 -c \(dir.path)/config > \(dir.path)/config.gz") == 0)
        let compressed = try SmallFile.read(dir.path + "/config.gz")
        #expect(compressed.count < text.utf8.count / 4)
        #expect(try Gunzip.decompress(compressed) == Array(text.utf8))
        // `cat a.gz b.gz` is gzip too: both members, in order.
        #expect(try Gunzip.decompress(compressed + storedGzip) == Array(text.utf8) + Array("CONFIG_STRICT_DEVMEM=y\n".utf8))
        #expect(throws: GunzipError.self) { try Gunzip.decompress(compressed, limit: 1 << 16) }
    }

    /// Runs `command` with /bin/sh; its exit status.
    private func run(_ command: String) throws -> Int32 {
        var pid: pid_t = 0
        let words: [String] = ["/bin/sh", "-c", command]
        let argv: [UnsafeMutablePointer<CChar>?] = words.map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        try #require(posix_spawn(&pid, "/bin/sh", nil, nil, argv, environ) == 0)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return status
    }

    @Test func kernelConfigReadsProcConfigGz() throws {
        let dir = try TempDir()
        let gz = dir.path + "/config.gz"
        let fd = open(gz, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        #expect(fd >= 0)
        #expect(dynamicGzip.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) } == dynamicGzip.count)
        close(fd)
        let config = try KernelConfig.readRunning(release: "none", procConfig: gz, bootDirectory: dir.path)
        #expect(config.source == gz)
        #expect(config.isEnabled("CONFIG_STRICT_DEVMEM") && config.isEnabled("CONFIG_IO_STRICT_DEVMEM"))
        // A damaged /proc/config.gz with no /boot file is an error naming the file.
        try dir.write("bad.gz", "not gzip at all, not at all")
        do {
            _ = try KernelConfig.readRunning(release: "none", procConfig: dir.path + "/bad.gz", bootDirectory: dir.path)
            Issue.record("expected an error")
        } catch {
            #expect(error.path == dir.path + "/bad.gz")
            #expect(error.description == "\(dir.path)/bad.gz: gzip data at byte 0: not gzip (bad magic)")
        }
        // ... and with one, the /boot file is used.
        try dir.write("config-none", "CONFIG_STRICT_DEVMEM=y\n")
        let fallback = try KernelConfig.readRunning(release: "none", procConfig: dir.path + "/bad.gz", bootDirectory: dir.path)
        #expect(fallback.source == dir.path + "/config-none")
    }
}

#if canImport(Glibc)
import Glibc
#endif
