#if canImport(Glibc)
import Glibc
#endif
import HostFiles

/// A one-line error of `flushctl nfit`, printed by the root command (exit status 2).
struct NFITCommandError: Error, CustomStringConvertible {
    /// The message: what was wrong and where.
    var description: String
    /// The failed file operation (its path, step and errno), when that was the cause.
    var cause: HostError?
    init(_ description: String) { self.description = description }
    init(_ cause: HostError) {
        self.cause = cause
        description = cause.operation == "fsync" ? "\(cause); the table may not be on disk" : cause.description
    }
}

/// Reading and writing table files without Foundation, with errors that say what to do.
enum NFITFiles {
    /// Largest file `read` accepts: no ACPI table on a real host comes near it, and the cap
    /// keeps a mistaken path such as /dev/zero from eating memory.
    static let maximumSize = 16 << 20

    /// Reads the whole file at `path`.
    static func read(_ path: String) throws(NFITCommandError) -> [UInt8] {
        let bytes: [UInt8]
        do {
            bytes = try SmallFile.read(path, limit: maximumSize + 1)
        } catch .noSuchFileOrDirectory {
            if path == NFITShowCommand.sysfsPath {
                throw NFITCommandError("\(path): no such file: this host's firmware publishes no NFIT (no ACPI NVDIMMs)")
            }
            throw NFITCommandError("\(path): no such file")
        } catch .permissionDenied, .notPermitted {
            if path.hasPrefix("/sys/firmware/acpi/tables/") {
                throw NFITCommandError("\(path): permission denied: the kernel publishes ACPI tables mode 0400, reading them needs root (try sudo)")
            }
            throw NFITCommandError("\(path): permission denied")
        } catch .isDirectory {
            throw NFITCommandError("\(path): is a directory, not a table file")
        } catch {
            throw NFITCommandError("\(path): cannot read: \(error)")
        }
        if bytes.count > maximumSize {
            throw NFITCommandError("\(path): larger than \(maximumSize >> 20) MiB, not an ACPI table")
        }
        return bytes
    }

    /// Writes `bytes` to `path` durably through HostFiles' ``DurableDirectory``: a new file
    /// beside it (random name, never following what is there), written, fsync'ed, renamed over
    /// `path`, then the directory fsync'ed, so a crash leaves the old file or the new one, never
    /// a torn one. Refuses anything but a regular file (a device, a directory, a symlink, a file
    /// under /sys, /proc or /dev), and an existing file unless `replace` is set.
    ///
    /// Any directory will do (``DirectoryTrust/any``), unlike the cache's: the table is the
    /// caller's own artefact, often written to /tmp, and nobody else takes it on trust. Names
    /// planted in a shared directory are still never followed, and the output is replaced by a
    /// rename, so nothing outside the directory entry `path` changes.
    static func writeDurably(_ bytes: [UInt8], to path: String, replace: Bool) throws(NFITCommandError) {
        for prefix in ["/sys/", "/proc/", "/dev/"] where path.hasPrefix(prefix) {
            throw NFITCommandError("\(path): refusing to write under \(prefix): write the table to a regular file")
        }
        let slash = path.lastIndex(of: "/")
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        let directoryPath = slash.map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? "."
        guard !name.isEmpty, name != ".", name != ".." else {
            throw NFITCommandError("\(path): is a directory; give the table file's name")
        }
        let directory: DurableDirectory
        do { directory = try DurableDirectory(path: directoryPath, trust: .any, create: false) } catch { throw NFITCommandError(error) }
        do {
            try directory.writeRegularFile(name, bytes, overwrite: replace)
        } catch {
            switch error {
            case .exists: throw NFITCommandError("\(path): already exists; refusing to overwrite it (use --force to replace it)")
            case .notRegularFile(_, .directory): throw NFITCommandError("\(path): is a directory; refusing to write there")
            case .notRegularFile(_, .symbolicLink): throw NFITCommandError("\(path): is a symbolic link; refusing to write there")
            case .notRegularFile: throw NFITCommandError("\(path): is not a regular file (a device?); refusing to write there")
            case .io(let cause): throw NFITCommandError(cause)
            }
        }
    }
}
