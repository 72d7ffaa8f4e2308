import SystemPackage
import NVDIMMTopology

// The two ways a hint page reaches a process: the flushhint module's node for the region
// (docs/flushhint.md), which needs neither CAP_SYS_RAWIO nor iomem=relaxed and works under
// lockdown, or /dev/mem, which needs all three. Which one a host offers is a fact HostIO reads
// (FactReaders.swift); the checks and the plan decide from it.

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

    /// The other way to a hint page: physical memory, which needs CAP_SYS_RAWIO, no lockdown and
    /// (under CONFIG_IO_STRICT_DEVMEM) `iomem=relaxed`.
    public static let devMem = "/dev/mem"

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

    /// Whether /dev/mem is refused.
    public var refusesDevMem: Bool { self != .none }
}
