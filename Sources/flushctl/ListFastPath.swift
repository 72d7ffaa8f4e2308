import FlushHint

/// What a `flushctl list` command line asks for, whichever parser read it.
struct ListRequest: Equatable {
    /// The selection and formatting options (ndctl list's).
    var options = ListOptions()
    /// `--json`: JSON even on a terminal.
    var json = false
    /// Where the flush hints may come from when the NFIT is not read (`--cached`, `--cache`).
    var cache: CachePolicy = .whenNFITUnreadable(path: CachePolicy.defaultPath)
}

/// A parser for the common `flushctl list` command lines that runs before (and instead of)
/// ArgumentParser, whose reflection-driven parse costs more than the whole listing in an
/// emulated host (~80 ms under QEMU TCG; see docs/performance.md).
///
/// It accepts only argument forms it fully understands and that ArgumentParser reads the same
/// way: `list` followed by ``ListCommand``'s flags (long, short, or bundled like `-BDRN`), its
/// options as `-b X`, `--bus X` or `--bus=X`, and `-v`/`--verbose` repeated. Anything else
/// (help, `--version`, an unknown or repeated option, a missing or dash-led value, `--`, a
/// positional argument) returns `nil` and goes to ArgumentParser unchanged, so help text and
/// parse errors have one source. `FlushctlTests/ListFastPathTests` checks, over a generated
/// corpus, that every command line this accepts ArgumentParser accepts too, with the same result.
enum ListFastPath {
    /// The request for `arguments` (the command line without the program name), or `nil` when
    /// ArgumentParser must handle it.
    static func parse(_ arguments: ArraySlice<String>) -> ListRequest? {
        guard arguments.first == "list" else { return nil }
        var parser = State()
        var rest = arguments.dropFirst()
        while let argument = rest.popFirst() {
            let bytes = Array(argument.utf8)
            guard bytes.count >= 2, bytes[0] == UInt8(ascii: "-") else { return nil }
            if bytes[1] == UInt8(ascii: "-") {
                // --name, --name=value or --name value.
                let body = bytes[2...]
                if let eq = body.firstIndex(of: UInt8(ascii: "=")) {
                    guard let option = Option(long: body[..<eq]) else { return nil }
                    guard parser.set(option, value: bytes[(eq + 1)...]) else { return nil }
                } else if let flag = Flag(long: body) {
                    guard parser.set(flag) else { return nil }
                } else if let option = Option(long: body) {
                    guard let value = rest.popFirst(), parser.set(option, value: value.utf8[...]) else { return nil }
                } else {
                    return nil
                }
            } else if bytes.count == 2, let option = Option(short: bytes[1]) {
                guard let value = rest.popFirst(), parser.set(option, value: value.utf8[...]) else { return nil }
            } else {
                // -B or a bundle of flags such as -BDRN or -vv; an option letter in a bundle
                // (or a value attached to it, -bX) is left to ArgumentParser.
                for letter in bytes[1...] {
                    guard let flag = Flag(short: letter), parser.set(flag) else { return nil }
                }
            }
        }
        return parser.request
    }

    /// ``ListCommand``'s flags, by the names ArgumentParser gives them.
    enum Flag: ArgumentName {
        case buses, dimms, regions, namespaces, deviceDax, idle, configured, human, verbose, json, cached

        /// The one-letter name; `nil` for long-only flags.
        var short: UInt8? {
            switch self {
            case .buses: UInt8(ascii: "B")
            case .dimms: UInt8(ascii: "D")
            case .regions: UInt8(ascii: "R")
            case .namespaces: UInt8(ascii: "N")
            case .deviceDax: UInt8(ascii: "X")
            case .idle: UInt8(ascii: "i")
            case .configured: UInt8(ascii: "c")
            case .human: UInt8(ascii: "u")
            case .verbose: UInt8(ascii: "v")
            case .json, .cached: nil
            }
        }

        /// The name after `--`.
        var long: String {
            switch self {
            case .buses: "buses"
            case .dimms: "dimms"
            case .regions: "regions"
            case .namespaces: "namespaces"
            case .deviceDax: "device-dax"
            case .idle: "idle"
            case .configured: "configured"
            case .human: "human"
            case .verbose: "verbose"
            case .json: "json"
            case .cached: "cached"
            }
        }
    }

    /// ``ListCommand``'s options that take a value.
    enum Option: ArgumentName {
        case bus, region, dimm, namespace, mode, type, cache

        /// The one-letter name; `nil` for `--cache`.
        var short: UInt8? {
            switch self {
            case .bus: UInt8(ascii: "b")
            case .region: UInt8(ascii: "r")
            case .dimm: UInt8(ascii: "d")
            case .namespace: UInt8(ascii: "n")
            case .mode: UInt8(ascii: "m")
            case .type: UInt8(ascii: "t")
            case .cache: nil
            }
        }

        /// The name after `--`.
        var long: String {
            switch self {
            case .bus: "bus"
            case .region: "region"
            case .dimm: "dimm"
            case .namespace: "namespace"
            case .mode: "mode"
            case .type: "type"
            case .cache: "cache"
            }
        }
    }

    /// What has been read so far. Every setter returns `false` for what ArgumentParser might
    /// read differently: a flag or option given twice (other than `-v`), an empty value, or a
    /// value that starts with `-`.
    private struct State {
        var request = ListRequest()
        var seenFlags: [Flag] = []
        var seenOptions: [Option] = []
        var cached = false
        var cachePath = CachePolicy.defaultPath

        /// Records `flag`; `false` when it was already given (except `-v`, which counts).
        mutating func set(_ flag: Flag) -> Bool {
            if flag == .verbose {
                request.options.verbose += 1
                return true
            }
            if seenFlags.contains(flag) { return false }
            seenFlags.append(flag)
            switch flag {
            case .buses: request.options.buses = true
            case .dimms: request.options.dimms = true
            case .regions: request.options.regions = true
            case .namespaces: request.options.namespaces = true
            case .deviceDax: request.options.deviceDax = true
            case .idle: request.options.idle = true
            case .configured: request.options.configured = true
            case .human: request.options.human = true
            case .verbose: break
            case .json: request.json = true
            case .cached: cached = true
            }
            updateCache()
            return true
        }

        /// Records `option` with the UTF-8 `bytes` of its value; `false` for an empty or
        /// dash-led value or an option already given.
        mutating func set<Bytes: Collection<UInt8>>(_ option: Option, value bytes: Bytes) -> Bool {
            guard let first = bytes.first, first != UInt8(ascii: "-") else { return false }
            if seenOptions.contains(option) { return false }
            seenOptions.append(option)
            let value = String(decoding: bytes, as: UTF8.self)
            switch option {
            case .bus: request.options.bus = value
            case .region: request.options.region = value
            case .dimm: request.options.dimm = value
            case .namespace: request.options.namespace = value
            case .mode: request.options.mode = value
            case .type: request.options.type = value
            case .cache: cachePath = value
            }
            updateCache()
            return true
        }

        private mutating func updateCache() {
            request.cache = cached ? .always(path: cachePath) : .whenNFITUnreadable(path: cachePath)
        }
    }
}

/// A flag or option of ``ListFastPath``, found by its one-letter or long name.
protocol ArgumentName: CaseIterable {
    /// The one-letter name, if any.
    var short: UInt8? { get }
    /// The name after `--`.
    var long: String { get }
}

extension ArgumentName {
    /// The one called `-letter`, if any.
    init?(short letter: UInt8) {
        guard let found = Self.allCases.first(where: { $0.short == letter }) else { return nil }
        self = found
    }

    /// The one called `--name` (UTF-8 bytes), if any.
    init?(long name: ArraySlice<UInt8>) {
        guard let found = Self.allCases.first(where: { $0.long.utf8.elementsEqual(name) }) else { return nil }
        self = found
    }
}
