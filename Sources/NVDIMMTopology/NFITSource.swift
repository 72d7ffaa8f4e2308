import NFIT
import SystemPackage
import HostFiles

/// Reading the flush-hint addresses from the firmware's ACPI NFIT.
///
/// Neither the kernel nor libndctl exposes Flush Hint Addresses, so flushctl reads the
/// table itself. The kernel publishes it root-only (mode 0400).
public enum NFITFlushHints {
    /// Where Linux publishes the NFIT.
    public static let defaultPath = "/sys/firmware/acpi/tables/NFIT"

    /// The hints of the table at `path`, one entry per device handle in table order.
    ///
    /// - Throws: ``NFITReadError`` saying why the table could not be had (absent, not
    ///   readable without privilege, or not a valid NFIT).
    public static func read(path: String = defaultPath) throws(NFITReadError) -> [NFITDeviceHints] {
        try readFacts(path: path).devices
    }

    /// The hints per device handle and the platform capabilities structure of the table at
    /// `path`, from one read and one decode.
    ///
    /// - Throws: ``NFITReadError`` as ``read(path:)``.
    public static func readFacts(path: String = defaultPath) throws(NFITReadError) -> (devices: [NFITDeviceHints], platformCapabilities: NFITPlatformCapabilities?) {
        let bytes = try tableBytes(path)
        do {
            let table = try NFITTable.decode(bytes).table
            return (table.deviceHints, table.platformCapabilities)
        } catch {
            throw NFITReadError(path: path, reason: .invalid(error.description))
        }
    }

    /// The hints per device handle in the NFIT `bytes` (read from `path`, named in errors), in
    /// table order, from the full decoder (``NFITTable/deviceHints(decoding:)``).
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
