import NFIT
import OrderedJSON

/// `nfit show`'s text: the table's JSON fields (``NFITTable/headerFields(checksumValid:)``,
/// ``NFITSubtable/fields(index:offset:)``) as blocks, so text and `--json` always show the
/// same fields.
enum NFITFormat {
    /// The table as text: a header block, then one block per subtable.
    static func text(_ result: NFITDecodeResult, path: String, checksumValid: Bool) -> String {
        let table = result.table
        var out = "NFIT \(path)\n"
        out += block(table.headerFields(checksumValid: checksumValid))
        let offsets = table.subtableOffsets
        for (i, s) in table.subtables.enumerated() {
            // Index, offset, type, name and length are in the block's title line; zero reserved
            // fields are left out, and the device handle's parts go on its line.
            var fields: [(String, JSONValue)] = []
            for (key, value) in s.fields(index: i, offset: offsets[i]).dropFirst(5) {
                if key.hasPrefix("reserved"), isZero(value) { continue }
                if key == "device_handle_fields", let last = fields.popLast() {
                    fields.append((last.0, .string("\(textLines(last.1).joined()) (\(textLines(value).joined()))")))
                    continue
                }
                fields.append((key, value))
            }
            out += "\n[\(i)] \(s.name) (type \(s.type)) at 0x\(String(offsets[i], radix: 16)), \(s.encodedLength) bytes\n"
            out += block(fields)
        }
        return out
    }

    private static func isZero(_ value: JSONValue) -> Bool {
        guard case .string(let s) = value else { return false }
        return s == "0x0" || (!s.isEmpty && s.allSatisfy { $0 == "0" })
    }

    private static func block(_ fields: [(String, JSONValue)]) -> String {
        let width = (fields.map(\.0.count).max() ?? 0) + 2
        var out = ""
        for (key, value) in fields {
            let pad = String(repeating: " ", count: width - key.count)
            let lines = textLines(value)
            if lines.isEmpty {
                out += "    \(key)\(pad)(none)\n"
                continue
            }
            for (n, line) in lines.enumerated() {
                out += n == 0 ? "    \(key)\(pad)\(line)\n" : "    " + String(repeating: " ", count: width) + line + "\n"
            }
        }
        return out
    }

    private static func textLines(_ value: JSONValue) -> [String] {
        switch value {
        case .string(let s): return [s]
        case .int(let i): return [String(i)]
        case .uint(let u): return [String(u)]
        case .double(let d): return [String(d)]
        case .number(let text): return [text]
        case .bool(let b): return [b ? "yes" : "no"]
        case .null: return ["null"]
        case .array(let a):
            if a.allSatisfy({ if case .string = $0 { return true }; return false }) && a.count > 1
                && a.contains(where: { if case .string(let s) = $0 { return s.hasPrefix("0x") }; return false }) {
                return a.flatMap(textLines)  // addresses: one per line
            }
            return a.isEmpty ? [] : [a.flatMap(textLines).joined(separator: " ")]
        case .object(let o):
            return [o.map { "\($0.0) \(textLines($0.1).joined(separator: " "))" }.joined(separator: ", ")]
        }
    }
}
