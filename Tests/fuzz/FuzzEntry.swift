// libFuzzer entry for the NFIT decoder, built by Tests/fuzz/run together with Sources/NFIT/*.swift
// (and Sources/OrderedJSON/*.swift as its own module).
// Property checked on every input that decodes:
//   t = decode(b);  b2 = encode(t);  decode(b2) == t.sealed();  encode(decode(b2)) == b2;
//   and b2 == b when b was a valid table (right checksum, no bytes after it).
// The same input is also read as a layout spec (JSON): the hand-written JSON reader and the
// builder must not trap, and a table they build must decode (with no warning but the one for
// a "hints": [] structure older kernels refuse) and round-trip.
// NFITTable.deviceHints (what `flushctl list`, plan and refresh use; built on the full decoder)
// must agree with the decoded table's own flush hint structures on every input: the same hints
// per handle, or the same error.
// Any failure calls abort(), which libFuzzer reports as a crash and saves the input.

#if canImport(Glibc)
import Glibc
#endif

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzNFIT(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = size > 0 && data != nil ? Array(UnsafeBufferPointer(start: data, count: size)) : []
    checkLayout(bytes)
    checkHintScan(bytes)
    guard let result = try? NFITTable.decode(bytes) else { return 0 }
    // Exercise the convenience views too: they must not trap either.
    _ = result.table.flushHintAddresses
    _ = result.table.dimmHandles
    _ = result.table.subtableOffsets
    for w in result.warnings { _ = w.description }
    let encoded: [UInt8]
    do {
        encoded = try result.table.encode()
    } catch {
        fail("encode failed on a decoded table: \(error)")
    }
    guard let again = try? NFITTable.decode(encoded) else { fail("re-decode of an encoded table failed") }
    guard let sealed = try? result.table.sealed(), again.table == sealed else { fail("decode(encode(t)) != t.sealed()") }
    guard (try? again.table.encode()) == encoded else { fail("encode(decode(b2)) != b2") }
    let valid = !result.warnings.contains { $0.kind == .badChecksum || $0.kind == .bytesAfterTable }
    if valid && encoded != bytes { fail("encode(decode(b)) != b for a valid table") }
    return 0
}

private func checkLayout(_ bytes: [UInt8]) {
    guard let layout = try? NFITLayout.parse(json: bytes), let table = try? layout.makeTable() else { return }
    guard let encoded = try? table.encode() else { fail("a built table does not encode") }
    guard let decoded = try? NFITTable.decode(encoded) else { fail("a built table does not decode") }
    // The one warning a built table may draw: a "hints": [] DIMM's 16-byte structure.
    if decoded.warnings.contains(where: { $0.kind != .shortForOlderKernels }) {
        fail("a built table decodes with warnings: \(decoded.warnings)")
    }
    if decoded.table != table { fail("a built table does not round-trip") }
    for (handle, _) in table.flushHintAddresses where !table.dimmHandles.contains(NFITDeviceHandle(rawValue: handle)) {
        fail("a built table has hints for a handle without a memory device map")
    }
}

private func checkHintScan(_ bytes: [UInt8]) {
    let full: Result<[UInt32: [UInt64]], NFITDecodeError>
    do { full = .success(try NFITTable.decode(bytes).table.flushHintAddresses) } catch { full = .failure(error) }
    do {
        let scanned = try NFITTable.deviceHints(decoding: bytes)
        guard case .success(let hints) = full else { fail("the hint scan accepted a table the decoder rejects") }
        var byHandle: [UInt32: [UInt64]] = [:]
        for d in scanned {
            if byHandle[d.handle] != nil { fail("the hint scan lists handle \(d.handle) twice") }
            byHandle[d.handle] = d.addresses
        }
        if byHandle != hints { fail("the hint scan's hints differ from the decoder's") }
    } catch {
        guard case .failure(let expected) = full else { fail("the hint scan rejected a table the decoder accepts") }
        if "\(error)" != "\(expected)" { fail("the hint scan's error differs from the decoder's") }
    }
}

private func fail(_ message: String) -> Never {
    fputs("NFIT round trip: \(message)\n", stderr)
    abort()
}
