import NFIT
import SystemPackage

/// Reading the flush-hint addresses from the firmware's ACPI NFIT.
///
/// Neither the kernel nor libndctl exposes Flush Hint Addresses, so flushctl reads the
/// table itself. The kernel publishes it root-only (mode 0400).
public enum NFITFlushHints {
    /// Where Linux publishes the NFIT.
    public static let defaultPath = "/sys/firmware/acpi/tables/NFIT"

    /// The hint addresses per raw NFIT device handle from the table at `path`.
    ///
    /// - Throws: ``NFITReadError`` saying why the table could not be had (absent, not
    ///   readable without privilege, or not a valid NFIT).
    public static func read(path: String = defaultPath) throws(NFITReadError) -> [UInt32: [UInt64]] {
        try hints(fromTableBytes: try tableBytes(path), path: path)
    }

    /// The hints of the table at `path` as a list, one entry per device handle in table order:
    /// what ``read(path:)`` returns, without a dictionary (`flushctl list` joins a handful of
    /// DIMMs, and hashing is code an emulated host must translate on every run).
    ///
    /// - Throws: ``NFITReadError``, as ``read(path:)``.
    public static func readDevices(path: String = defaultPath) throws(NFITReadError) -> [NFITDeviceHints] {
        try devices(fromTableBytes: try tableBytes(path), path: path)
    }

    /// The hint addresses per raw device handle in the NFIT `bytes` (read from `path`,
    /// named in errors).
    ///
    /// - Throws: ``NFITReadError`` with reason `.invalid` when the bytes are not a decodable NFIT.
    public static func hints(fromTableBytes bytes: [UInt8], path: String = defaultPath) throws(NFITReadError) -> [UInt32: [UInt64]] {
        var byHandle: [UInt32: [UInt64]] = [:]
        for device in try devices(fromTableBytes: bytes, path: path) { byHandle[device.handle] = device.addresses }
        return byHandle
    }

    /// The hints per device handle in the NFIT `bytes`, in table order: only the Flush Hint
    /// Address structures are read, with the full decoder's result and errors
    /// (``NFITTable/deviceHints(decoding:)``).
    ///
    /// - Throws: ``NFITReadError`` with reason `.invalid` when the bytes are not a decodable NFIT.
    public static func devices(fromTableBytes bytes: [UInt8], path: String = defaultPath) throws(NFITReadError) -> [NFITDeviceHints] {
        do {
            return try NFITTable.deviceHints(decoding: bytes)
        } catch {
            throw NFITReadError(path: path, reason: .invalid(error.description))
        }
    }

    /// The table's bytes, with a read failure said as absent, needing privilege, or I/O.
    private static func tableBytes(_ path: String) throws(NFITReadError) -> [UInt8] {
        do {
            return try SmallFile.read(path)
        } catch {
            switch error {
            case .permissionDenied, .notPermitted: throw NFITReadError(path: path, reason: .permissionDenied)
            case .noSuchFileOrDirectory: throw NFITReadError(path: path, reason: .absent)
            default: throw NFITReadError(path: path, reason: .io(error))
            }
        }
    }
}

/// Why the NFIT's flush hints could not be read.
public struct NFITReadError: Error, Equatable, CustomStringConvertible {
    /// The reasons.
    public enum Reason: Equatable, Sendable {
        /// The file is not readable by this process (root-only, mode 0400).
        case permissionDenied
        /// The file does not exist: the firmware has no NFIT (no ACPI NVDIMMs).
        case absent
        /// Reading failed otherwise.
        case io(Errno)
        /// The bytes are not a valid NFIT; the decoder's message.
        case invalid(String)
    }

    /// The table's path.
    public var path: String
    /// What went wrong.
    public var reason: Reason

    /// An error for `path`.
    public init(path: String, reason: Reason) { self.path = path; self.reason = reason }

    /// One line naming the file, what failed and, for privilege, what is missing.
    public var description: String {
        switch reason {
        case .permissionDenied:
            return "\(path) is readable by root only (mode 0400): reading flush hints needs root "
                + "(or CAP_DAC_READ_SEARCH)"
        case .absent:
            return "\(path) does not exist: the firmware publishes no NFIT"
        case .io(let errno):
            return "cannot read \(path): \(errno)"
        case .invalid(let message):
            return "\(path) is not a valid NFIT: \(message)"
        }
    }
}
