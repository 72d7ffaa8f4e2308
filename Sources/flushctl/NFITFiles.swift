import FlushHint
#if canImport(Glibc)
import Glibc
#endif

/// A one-line error of `flushctl nfit`, printed by the root command (exit status 2).
struct NFITCommandError: Error, CustomStringConvertible {
    /// The message: what was wrong and where.
    var description: String
    init(_ description: String) { self.description = description }
}

/// Reading and writing table files without Foundation, with errors that say what to do.
enum NFITFiles {
    /// Largest file `read` accepts: no ACPI table on a real host comes near it, and the cap
    /// keeps a mistaken path such as /dev/zero from eating memory.
    static let maximumSize = 16 << 20

    static func errnoText(_ code: Int32) -> String {
        guard let s = strerror(code) else { return "errno \(code)" }
        return String(cString: s)
    }

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
            throw NFITCommandError("\(path): cannot read: \(errnoText(error.rawValue))")
        }
        if bytes.count > maximumSize {
            throw NFITCommandError("\(path): larger than \(maximumSize >> 20) MiB, not an ACPI table")
        }
        return bytes
    }

    /// Writes `bytes` to `path` durably: a new file beside it, written, fsync'ed, renamed over
    /// `path`, then the directory fsync'ed, so a crash leaves the old file or the new one, never
    /// a torn one. Refuses anything but a regular file (a device, a directory, a symlink, a file
    /// under /sys, /proc or /dev), and an existing file unless `replace` is set.
    static func writeDurably(_ bytes: [UInt8], to path: String, replace: Bool) throws(NFITCommandError) {
        for prefix in ["/sys/", "/proc/", "/dev/"] where path.hasPrefix(prefix) {
            throw NFITCommandError("\(path): refusing to write under \(prefix): write the table to a regular file")
        }
        var st = stat()
        if lstat(path, &st) == 0 {
            let kind = st.st_mode & S_IFMT
            if kind != S_IFREG {
                let what = kind == S_IFDIR ? "a directory" : kind == S_IFLNK ? "a symbolic link" : "not a regular file (a device?)"
                throw NFITCommandError("\(path): is \(what); refusing to write there")
            }
            if !replace {
                throw NFITCommandError("\(path): already exists; refusing to overwrite it (use --force to replace it)")
            }
        } else if errno != ENOENT {
            throw NFITCommandError("\(path): cannot check the output: \(errnoText(errno))")
        }
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? "."
        let temporary = "\(path).tmp.\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        if fd < 0 { throw NFITCommandError("\(temporary): cannot create: \(errnoText(errno))") }
        var failure: NFITCommandError? = nil
        var rest = bytes[...]
        while !rest.isEmpty && failure == nil {
            let n = rest.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                failure = NFITCommandError("\(temporary): cannot write: \(errnoText(errno))")
            } else {
                rest = rest.dropFirst(n)
            }
        }
        if failure == nil && fsync(fd) != 0 {
            failure = NFITCommandError("\(temporary): fsync failed: \(errnoText(errno)); the table may not be on disk")
        }
        if close(fd) != 0 && failure == nil {
            failure = NFITCommandError("\(temporary): close failed: \(errnoText(errno))")
        }
        if failure == nil && rename(temporary, path) != 0 {
            failure = NFITCommandError("\(path): cannot rename \(temporary) over it: \(errnoText(errno))")
        }
        if let failure {
            unlink(temporary)
            throw failure
        }
        let dfd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd < 0 || fsync(dfd) != 0 {
            let e = errno
            if dfd >= 0 { close(dfd) }
            throw NFITCommandError("\(directory): fsync of the directory failed: \(errnoText(e)); \(path) was written but its name may not be durable")
        }
        close(dfd)
    }
}
