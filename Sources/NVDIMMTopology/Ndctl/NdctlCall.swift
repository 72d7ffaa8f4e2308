import SystemPackage

/// Turns a libndctl/libdaxctl return code into a thrown `Errno`.
///
/// libndctl reports failure as a negative errno (`-ENOMEM`, `-ENXIO`, …) rather than
/// through `errno`; every wrapped call goes through here so call sites stay one line.
@inline(__always)
@discardableResult
internal func ndctlCheck(_ rc: CInt) throws(Errno) -> CInt {
    if rc < 0 { throw Errno(rawValue: -rc) }
    return rc
}

/// A C string from libndctl, or `nil` when the library returned NULL.
@inline(__always)
internal func ndctlString(_ pointer: UnsafePointer<CChar>?) -> String? {
    guard let pointer else { return nil }
    return String(cString: pointer)
}

/// Walks one of libndctl's intrusive lists (`*_get_first` / `*_get_next`).
///
/// The C functions come into Swift as `OpaquePointer!`. `sequence(first:next:)` would either
/// call `get_next(NULL)` (libndctl dereferences it) or force-unwrap the NULL that `get_first`
/// returns on a host with no bus. This iterator holds an optional and stops at the first NULL,
/// so NULL is never passed back into the library.
internal struct NdctlList: Sequence, IteratorProtocol {
    private var current: OpaquePointer?
    private let advance: (OpaquePointer) -> OpaquePointer?

    /// - Parameters:
    ///   - first: the result of the `*_get_first` call (may be NULL).
    ///   - next: the `*_get_next` call; only ever given a non-NULL element.
    init(first: OpaquePointer?, next: @escaping (OpaquePointer) -> OpaquePointer?) {
        self.current = first
        self.advance = next
    }

    mutating func next() -> OpaquePointer? {
        guard let element = current else { return nil }
        current = advance(element)
        return element
    }
}

/// The kernel's libnvdimm device types that `ndctl_region_get_type` and
/// `ndctl_namespace_get_type` return (`ND_DEVICE_*` in the uapi `<ndctl/ndctl.h>`, a header
/// that cannot be imported: it includes ndctl's private ccan headers).
internal enum NDDeviceType {
    /// `ND_DEVICE_REGION_PMEM`.
    static let regionPMEM: UInt32 = 2
    /// `ND_DEVICE_REGION_BLK`.
    static let regionBLK: UInt32 = 3
    /// `ND_DEVICE_NAMESPACE_IO`: a label-less namespace (e820, or an NFIT without labels).
    static let namespaceIO: UInt32 = 4
}
