// Host facts that decide whether a flush-hint page can be mapped from /dev/mem.
//
// Every fact has a parser here, which tests feed fixtures, and a reader in HostIO
// (FactReaders.swift) that hands it the real file. The parsers never trap on input: malformed
// lines become errors that name the file and the line.

import HostFiles
import NVDIMMTopology

// MARK: - /proc/iomem

/// One line of `/proc/iomem`: a physical address range, its owner's name, and its children.
public struct IOMemResource: Equatable, Sendable {
    /// First byte of the range.
    public var start: UInt64
    /// Last byte of the range (inclusive, as the kernel prints it).
    public var end: UInt64
    /// The owner's name: `System RAM`, `ndbus0`, `reserved`, a PCI device, …
    public var name: String
    /// Ranges nested inside this one (printed two spaces deeper).
    public var children: [IOMemResource]

    /// Creates a resource.
    public init(start: UInt64, end: UInt64, name: String, children: [IOMemResource] = []) {
        self.start = start
        self.end = end
        self.name = name
        self.children = children
    }

    /// Whether the range shares at least one byte with `[first, last]`.
    public func overlaps(first: UInt64, last: UInt64) -> Bool {
        start <= last && first <= end
    }

    /// Whether the range holds every byte of `[first, last]`.
    public func contains(first: UInt64, last: UInt64) -> Bool {
        start <= first && last <= end
    }

    /// Whether the name is one an nd bus claims flush-hint pages with (`ndbus0`, `ndbus12`).
    /// `nvdimm_map()` requests each hint page under the bus device's name.
    public var isNDBus: Bool { IOMemMap.isNDBusName(name) }

    /// Whether the range only holds others (an e820 `Reserved` range, a `PCI Bus` window)
    /// rather than belonging to one driver.
    public var isContainer: Bool {
        name == "Reserved" || name == "reserved" || name.hasPrefix("PCI Bus ")
    }

    /// Whether the name is the kernel's name for RAM it manages.
    public var isSystemRAM: Bool { name == "System RAM" }
}

/// The parsed `/proc/iomem` tree.
public struct IOMemMap: Equatable, Sendable {
    /// Top-level ranges, in file order.
    public var resources: [IOMemResource]

    /// Creates a map from top-level ranges.
    public init(resources: [IOMemResource]) {
        self.resources = resources
    }

    /// Whether every address reads as zero: the kernel shows real addresses only to readers
    /// with `CAP_SYS_ADMIN`, and zeroes for everyone else, so the map says nothing.
    public var addressesHidden: Bool {
        var any = false
        var allZero = true
        func walk(_ list: [IOMemResource]) {
            for r in list {
                any = true
                if r.start != 0 || r.end != 0 { allZero = false }
                walk(r.children)
            }
        }
        walk(resources)
        return any && allZero
    }

    /// Parses the text of `/proc/iomem`. Each line is `START-END : NAME`, hexadecimal without
    /// `0x`, indented two spaces per nesting level. `path` only names the source in errors.
    public static func parse(_ text: String, path: String = "/proc/iomem") throws(HostError) -> IOMemMap {
        // A stack of (depth, resource) under construction; closing pops into the parent.
        var roots: [IOMemResource] = []
        var stack: [(depth: Int, resource: IOMemResource)] = []

        func closeTo(depth: Int) {
            while let last = stack.last, last.depth >= depth {
                stack.removeLast()
                if stack.isEmpty {
                    roots.append(last.resource)
                } else {
                    stack[stack.count - 1].resource.children.append(last.resource)
                }
            }
        }

        var lineNumber = 0
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            if rawLine.allSatisfy({ $0 == " " || $0 == "\t" }) { continue }
            let spaces = rawLine.prefix { $0 == " " }.count
            guard spaces % 2 == 0 else {
                throw HostError(path: path, message: "line \(lineNumber): indentation of \(spaces) spaces is not a multiple of 2")
            }
            let depth = spaces / 2
            let body = rawLine.dropFirst(spaces)
            guard let colon = body.firstRange(of: " : ") else {
                throw HostError(path: path, message: "line \(lineNumber): expected 'START-END : NAME', got '\(body)'")
            }
            let rangeText = body[body.startIndex..<colon.lowerBound]
            let name = String(body[colon.upperBound...])
            let bounds = rangeText.split(separator: "-", omittingEmptySubsequences: false)
            guard bounds.count == 2, let start = UInt64(bounds[0], radix: 16), let end = UInt64(bounds[1], radix: 16) else {
                throw HostError(path: path, message: "line \(lineNumber): '\(rangeText)' is not a hexadecimal range START-END")
            }
            guard start <= end else {
                throw HostError(path: path, message: "line \(lineNumber): range \(rangeText) ends before it starts")
            }
            let parentDepth = stack.last?.depth ?? -1
            guard depth <= parentDepth + 1 else {
                throw HostError(path: path, message: "line \(lineNumber): nested \(depth) levels deep under a range \(parentDepth) levels deep")
            }
            closeTo(depth: depth)
            stack.append((depth, IOMemResource(start: start, end: end, name: name)))
        }
        closeTo(depth: 0)
        return IOMemMap(resources: roots)
    }

    /// Whether `name` is an nd bus device name (`ndbus` followed by decimal digits).
    public static func isNDBusName(_ name: String) -> Bool {
        guard name.hasPrefix("ndbus") else { return false }
        let digits = name.dropFirst(5)
        return !digits.isEmpty && digits.allSatisfy { $0.isASCII && $0.isNumber }
    }

    /// Who owns the 4 KiB page at `page` (page aligned).
    public func owner(ofPage page: UInt64, pageSize: UInt64 = 4096) -> PageOwner {
        if addressesHidden { return .addressesHidden }
        let first = page
        let (last, overflow) = page.addingReportingOverflow(pageSize - 1)
        if overflow { return .nothing(containers: []) }

        // Every resource that overlaps the page, with the chain of ranges it sits in.
        var hits: [(resource: IOMemResource, ancestors: [IOMemResource])] = []
        func walk(_ list: [IOMemResource], _ ancestors: [IOMemResource]) {
            for r in list where r.overlaps(first: first, last: last) {
                hits.append((r, ancestors))
                walk(r.children, ancestors + [r])
            }
        }
        walk(resources, [])
        if hits.isEmpty { return .nothing(containers: []) }

        if let ram = hits.first(where: { $0.resource.isSystemRAM }) {
            return .systemRAM(ram.resource)
        }
        // The nd bus claim must hold the whole page; the ranges it is nested in (a "reserved"
        // e820 range, a PCI bus window) are containers, not owners. Anything else that
        // touches the page (a sibling, a child, a second claim) is another device.
        guard let claim = hits.first(where: { $0.resource.isNDBus && $0.resource.contains(first: first, last: last) }) else {
            // Firmware-reserved ranges and bus windows hold the page without owning it.
            if hits.allSatisfy({ $0.resource.isContainer && $0.resource.contains(first: first, last: last) }) {
                return .nothing(containers: hits.map(\.resource.name))
            }
            return .otherDevice(hits.map(\.resource).filter { !$0.isContainer })
        }
        let containers = claim.ancestors
        // A claim nested in a device's own range (a PCI BAR no driver holds busy) is still
        // that device's registers: only firmware-reserved ranges and bus windows may hold it.
        let devices = containers.filter { !$0.isContainer && !$0.isNDBus }
        if !devices.isEmpty { return .otherDevice(devices) }
        let others = hits.map(\.resource).filter { r in r != claim.resource && !containers.contains(r) }
        if !others.isEmpty { return .otherDevice(others) }
        return .ndBus(name: claim.resource.name, containers: containers.map(\.name))
    }
}

/// Who `/proc/iomem` says owns a page.
public enum PageOwner: Equatable, Sendable {
    /// Claimed by the nd bus `name` alone, nested in the named container ranges.
    case ndBus(name: String, containers: [String])
    /// Overlaps RAM the kernel manages: never map it.
    case systemRAM(IOMemResource)
    /// Overlaps ranges of another device (or not wholly inside an nd bus claim).
    case otherDevice([IOMemResource])
    /// No driver has claimed the page; it lies only in the named container ranges
    /// (firmware `Reserved`, a `PCI Bus` window), if any.
    case nothing(containers: [String])
    /// The reader saw zeroed addresses (not privileged), so ownership is unknown.
    case addressesHidden
}

// MARK: - Kernel configuration

/// The kernel's build configuration (`CONFIG_…` options).
public struct KernelConfig: Equatable, Sendable {
    /// Option name (with `CONFIG_`) to value: `y`, `m`, a number or a quoted string.
    /// Options printed as `# CONFIG_X is not set` are absent.
    public var options: [String: String]
    /// Where the configuration was read from.
    public var source: String

    /// Creates a configuration.
    public init(options: [String: String], source: String) {
        self.options = options
        self.source = source
    }

    /// Whether `name` is built in (`=y`).
    public func isEnabled(_ name: String) -> Bool { options[name] == "y" }

    /// Parses the text of a kernel `.config` file.
    public static func parse(_ text: String, source: String) throws(HostError) -> KernelConfig {
        var options: [String: String] = [:]
        var lineNumber = 0
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            let trimmed = line.drop { $0 == " " || $0 == "\t" }
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            guard let eq = trimmed.firstIndex(of: "="), trimmed.hasPrefix("CONFIG_") else {
                throw HostError(path: source, message: "line \(lineNumber): expected 'CONFIG_NAME=value', got '\(trimmed)'")
            }
            options[String(trimmed[..<eq])] = String(trimmed[trimmed.index(after: eq)...])
        }
        return KernelConfig(options: options, source: source)
    }

}

// MARK: - Kernel command line

/// The kernel command line (`/proc/cmdline`).
public struct KernelCommandLine: Equatable, Sendable {
    /// The words, split at spaces.
    public var parameters: [String]

    /// Creates a command line from its words.
    public init(parameters: [String]) {
        self.parameters = parameters
    }

    /// Parses the text of `/proc/cmdline`.
    public static func parse(_ text: String) -> KernelCommandLine {
        KernelCommandLine(parameters: text.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" }).map(String.init))
    }

    /// The value of the last `name=` word, as the kernel applies the last one.
    public func value(of name: String) -> String? {
        let prefix = name + "="
        return parameters.last { $0.hasPrefix(prefix) }.map { String($0.dropFirst(prefix.count)) }
    }

    /// Whether `iomem=relaxed` is in effect: the kernel then does not refuse /dev/mem access
    /// to ranges drivers have claimed, and does not revoke such mappings on re-binding.
    public var iomemRelaxed: Bool { value(of: "iomem") == "relaxed" }
}

// MARK: - Privilege

/// What the calling process may do with /dev/mem.
public struct Privilege: Equatable, Sendable {
    /// The effective user id.
    public var effectiveUID: UInt32?
    /// The effective capability set (`CapEff`), if it could be read.
    public var effectiveCapabilities: UInt64?

    /// Creates a privilege description.
    public init(effectiveUID: UInt32?, effectiveCapabilities: UInt64?) {
        self.effectiveUID = effectiveUID
        self.effectiveCapabilities = effectiveCapabilities
    }

    /// `CAP_SYS_RAWIO`'s bit number: /dev/mem's open() requires it.
    public static let capSysRawIOBit: UInt64 = 17

    /// Whether the process holds `CAP_SYS_RAWIO`; `nil` if the set is unknown.
    public var hasSysRawIO: Bool? {
        effectiveCapabilities.map { $0 & (1 << Privilege.capSysRawIOBit) != 0 }
    }

    /// Parses `/proc/self/status` (`Uid:` and `CapEff:` lines).
    public static func parse(status text: String, path: String = "/proc/self/status") throws(HostError) -> Privilege {
        var uid: UInt32?
        var caps: UInt64?
        for line in text.split(separator: "\n") {
            if line.hasPrefix("CapEff:") {
                let value = line.dropFirst("CapEff:".count).planTrimmed()
                guard let parsed = UInt64(value, radix: 16) else {
                    throw HostError(path: path, message: "CapEff '\(value)' is not hexadecimal")
                }
                caps = parsed
            } else if line.hasPrefix("Uid:") {
                // Real, effective, saved, filesystem.
                let fields = line.dropFirst(4).split(whereSeparator: { $0 == " " || $0 == "\t" })
                guard fields.count >= 2, let euid = UInt32(fields[1]) else {
                    throw HostError(path: path, message: "Uid line '\(line)' has no effective uid")
                }
                uid = euid
            }
        }
        return Privilege(effectiveUID: uid, effectiveCapabilities: caps)
    }

}

// MARK: - Kernel release

/// The running kernel's release (`uname -r`) and its version numbers.
public struct KernelRelease: Equatable, Sendable {
    /// Major version.
    public var major: Int
    /// Minor version.
    public var minor: Int

    /// Parses `6.1.0-18-amd64` into 6.1; `nil` if it does not start with `N.N`.
    public static func parse(_ text: String) -> KernelRelease? {
        let parts = text.split(separator: ".", maxSplits: 2)
        guard parts.count >= 2, let major = Int(parts[0]) else { return nil }
        let minorDigits = parts[1].prefix { $0.isASCII && $0.isNumber }
        guard let minor = Int(minorDigits) else { return nil }
        return KernelRelease(major: major, minor: minor)
    }

    /// Whether this release is at least `major.minor`.
    public func isAtLeast(_ major: Int, _ minor: Int) -> Bool {
        self.major > major || (self.major == major && self.minor >= minor)
    }

}

extension StringProtocol {
    /// The text without leading and trailing spaces, tabs and newlines.
    package func planTrimmed() -> SubSequence {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else {
            return self[endIndex..<endIndex]
        }
        return self[first...last]
    }
}
