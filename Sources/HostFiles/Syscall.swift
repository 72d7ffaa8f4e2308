import SystemPackage
#if canImport(Glibc)
import Glibc
#endif

// The one place a C call's failure becomes an `Errno`. A call that returns a negative value
// and sets errno goes through `systemCall`, which retries EINTR as swift-system's
// `FileDescriptor` does for the calls it wraps; `Errno.last` names the failure of the rest
// (calls that return a pointer, and close(2), whose EINTR must not be retried).

extension Errno {
    /// The error of the C call that just failed (errno).
    package static var last: Errno { Errno(rawValue: Glibc.errno) }
}

/// `call`'s result, retried while it fails with EINTR; its failure as an `Errno`.
@discardableResult
package func systemCall<T: BinaryInteger>(_ call: () -> T) throws(Errno) -> T {
    while true {
        let result = call()
        if result >= 0 { return result }
        let error = Errno.last
        if error != .interrupted { throw error }
    }
}
