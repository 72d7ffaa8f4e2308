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
    /// cannot do what was asked: they print one line on stderr and exit with status 2. Options
    /// that do not parse are bad input too: argument-parser's message and usage, status 2.
    /// `--help` and `--version` are argument-parser's own (status 0).
    static func main() {
        var command: ParsableCommand
        do {
            command = try parseAsRoot()
        } catch {
            if exitCode(for: error) == .validationFailure {
                // Not argument-parser's EX_USAGE (64): every kind of bad input exits 2.
                FileHandleStderr.write(fullMessage(for: error) + "\n")
                Glibc.exit(2)
            }
            exit(withError: error)
        }
        do {
            try command.run()
        } catch let error as ExitCode {
            exit(withError: error)
        } catch let error as CleanExit {
            exit(withError: error)
        } catch where exitCode(for: error) != .failure {
            // argument-parser's own outcomes surfacing from run(), such as the `help` verb.
            exit(withError: error)
        } catch {
            let path = commandPath(to: type(of: command)) ?? ["flushctl"]
            FileHandleStderr.write("\(path.joined(separator: " ")): error: \(error)\n")
            Glibc.exit(2)
        }
    }
}

/// The names from the root to `target`, e.g. `["flushctl", "nfit"]` for `nfit show`, the
/// default subcommand, which users never type.
func commandPath(to target: ParsableCommand.Type,
                 from node: ParsableCommand.Type = Flushctl.self) -> [String]? {
    let config = node.configuration
    let name = config.commandName ?? "flushctl"
    if node == target { return [name] }
    for sub in config.subcommands {
        guard let rest = commandPath(to: target, from: sub) else { continue }
        let isDefault = config.defaultSubcommand.map { $0 == sub } ?? false
        return isDefault ? [name] : [name] + rest
    }
    return nil
}
