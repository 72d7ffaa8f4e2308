import SystemPackage
#if canImport(Glibc)
import Glibc
#endif

// The two ways a hint page reaches a process: the flushhint module's node for the region
// (docs/flushhint.md), which needs neither CAP_SYS_RAWIO nor iomem=relaxed and works under
// lockdown, or /dev/mem, which needs all three. Which one a host offers is a fact read here;
// the checks and the plan decide from it.

/// The flushhint module's node for a region: `/dev/flushhint/regionN`, a character device whose
/// `mmap` maps only that region's flush-hint pages, at their physical address as the offset.
public enum HintDevice: Sendable, Equatable {
    /// The node is the module's and this process can open it read-write.
    case usable(path: String)
    /// No node: the module is not loaded, or the region has no flush hints.
    case absent(path: String)
    /// Something is at the path, but not the module's character device for the region.
    case foreign(path: String, why: String)
    /// The module's node, which this process may not open.
    case inaccessible(path: String, errno: Errno)

    /// The directory the module's nodes are in; it exists only while the module is loaded.
    public static let directory = "/dev/flushhint"

    /// The node of `region`.
    public static func path(for region: RegionName) -> String { "\(directory)/\(region.dev)" }

    /// The node's path, whatever its state.
    public var path: String {
        switch self {
        case .usable(let p), .absent(let p), .foreign(let p, _), .inaccessible(let p, _): return p
        }
    }

    /// Looks at `region`'s node: it must be a character device (not a link) whose number is
    /// the one the module registered (`/sys/class/misc/flushhint-regionN/dev`), and open
    /// read-write for this process.
    public static func probe(region: RegionName, directory: String = HintDevice.directory, sysfs: String = "/sys") -> HintDevice {
        let path = "\(directory)/\(region.dev)"
        var st = stat()
        guard lstat(path, &st) == 0 else { return .absent(path: path) }
        guard st.st_mode & S_IFMT == S_IFCHR else {
            return .foreign(path: path, why: "it is not a character device")
        }
        let number = BackendProbe.deviceNumber(UInt64(st.st_rdev))
        let registered = (try? SmallFile.read("\(sysfs)/class/misc/flushhint-\(region.dev)/dev", limit: 64))
            .map { String(decoding: $0, as: UTF8.self).trimmingCharacters(in: " \n") }
        guard registered == number else {
            return .foreign(path: path, why: "its device number \(number) is not the flushhint module's for \(region.dev) (\(registered ?? "none registered"))")
        }
        let fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { return .inaccessible(path: path, errno: Errno(rawValue: errno)) }
        close(fd)
        return .usable(path: path)
    }
}

/// The kernel's lockdown state (`/sys/kernel/security/lockdown`, the bracketed word). Under
/// `integrity` or `confidentiality` /dev/mem cannot be opened by anyone (LOCKDOWN_DEV_MEM).
public enum Lockdown: String, Sendable, Equatable {
    /// No lockdown.
    case none
    /// Lockdown of the kernel's integrity: /dev/mem, unsigned modules, debugfs writes refused.
    case integrity
    /// Integrity, and reading kernel memory refused too.
    case confidentiality

    /// Where the state is read.
    public static let path = "/sys/kernel/security/lockdown"

    /// The state in `text` (`none [integrity] confidentiality`): the word in brackets.
    public static func parse(_ text: String) -> Lockdown? {
        guard let open = text.firstIndex(of: "["), let close = text[open...].firstIndex(of: "]") else { return nil }
        return Lockdown(rawValue: String(text[text.index(after: open)..<close]))
    }

    /// Reads the running kernel's state; `nil` when the file is absent (securityfs not mounted,
    /// or no lockdown LSM) or says nothing readable.
    public static func read(path: String = Lockdown.path) -> Lockdown? {
        guard let bytes = try? SmallFile.read(path, limit: 256) else { return nil }
        return parse(String(decoding: bytes, as: UTF8.self))
    }

    /// Whether /dev/mem is refused.
    public var refusesDevMem: Bool { self != .none }
}

extension String {
    /// The string without leading and trailing characters in `set`.
    fileprivate func trimmingCharacters(in set: String) -> String {
        var s = Substring(self)
        while let c = s.first, set.contains(c) { s = s.dropFirst() }
        while let c = s.last, set.contains(c) { s = s.dropLast() }
        return String(s)
    }
}
