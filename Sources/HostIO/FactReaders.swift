#if canImport(Glibc)
import Glibc
#endif
import FlushPlanning
import HostFiles
import NVDIMMTopology
import SystemPackage

// The readers of the facts FlushPlanning decides from: each reads the running host's file and
// hands the text to the fact's parser, which lives beside the fact's type.

extension HostFacts {
    /// Reads every fact from the running host. Never throws: a fact that cannot be read is
    /// kept as its error, and its check says `unknown`.
    public static func readRunning() -> HostFacts {
        let release = KernelRelease.running()
        return HostFacts(
            privilege: Privilege.current(),
            config: Result { () throws(HostError) in try KernelConfig.readRunning(release: release) },
            commandLine: Result { () throws(HostError) in try KernelCommandLine.read() },
            release: release,
            iomem: Result { () throws(HostError) in try IOMemMap.read() },
            lockdown: Lockdown.read())
    }
}

extension IOMemMap {
    /// Reads and parses `/proc/iomem` (or `path`).
    public static func read(path: String = "/proc/iomem") throws(HostError) -> IOMemMap {
        try parse(SmallFile.readText(path), path: path)
    }
}

extension KernelConfig {
    /// Reads the running kernel's configuration: `/proc/config.gz` if it exists (decompressed
    /// by ``Gunzip``, zlib), else `/boot/config-RELEASE` (Debian's kernels have no /proc/config.gz).
    /// A damaged /proc/config.gz falls back to the /boot file; without one, the error names the
    /// file and what was wrong with it.
    public static func readRunning(release: String? = KernelRelease.running(),
                                   procConfig: String = "/proc/config.gz",
                                   bootDirectory: String = "/boot") throws(HostError) -> KernelConfig {
        let boot = release.map { "\(bootDirectory)/config-\($0)" }
        if SmallFile.exists(procConfig) {
            do {
                let text = String(decoding: try Gunzip.decompress(try SmallFile.readBytes(procConfig)), as: UTF8.self)
                return try parse(text, source: procConfig)
            } catch let error as GunzipError {
                // A damaged /proc/config.gz: the file in /boot, if any, describes the same kernel.
                guard let boot, SmallFile.exists(boot) else {
                    throw HostError(path: procConfig, message: "\(error)")
                }
            } catch let error as HostError {
                guard let boot, SmallFile.exists(boot) else { throw error }
            } catch {
                throw HostError(path: procConfig, message: "\(error)")
            }
        }
        guard let boot else {
            throw HostError(path: "/proc/sys/kernel/osrelease", message: "cannot read the kernel release, so cannot find /boot/config-RELEASE")
        }
        guard SmallFile.exists(boot) else {
            throw HostError(path: boot, message: "does not exist and there is no \(procConfig); cannot tell how the kernel restricts /dev/mem")
        }
        return try parse(SmallFile.readText(boot), source: boot)
    }
}

extension KernelCommandLine {
    /// Reads `/proc/cmdline` (or `path`).
    public static func read(path: String = "/proc/cmdline") throws(HostError) -> KernelCommandLine {
        parse(try SmallFile.readText(path))
    }
}

extension Privilege {
    /// Reads the calling process's privilege.
    public static func current(statusPath: String = "/proc/self/status") -> Privilege {
        let euid = UInt32(geteuid())
        guard let text = try? SmallFile.readText(statusPath), let parsed = try? parse(status: text, path: statusPath) else {
            return Privilege(effectiveUID: euid, effectiveCapabilities: nil)
        }
        return Privilege(effectiveUID: euid, effectiveCapabilities: parsed.effectiveCapabilities)
    }
}

extension KernelRelease {
    /// The running kernel's release string, from `/proc/sys/kernel/osrelease`.
    public static func running(path: String = "/proc/sys/kernel/osrelease") -> String? {
        guard let text = try? SmallFile.readText(path) else { return nil }
        let trimmed = text.planTrimmed()
        return trimmed.isEmpty ? nil : String(trimmed)
    }
}

extension Lockdown {
    /// Reads the running kernel's state; `nil` when the file is absent (securityfs not mounted,
    /// or no lockdown LSM) or says nothing readable.
    public static func read(path: String = Lockdown.path) -> Lockdown? {
        guard let bytes = try? SmallFile.read(path, limit: 256) else { return nil }
        return parse(String(decoding: bytes, as: UTF8.self))
    }
}

extension HintDevice {
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
        guard fd >= 0 else { return .inaccessible(path: path, errno: Errno.last) }
        close(fd)
        return .usable(path: path)
    }
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
