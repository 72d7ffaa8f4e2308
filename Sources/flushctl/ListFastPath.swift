import FlushHint
#if canImport(Glibc)
import Glibc
#endif

// `flushctl list` runs often (scripts, VMM start-up) and must be no slower than `ndctl list`.
// Parsing with ArgumentParser costs more than the whole listing on a small host (it reflects
// over every command's properties and scans the runtime's conformance tables, ~1-2 ms natively
// and ~100 ms in the TCG guest), so ordinary `list` arguments are parsed here by hand, the way
// ndctl's parse-options does; anything unusual (help, an unknown option, a missing value) falls
// back to ArgumentParser, which then reports it.

extension ListCommand {
    /// Runs `flushctl list ARGS` without ArgumentParser when every argument is one this parser
    /// knows. Returns the exit status, or `nil` to let ArgumentParser handle the command line.
    ///
    /// - Parameter arguments: the full command line, `CommandLine.arguments`.
    static func fastPath(_ arguments: [String]) -> Int32? {
        guard arguments.count >= 2, arguments[1] == "list",
              let (options, json) = parseFast(arguments.dropFirst(2)) else { return nil }
        do {
            try list(options, json: json)
            return 0
        } catch {
            FileHandleStderr.write("flushctl list: error: \(error)\n")
            return 2
        }
    }

    /// ndctl-style option parsing: grouped short flags (`-BDRNu`, `-vvv`), short options with
    /// attached or separate values (`-r0`, `-r 0`), long options (`--region=0`, `--region 0`).
    /// `nil` for anything else.
    static func parseFast(_ arguments: ArraySlice<String>) -> (ListOptions, json: Bool)? {
        var o = ListOptions()
        var json = false
        var rest = arguments[...]
        func set(_ key: Character, _ value: String) -> Bool {
            switch key {
            case "b": o.bus = value
            case "r": o.region = value
            case "d": o.dimm = value
            case "n": o.namespace = value
            case "m": o.mode = value
            case "t": o.type = value
            default: return false
            }
            return true
        }
        func flag(_ key: Character) -> Bool {
            switch key {
            case "B": o.buses = true
            case "D": o.dimms = true
            case "R": o.regions = true
            case "N": o.namespaces = true
            case "X": o.deviceDax = true
            case "i": o.idle = true
            case "c": o.configured = true
            case "u": o.human = true
            case "v": o.verbose += 1
            default: return false
            }
            return true
        }
        let longFlags: [String: Character] = [
            "buses": "B", "dimms": "D", "regions": "R", "namespaces": "N", "device-dax": "X",
            "idle": "i", "configured": "c", "human": "u", "verbose": "v",
        ]
        let longOptions: [String: Character] = [
            "bus": "b", "region": "r", "dimm": "d", "namespace": "n", "mode": "m", "type": "t",
        ]
        while let argument = rest.popFirst() {
            if argument == "--json" { json = true; continue }
            if argument.hasPrefix("--") {
                let body = argument.dropFirst(2)
                if let eq = body.firstIndex(of: "=") {
                    guard let key = longOptions[String(body[..<eq])] else { return nil }
                    _ = set(key, String(body[body.index(after: eq)...]))
                } else if let key = longFlags[String(body)] {
                    _ = flag(key)
                } else if let key = longOptions[String(body)] {
                    guard let value = rest.popFirst() else { return nil }
                    _ = set(key, value)
                } else {
                    return nil
                }
                continue
            }
            guard argument.hasPrefix("-"), argument.count >= 2 else { return nil }
            var letters = argument.dropFirst()
            while let letter = letters.popFirst() {
                if flag(letter) { continue }
                guard "brdnmt".contains(letter) else { return nil }
                if !letters.isEmpty {
                    _ = set(letter, String(letters))
                } else {
                    guard let value = rest.popFirst() else { return nil }
                    _ = set(letter, value)
                }
                break
            }
        }
        return (o, json)
    }
}
