import FlushBench
import FlushPlanning
import HostIO

// The one place the library's errors become the command's words. The library says what was
// wrong in its own terms (the hint pages' base, the required cache); a user gave options, so
// the line names those (`--guest-base`, `--cached`).

/// The line `Flushctl.main` prints for an error a verb's `run()` threw.
func commandText(for error: any Error) -> String {
    switch error {
    case let error as QemuRecipeError: return commandText(for: error)
    case let error as BenchBoundsError: return commandText(for: error)
    case let error as SnapshotError: return commandText(for: error)
    default: return "\(error)"
    }
}

func commandText(for error: QemuRecipeError) -> String {
    func option(_ address: QemuAddress) -> String {
        switch address {
        case .hintBase: return "--guest-base"
        case .pmemBase: return "--guest-pmem-base"
        }
    }
    switch error {
    case .unaligned(let what, _, _), .outsideDeviceMemory(let what, _, _):
        // The library's line begins with the address's name; the user gave it as an option.
        return option(what) + error.description.dropFirst(what.name.count)
    case .overlap(let a, let b):
        return "the pmem at \(a) overlaps the hint page at \(b); choose --guest-pmem-base past the hint pages"
    case .badGuestRAM(let ram):
        return "--guest-ram \(ram) bytes is not a usable guest RAM size"
    case .colonInTablePath(let path):
        return "\(path.debugDescription) contains a ':', where QEMU's -acpitable file= splits its value into several files: choose an --out directory without one"
    default:
        return error.description
    }
}

func commandText(for error: BenchBoundsError) -> String {
    switch error {
    case .iterations(let n): return "--iterations \(n) is out of range (\(error.range))"
    case .duration(let d): return "--duration \(d) is out of range (\(error.range))"
    case .dirtyBytes(let b): return "--dirty \(b) is out of range (\(error.range))"
    }
}

func commandText(for error: SnapshotError) -> String {
    switch error {
    case .topology(let cause): return cause.description
    case .requiredCache(let cause): return "--cached: \(cause)"
    }
}
