/// Number formats of `ndctl list -u`, so flushctl's human output reads like ndctl's.
import NFIT

public enum NdctlFormat {
    /// ndctl's human size (`-u`), e.g. `"126.00 GiB (135.29 GB)"`; `nil` below 5000 KiB,
    /// where ndctl prints the plain number.
    ///
    /// ndctl rounds to hundredths: binary units (MiB below 2 GiB, GiB below 2 TiB, else TiB)
    /// as `(bytes * 200 / unit + 1) / 2`, decimal units as `(bytes / (unit / 200) + 1) / 2`,
    /// in unsigned 64-bit arithmetic (so wrapping like C's past 2^64 / 200 bytes).
    public static func humanSize(_ bytes: UInt64) -> String? {
        let kib: UInt64 = 1 << 10, mib: UInt64 = 1 << 20, gib: UInt64 = 1 << 30, tib: UInt64 = 1 << 40
        if bytes < 5000 * kib { return nil }
        let binary: (UInt64, String)
        let decimal: (UInt64, String)
        if bytes < 2 * gib {
            binary = (((bytes &* 200) / mib + 1) / 2, "MiB")
            decimal = ((bytes / (1_000_000 / 200) + 1) / 2, "MB")
        } else if bytes < 2 * tib {
            binary = (((bytes &* 200) / gib + 1) / 2, "GiB")
            decimal = ((bytes / (1_000_000_000 / 200) + 1) / 2, "GB")
        } else {
            binary = (((bytes &* 200) / tib + 1) / 2, "TiB")
            decimal = ((bytes / (1_000_000_000_000 / 200) + 1) / 2, "TB")
        }
        return "\(hundredths(binary.0)) \(binary.1) (\(hundredths(decimal.0)) \(decimal.1))"
    }

    /// `%#llx`: `0x`-prefixed lower-case hex, and a bare `0` for zero (C's `#` flag adds no
    /// prefix to zero), as ndctl's `-u` prints handles, offsets and cookies.
    public static func hex(_ value: UInt64) -> String {
        value == 0 ? "0" : "0x" + String(value, radix: 16)
    }

    private static func hundredths(_ centi: UInt64) -> String {
        let fraction = centi % 100
        return "\(centi / 100).\(fraction < 10 ? "0" : "")\(fraction)"
    }
}
