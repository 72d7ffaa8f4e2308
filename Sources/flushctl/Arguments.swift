import ArgumentParser
import FlushBench
import NFIT
import FlushPlanning
import NVDIMMTopology
import OrderedJSON

// The values flushctl's options take, each parsed in one place, and how bad input found while
// the arguments are parsed is reported.
//
// argument-parser reports an `ExpressibleByArgument` value that does not parse, or an error a
// transform or `validate()` throws, as "Error: The value … is invalid for …" with the usage.
// flushctl reports all bad input alike, as one line naming the verb, exit status 2; so options
// parse through a transform that throws an ``ArgumentError``, and `Flushctl.main` prints that.

/// Bad input found while the arguments are parsed: an option value that does not parse, or
/// options that do not go together. Printed as `flushctl VERB: error: MESSAGE`, exit status 2.
struct ArgumentError: Error, CustomStringConvertible {
    /// The one line: what was given and what is wanted.
    var description: String
    /// The verb whose options were bad; set by ``ParsableCommand/argument(_:)``.
    var command: ParsableCommand.Type?

    init(_ description: String, in command: ParsableCommand.Type? = nil) {
        self.description = description
        self.command = command
    }

    /// The `ArgumentError` inside `error`, one of argument-parser's: it keeps what a transform
    /// or `validate()` threw but has no public way to give it back, hence the walk.
    static func thrown(in error: Any, depth: Int = 0) -> ArgumentError? {
        if let found = error as? ArgumentError { return found }
        guard depth < 6 else { return nil }
        for child in Mirror(reflecting: error).children {
            if let found = thrown(in: child.value, depth: depth + 1) { return found }
        }
        return nil
    }
}

/// A value an option takes.
protocol ArgumentValue: Sendable {
    /// The value `text`, given to `option`, stands for.
    init(argument text: String, option: String) throws(ArgumentError)
}

extension ParsableCommand {
    /// The transform of this verb's `option`: its value parsed, or an ``ArgumentError`` naming
    /// this verb.
    static func argument<Value: ArgumentValue>(_ option: String) -> @Sendable (String) throws -> Value {
        { text in
            do throws(ArgumentError) {
                return try Value(argument: text, option: option)
            } catch {
                throw ArgumentError(error.description, in: Self.self)
            }
        }
    }
}

extension ArgumentHelp {
    /// Help for an option with a transform, whose default argument-parser does not show: shown
    /// here as argument-parser shows the others'.
    init(_ abstract: String, default value: Any, valueName: String) {
        self.init("\(abstract) (default: \(value))", valueName: valueName)
    }
}

/// An address or a size, `0x…` or decimal, as the NFIT layout takes them (`--guest-base`).
extension UInt64: ArgumentValue {
    init(argument text: String, option: String) throws(ArgumentError) {
        guard let value = JSONField.unsigned(text, as: UInt64.self) else {
            throw ArgumentError("\(option) '\(text)' is not a number (use 0x… or decimal)")
        }
        self = value
    }
}

/// A guest physical range given as `BASE:SIZE` (`--guest-region`).
struct GuestRange: ArgumentValue {
    var base: UInt64
    var size: UInt64

    init(argument text: String, option: String) throws(ArgumentError) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, let base = JSONField.unsigned(String(parts[0]), as: UInt64.self),
              let size = JSONField.unsigned(String(parts[1]), as: UInt64.self) else {
            throw ArgumentError("\(option) '\(text)' is not BASE:SIZE (0x… or decimal numbers)")
        }
        self.base = base
        self.size = size
    }
}

/// The guest's RAM as QEMU's `-m` reads it (`--guest-ram`).
struct GuestRAM: ArgumentValue, CustomStringConvertible {
    var bytes: UInt64

    init(bytes: UInt64) { self.bytes = bytes }

    init(argument text: String, option: String) throws(ArgumentError) {
        guard let bytes = QemuRecipe.size(parsing: text) else {
            throw ArgumentError("\(option) '\(text)' is not a size (a number with K, M, G or T; a bare number is MiB)")
        }
        self.bytes = bytes
    }

    var description: String { QemuRecipe.sizeText(bytes) }
}

/// `pc` or `q35` (`--machine`).
extension QemuMachine: ArgumentValue {
    init(argument text: String, option: String) throws(ArgumentError) {
        guard let machine = QemuMachine(rawValue: text) else {
            throw ArgumentError("\(option) '\(text)' is not pc or q35")
        }
        self = machine
    }
}

/// Bytes with an optional K, M or G (`bench --dirty`).
extension ByteSize: ArgumentValue {
    init(argument text: String, option: String) throws(ArgumentError) {
        do {
            self.init(bytes: try ByteSize.parse(text))
        } catch {
            throw ArgumentError(error.description)
        }
    }
}

/// A namespace mode by any of ndctl's names (`list --mode`).
extension NamespaceMode: ArgumentValue {
    init(argument text: String, option: String) throws(ArgumentError) {
        guard let mode = NdctlFilter.namespaceMode(text) else {
            throw ArgumentError("invalid namespace mode \"\(text)\": must be fsdax, sector, devdax or raw")
        }
        self = mode
    }
}

/// `pmem` or `blk` (`list --type`).
extension RegionType: ArgumentValue {
    init(argument text: String, option: String) throws(ArgumentError) {
        guard let type = RegionType(rawValue: text) else {
            throw ArgumentError("unknown region type \"\(text)\": must be \"pmem\" or \"blk\"")
        }
        self = type
    }
}
