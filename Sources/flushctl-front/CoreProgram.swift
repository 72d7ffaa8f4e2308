import CLibc

/// The flushctl program the front hands command lines to.
enum CoreProgram {
    /// Where it is, relative to the directory of the running front: installed
    /// (`PREFIX/bin/flushctl` and `PREFIX/libexec/flushctl/flushctl`), then in a build directory
    /// (`flushctl-front` beside `flushctl`).
    static let candidates = ["/../libexec/flushctl/flushctl", "/flushctl"]

    /// Replaces this process with the flushctl program, with the same arguments and
    /// environment. Does not return: when the program cannot be found or run, says where it
    /// looked or why it failed, and exits 2.
    static func exec(_ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Never {
        var looked: [String] = []
        var failure: String?
        if let me = executablePath(), let own = fileIdentity(me) {
            let directory = String(me[..<(me.lastIndex(of: "/") ?? me.startIndex)])
            for suffix in candidates {
                let path = directory + suffix
                guard let identity = fileIdentity(path) else { looked.append(path); continue }
                // Never this program itself: installed as `flushctl`, it is its own second candidate.
                if identity == own { continue }
                execv(path, argv)  // returns only when it failed: try the next
                failure = "cannot run \(path): \(Errno(rawValue: errno))"
            }
        } else {
            failure = "cannot read /proc/self/exe to find the flushctl program beside this one"
        }
        var message = "flushctl: error: "
        if let failure {
            message += failure
        } else {
            message += "cannot find the flushctl program, which runs every command but `list`: looked for "
            for (i, path) in looked.enumerated() { message += (i == 0 ? "" : " and ") + path }
        }
        FileHandleStderr.write(message + " (udev/install.sh installs it in PREFIX/libexec/flushctl)\n")
        exit(2)
    }

    /// This program's path (`/proc/self/exe`).
    private static func executablePath() -> String? {
        var buffer = [UInt8](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = buffer.withUnsafeMutableBytes { readlink("/proc/self/exe", $0.baseAddress!, Int(PATH_MAX)) }
        guard n > 0 else { return nil }
        return String(decoding: buffer[..<n], as: UTF8.self)
    }

    /// Device and inode of the file at `path`, following links; `nil` when there is none.
    private static func fileIdentity(_ path: String) -> (device: UInt64, inode: UInt64)? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return (UInt64(st.st_dev), UInt64(st.st_ino))
    }
}
