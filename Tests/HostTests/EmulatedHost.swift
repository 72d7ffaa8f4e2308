import Foundation

/// One command's outcome inside the emulated host.
struct CommandResult: Sendable { let command: String; let stdout: String; let stderr: String; let status: Int32 }

/// Why the emulated host could not run the commands: packages, build, boot, timeout or a failing setup command.
/// The description carries `Tests/hostsim/run`'s message, including the guest console's tail when the boot failed.
struct EmulatedHostError: Error, CustomStringConvertible {
    /// The whole message, several lines when the console tail is included.
    let description: String
}

/// Boots the emulated NVDIMM host (`Tests/hostsim/run`, see docs/emulated-host.md) from tests.
enum EmulatedHost {
    /// The emulated host's kernel: Debian 12's (6.1) or bookworm-backports' (6.12); `Tests/hostsim/run --kernel`.
    enum Kernel: String, Sendable { case debian, backports }

    /// Everything one boot reports: the command results plus what the host side built.
    struct Boot: Sendable {
        /// One result per command, in order.
        let results: [CommandResult]
        /// Per command, what `guest-run` reported when the command ran it (nil for other commands).
        let guestRuns: [GuestRun?]
        /// The host kernel's release (`uname -r`).
        let kernelRelease: String
        /// md5 (lowercase hex) of the NFIT the scenario built and QEMU installed; nil when the scenario has none of its own.
        let nfitMD5: String?
        /// The guest kernel's command line.
        let append: String
        /// Guest uptime (seconds) when /init started and when the last command ended; host wall-clock seconds.
        let bootedAt: Double, endedAt: Double, wallSeconds: Double
    }

    /// Boots `scenario` (a name in Tests/hostsim/scenarios or a path), runs `commands` in order in one boot, returns one result per command.
    static func run(scenario: String, commands: [String], append: String = "") throws -> [CommandResult] {
        try boot(scenario: scenario, commands: commands, append: append).results
    }

    /// Like `run`, with the host-side facts of the boot (the NFIT's checksum, the kernel command line, timings).
    /// `guest`: the host can run a guest of its own (`guest-run`, see `nested`); `kernel`: which host kernel;
    /// `timeout`: seconds before QEMU is killed (nil: the script's default, 240 or `$HOSTSIM_TIMEOUT`).
    static func boot(scenario: String, commands: [String], append: String = "", guest: Bool = false,
                     kernel: Kernel = .debian, timeout: Double? = nil) throws -> Boot {
        let flushctl = try flushctlBinary.get()
        let resultsFile = FileManager.default.temporaryDirectory
            .appendingPathComponent("hostsim-\(UUID().uuidString).json")
        defer { try? FileManager.default.removeItem(at: resultsFile) }
        var arguments = ["--scenario", scenario, "--flushctl", flushctl, "--results", resultsFile.path]
        if !append.isEmpty { arguments += ["--append", append] }
        if guest { arguments.append("--guest") }
        if kernel != .debian { arguments += ["--kernel", kernel.rawValue] }
        if let timeout { arguments += ["--timeout", String(timeout)] }
        for command in commands { arguments += ["--cmd", command] }
        // One boot at a time per test process, whatever suites run in parallel: 2 cores, and
        // boot times (and timeouts) stay predictable.
        bootLock.lock()
        var (status, errorText): (Int32, String)
        do {
            defer { bootLock.unlock() }
            (status, _, errorText) = try runScript(arguments)
            // KVM nested in QEMU's TCG has frozen the whole emulated host now and then (cause
            // unknown; docs/emulated-host.md, Known limits): a boot with a guest that froze (its
            // heartbeat stopped: found within two minutes) or timed out is the emulator's failure,
            // not flushctl's, and is booted again, saying so: up to four boots in all after
            // freezes (about 1 guest boot in 15 froze here), two after a timeout (which costs the
            // whole --timeout).
            var boots = 1
            func emulatorFailed() -> Bool {
                guard guest && status == 125 else { return false }
                return (boots < 4 && errorText.contains("the emulated host froze"))
                    || (boots < 2 && errorText.contains("QEMU timed out"))
            }
            while emulatorFailed() {
                FileHandleStandardError.write("EmulatedHost: boot \(boots) of the emulated host with a guest failed; booting it again\n\(errorText)")
                (status, _, errorText) = try runScript(arguments)
                boots += 1
            }
        }
        guard status == 0 else {
            throw EmulatedHostError(description: "Tests/hostsim/run \(arguments.joined(separator: " ")) failed (exit \(status)):\n\(errorText)")
        }
        let data: Data
        do { data = try Data(contentsOf: resultsFile) } catch {
            throw EmulatedHostError(description: "Tests/hostsim/run wrote no results file \(resultsFile.path): \(error)")
        }
        let document: ResultsDocument
        do { document = try JSONDecoder().decode(ResultsDocument.self, from: data) } catch {
            throw EmulatedHostError(description: "cannot decode \(resultsFile.path): \(error)")
        }
        guard document.results.count == commands.count else {
            throw EmulatedHostError(description: "asked for \(commands.count) commands, got \(document.results.count) results")
        }
        return Boot(
            results: document.results.map {
                CommandResult(command: $0.command, stdout: $0.stdout, stderr: $0.stderr, status: $0.status)
            },
            guestRuns: document.results.map { result in
                result.nested.map { nested in
                    GuestRun(release: nested.ready?.release, readySeconds: nested.ready?.seconds,
                             steps: nested.steps.map { StepResult(where: $0.where, stdout: $0.stdout, stderr: $0.stderr,
                                                                  status: $0.status) })
                }
            },
            kernelRelease: document.kernel ?? "",
            nfitMD5: document.nfit_md5, append: document.append,
            bootedAt: document.times.booted, endedAt: document.times.end, wallSeconds: document.times.wall)
    }

    /// Serialises boots across all suites of the test process; hold it around any other way of booting.
    static let bootLock = NSLock()

    /// The repository root: this file is Tests/HostTests/EmulatedHost.swift.
    static let repositoryRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The flushctl the guests get, prepared once per test process (packages, kernel and a release build when stale).
    static let flushctlBinary: Result<String, EmulatedHostError> = {
        do {
            let (status, output, errorText) = try runScript(["--build-only"])
            let path = output.trimmingCharacters(in: .whitespacesAndNewlines)
            guard status == 0, !path.isEmpty else {
                return .failure(EmulatedHostError(
                    description: "Tests/hostsim/run --build-only failed (exit \(status)):\n\(errorText)"))
            }
            return .success(path)
        } catch let error as EmulatedHostError {
            return .failure(error)
        } catch {
            return .failure(EmulatedHostError(description: "Tests/hostsim/run --build-only: \(error)"))
        }
    }()

    /// Runs Tests/hostsim/run with `arguments`; returns its exit status, stdout and stderr.
    private static func runScript(_ arguments: [String]) throws -> (Int32, String, String) {
        let script = repositoryRoot.appendingPathComponent("Tests/hostsim/run")
        guard FileManager.default.isExecutableFile(atPath: script.path) else {
            throw EmulatedHostError(description: "\(script.path) is missing or not executable")
        }
        let process = Process()
        process.executableURL = script
        process.arguments = arguments
        process.currentDirectoryURL = repositoryRoot
        // Files, not pipes: nothing can fill up and block while QEMU runs.
        let directory = FileManager.default.temporaryDirectory
        let outURL = directory.appendingPathComponent("hostsim-\(UUID().uuidString).out")
        let errURL = directory.appendingPathComponent("hostsim-\(UUID().uuidString).err")
        _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
        defer {
            try? FileManager.default.removeItem(at: outURL)
            try? FileManager.default.removeItem(at: errURL)
        }
        let outHandle = try FileHandle(forWritingTo: outURL)
        let errHandle = try FileHandle(forWritingTo: errURL)
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = outHandle
        process.standardError = errHandle
        do { try process.run() } catch {
            throw EmulatedHostError(description: "cannot start \(script.path): \(error)")
        }
        process.waitUntilExit()
        try? outHandle.close()
        try? errHandle.close()
        let output = (try? String(contentsOf: outURL, encoding: .utf8)) ?? ""
        let errorText = (try? String(contentsOf: errURL, encoding: .utf8)) ?? ""
        return (process.terminationStatus, output, errorText)
    }

    /// Writes into `work` a scenario that is `base` (a name in Tests/hostsim/scenarios, e.g.
    /// `"hints"` or `"fsync/ext4-dm-error"`) plus `setup` commands after its own and extra
    /// `binaries` (host path: guest path); returns its path for `run(scenario:)`.
    static func scenario(basedOn base: String, in work: URL, setup: [String] = [], binaries: [String: String]) throws -> String {
        let file = repositoryRoot.appendingPathComponent("Tests/hostsim/scenarios/\(base).json")
        let data = try Data(contentsOf: file)
        guard var scenario = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw EmulatedHostError(description: "\(file.path): not a JSON object")
        }
        // A layout given by path is relative to the scenario file, which is about to move.
        if let nfit = scenario["nfit"] as? String, !nfit.hasPrefix("/") {
            scenario["nfit"] = file.deletingLastPathComponent().appendingPathComponent(nfit).standardizedFileURL.path
        }
        scenario["description"] = "\(base) plus \(binaries.values.sorted().joined(separator: ", "))"
        scenario["setup"] = (scenario["setup"] as? [String] ?? []) + setup
        scenario["binaries"] = (scenario["binaries"] as? [Any] ?? []) + binaries.sorted { $0.key < $1.key }.map { ["host": $0.key, "guest": $0.value] }
        let url = work.appendingPathComponent("scenario.json")
        try JSONSerialization.data(withJSONObject: scenario).write(to: url)
        return url.path
    }

    /// Runs `command` with /bin/sh on the host; returns its exit status and combined output.
    static func shell(_ command: String) throws -> (Int32, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command + " 2>&1"]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// The JSON document `Tests/hostsim/run --results` writes.
    private struct ResultsDocument: Decodable {
        struct Result: Decodable {
            let command: String; let status: Int32; let stdout: String; let stderr: String
            let nested: Nested?
        }
        /// guest-run's records, parsed by Tests/hostsim/run.
        struct Nested: Decodable {
            struct Ready: Decodable { let seconds: Double; let uptime: Double; let release: String }
            struct Step: Decodable { let `where`: String; let status: Int32; let stdout: String; let stderr: String }
            let ready: Ready?
            let steps: [Step]
            let end: Double?
        }
        struct Times: Decodable { let booted: Double; let ready: Double; let end: Double; let wall: Double }
        let results: [Result]
        let nfit_md5: String?
        let kernel: String?
        let append: String
        let times: Times
    }
}

/// Standard error of the test process, for notes a test run should show.
enum FileHandleStandardError {
    static func write(_ text: String) { FileHandle.standardError.write(Data(text.utf8)) }
}
