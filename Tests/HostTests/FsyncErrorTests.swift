import Foundation
import Testing

/// CoalescingFsync against a real EIO: ext4 on a device-mapper target that is reloaded as an
/// `error` target while the file has dirty pages (scenario fsync/ext4-dm-error). One boot.
@Suite(.serialized) struct FsyncErrorTests {
    /// Swaps the linear target for an `error` target. `--nolockfs`: no filesystem freeze, so
    /// the dirty pages are still in the page cache when the device starts failing.
    static let breakDevice = "dmsetup suspend --nolockfs failing && dmsetup reload failing --table '0 65536 error' && dmsetup resume --noudevsync failing"

    @Test func eioFailsTheFlushAndEveryLaterOneWhateverRawFsyncSays() throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("fsync-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        let binary = try Self.buildGuestBench()
        let scenario = try EmulatedHost.scenario(basedOn: "fsync/ext4-dm-error", in: work, binaries: [binary: "/usr/bin/fsync-bench"])

        let r = try EmulatedHost.run(scenario: scenario, commands: [
            "fsync-bench --check-errors /mnt/data --break \"\(Self.breakDevice)\"",
            "dmesg | grep -iE 'I/O error|EXT4-fs (error|warning)|Buffer I/O|Aborting journal' | head -n 8",
        ])
        try #require(r[0].status == 0, "fsync-bench --check-errors failed: \(r[0].stderr)")
        let object = try JSONSerialization.jsonObject(with: Data(r[0].stdout.utf8))
        let report = try #require(object as? [String: Any], "not a JSON object: \(r[0].stdout)")
        func step(_ name: String) -> [String: Any] { report[name] as? [String: Any] ?? [:] }
        let context = "\(r[0].stdout)\nkernel log:\n\(r[1].stdout)"

        // Before the device fails: an ordinary successful flush.
        #expect(step("flush_before_break")["ok"] as? Bool == true, "\(context)")
        #expect(report["break_status"] as? Int == 0, "\(context)")
        // The flush whose fsync met the failing device: EIO, as that fsync's own error.
        #expect(step("flush_after_break")["ok"] as? Bool == false, "\(context)")
        #expect(step("flush_after_break")["reason"] as? String == "sync_failed", "\(context)")
        #expect(step("flush_after_break")["errno"] as? Int == Int(EIO), "\(context)")
        // Sticky: every later flush fails with the original EIO...
        for name in ["flush_again", "flush_after_raw_fsync"] {
            #expect(step(name)["reason"] as? String == "failed_earlier", "\(name): \(context)")
            #expect(step(name)["errno"] as? Int == Int(EIO), "\(name): \(context)")
        }
        // ...although the kernel does not keep saying so. Observed on Debian's 6.1: the next raw
        // fsync of the same descriptor still returns EIO (ext4 saw the error on its own too), the
        // one after that returns 0, and so does fsync on a newly opened descriptor: once the
        // writeback error has been reported (errseq_t), the lost pages are forgotten.
        #expect(step("raw_fsync_same_fd_again")["rc"] as? Int == 0, "raw fsync after the reported EIO: \(context)")
        #expect(step("raw_fsync_new_fd")["rc"] as? Int == 0, "raw fsync on a new descriptor: \(context)")
        // And no fsync ran after the failure: the component never asks again.
        let stats = step("statistics")
        #expect(stats["syncs"] as? Int == 2, "\(context)")
        #expect(stats["requests"] as? Int == 2, "\(context)")
    }

    // MARK: - helpers

    /// Builds fsync-bench in release with the Swift runtime linked in (the guest has no Swift
    /// runtime); a separate scratch path, since `swift test` holds the lock on its own.
    static func buildGuestBench() throws -> String {
        let scratch = ".build-fsync-guest"
        let (status, output) = try EmulatedHost.shell(
            "cd '\(EmulatedHost.repositoryRoot.path)' && swift build -c release --static-swift-stdlib --product fsync-bench --scratch-path \(scratch)")
        try #require(status == 0, "cannot build fsync-bench for the guest (needs the Swift toolchain with its static stdlib): \(output)")
        let binary = EmulatedHost.repositoryRoot.appendingPathComponent("\(scratch)/release/fsync-bench").path
        try #require(FileManager.default.isExecutableFile(atPath: binary), "\(binary) was not built")
        return binary
    }
}
