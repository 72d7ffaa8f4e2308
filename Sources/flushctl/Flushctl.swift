import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import NVDIMMTopology

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
    /// cannot do what was asked (printed in the command's words, `commandText(for:)`), and so
    /// is an ``ArgumentError`` (a value or options flushctl
    /// refuses while parsing): they print one line on stderr and exit with status 2. Options
    /// argument-parser cannot parse are bad input too: its message and usage, status 2.
    /// `--help` and `--version` are argument-parser's own (status 0).
    static func main() {
        if let bad = invalidArgument(CommandLine.unsafeArgv, count: Int(CommandLine.argc)) {
            fail(Flushctl.self, bad)
        }
        var command: ParsableCommand
        do {
            command = try parseAsRoot()
        } catch {
            if let bad = ArgumentError.thrown(in: error) {
                fail(bad.command ?? Flushctl.self, bad.description)
            }
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
            fail(type(of: command), commandText(for: error))
        }
    }
}

/// Prints `message` as one line naming `command` (`flushctl nfit build: error: …`) and exits
/// with status 2.
func fail(_ command: ParsableCommand.Type, _ message: String) -> Never {
    let path = commandPath(to: command) ?? ["flushctl"]
    FileHandleStderr.write("\(path.joined(separator: " ")): error: \(message)\n")
    Glibc.exit(2)
}

/// Why an argument of the raw `argv` is bad input, or `nil` when each is valid UTF-8. Swift's
/// `CommandLine.arguments` repairs invalid UTF-8 with U+FFFD, which would make `plan` act on
/// another file than the one named, so the C strings are checked before anything parses them.
/// The message names the argument's position (1 is the first after the program) and shows it
/// with each byte that is not part of valid UTF-8 as `\xHH`.
func invalidArgument(_ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>, count: Int) -> String? {
    for i in 1..<max(count, 1) {
        guard let arg = argv[i] else { continue }
        let bytes = Array(UnsafeBufferPointer(start: UnsafeRawPointer(arg).assumingMemoryBound(to: UInt8.self), count: strlen(arg)))
        guard String(validating: bytes, as: UTF8.self) == nil else { continue }
        return "argument \(i) \"\(escapedInvalidUTF8(bytes))\" is not valid UTF-8; flushctl takes its arguments as UTF-8 and does not guess what else was meant (give a name in UTF-8)"
    }
    return nil
}

/// `bytes` as text, each byte that is not part of a valid UTF-8 sequence written `\xHH`, and
/// control characters, `"` and `\` escaped, so that the line shows what was given.
func escapedInvalidUTF8(_ bytes: [UInt8]) -> String {
    var out = ""
    var i = 0
    while i < bytes.count {
        let b = bytes[i]
        let length = b < 0x80 ? 1 : b >> 5 == 0b110 ? 2 : b >> 4 == 0b1110 ? 3 : b >> 3 == 0b11110 ? 4 : 0
        if length > 1, i + length <= bytes.count,
           let scalar = String(validating: bytes[i..<i + length], as: UTF8.self) {
            out += scalar
            i += length
            continue
        }
        switch b {
        case UInt8(ascii: "\\"): out += "\\\\"
        case UInt8(ascii: "\""): out += "\\\""
        case 0x20..<0x7f: out.unicodeScalars.append(Unicode.Scalar(b))
        default: out += "\\x" + (b < 0x10 ? "0" : "") + String(b, radix: 16)
        }
        i += 1
    }
    return out
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
