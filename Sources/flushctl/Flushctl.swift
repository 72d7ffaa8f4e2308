import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif

/// `flushctl`: flush-hint passthrough for virtual NVDIMMs.
@main
struct Flushctl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "flushctl",
        abstract: "Find NVDIMM flush hints and plan how a VMM passes them to its guests.",
        discussion: """
            flushctl reads the ACPI NFIT and the libnvdimm topology (through libndctl), joins \
            each DIMM's Flush Hint Addresses to it by NFIT device handle, and tells a VMM whether \
            its guest's flush-hint writes can reach the hardware directly or what it must do instead.
            """,
        version: "0.1.0",
        subcommands: Flushctl.subcommandTypes
    )

    /// Runs the command. Errors thrown by a subcommand's `run()` are bad input or a host that
    /// cannot do what was asked: they print one line on stderr and exit with status 2. Parsing
    /// errors, `--help` and `--version` are argument-parser's own.
    static func main() {
        var command: ParsableCommand
        do {
            command = try parseAsRoot()
        } catch {
            exit(withError: error)
        }
        do {
            try command.run()
        } catch let error as ExitCode {
            exit(withError: error)
        } catch let error as CleanExit {
            exit(withError: error)
        } catch {
            let verb = type(of: command).configuration.commandName ?? "flushctl"
            let prefix = verb == "flushctl" ? "flushctl" : "flushctl \(verb)"
            FileHandleStderr.write("\(prefix): error: \(error)\n")
            Glibc.exit(2)
        }
    }
}

/// Writes to standard error without Foundation.
enum FileHandleStderr {
    static func write(_ text: String) {
        var text = text
        text.withUTF8 { buffer in
            var rest = UnsafeRawBufferPointer(buffer)
            while !rest.isEmpty {
                let n = Glibc.write(2, rest.baseAddress, rest.count)
                if n <= 0 { if n < 0 && errno == EINTR { continue }; return }
                rest = UnsafeRawBufferPointer(rebasing: rest[n...])
            }
        }
    }
}
