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

/// `flushctl qemu`'s options for the request's fields.
let qemuOptionNames = QemuRequestNames(hintBase: "--guest-base", pmemBase: "--guest-pmem-base",
                                       guestRAM: "--guest-ram", directory: "--out")

func commandText(for error: QemuRecipeError) -> String { error.description(naming: qemuOptionNames) }

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
