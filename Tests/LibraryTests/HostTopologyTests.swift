import Foundation
import Testing
import NVDIMMTopology

/// Runs against this machine's real libnvdimm state (none on the build machines).
@Suite struct HostTopologyTests {
    /// The `ndbusN` entries the kernel publishes, which libndctl must report one for one.
    func sysfsBuses() -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: Topology.ndDevicesDirectory)) ?? []
        return names.filter { $0.hasPrefix("ndbus") }.sorted()
    }

    @Test func readMatchesSysfs() throws {
        let topology = try Topology.read()
        #expect(topology.buses.map(\.dev).sorted() == sysfsBuses())
        #expect(!topology.hasFlushHints)
    }

    /// The built `flushctl` next to this test bundle.
    func flushctl() throws -> URL {
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        var dir = exe.deletingLastPathComponent()
        // The bundle is .build-X/debug/flushctlPackageTests.xctest (a file on Linux).
        if dir.pathExtension == "xctest" { dir = dir.deletingLastPathComponent() }
        let binary = dir.appendingPathComponent("flushctl")
        try #require(FileManager.default.isExecutableFile(atPath: binary.path),
                     "flushctl is not built next to the tests at \(binary.path)")
        return binary
    }

    func run(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        let process = Process()
        process.executableURL = try flushctl()
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    @Test(arguments: [["list"], ["list", "-BDRN", "--json"], ["list", "-vvv", "-u"], ["list", "-b", "ndbus9"]])
    func listOnAHostWithoutNVDIMMsPrintsNothing(arguments: [String]) throws {
        try #require(sysfsBuses().isEmpty, "this test expects a host without NVDIMM buses")
        let r = try run(arguments)
        #expect(r.status == 0)
        #expect(r.stdout == "")
        #expect(r.stderr == "")
    }

    @Test func badRegionTypeExitsTwoWithOneLine() throws {
        let r = try run(["list", "-t", "nvme"])
        #expect(r.status == 2)
        #expect(r.stdout == "")
        #expect(r.stderr == "flushctl list: error: unknown region type \"nvme\": must be \"pmem\" or \"blk\"\n")
    }
}
