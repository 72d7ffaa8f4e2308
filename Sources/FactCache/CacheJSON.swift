// The topology cache as JSON, read by the NFIT module's strict reader (the package's one JSON
// reader). Numbers are kept as text: each field decides how to read them.

import NFIT

/// A parsed JSON value of the cache document; objects keep their key order.
public enum CacheJSON: Sendable, Equatable {
    /// An object, members in document order.
    case object([CacheMember])
    /// An array.
    case array([CacheJSON])
    /// A string, unescaped.
    case string(String)
    /// A number, as written.
    case number(String)
    /// `true` or `false`.
    case bool(Bool)
    /// `null`.
    case null

    /// The member `key` of an object; `nil` for a missing key or a non-object.
    public subscript(key: String) -> CacheJSON? {
        guard case .object(let members) = self else { return nil }
        return members.first(where: { $0.key == key })?.value
    }

    /// Parses `bytes` as one JSON value.
    ///
    /// - Throws: ``CacheJSONSyntaxError`` with the byte offset of the first error.
    public static func parse(_ bytes: [UInt8]) throws(CacheJSONSyntaxError) -> CacheJSON {
        do {
            return CacheJSON(try JSONReader.parse(bytes))
        } catch {
            throw CacheJSONSyntaxError(offset: error.offset, message: error.message)
        }
    }

    /// The same value with objects as ``CacheMember``s.
    init(_ node: JSONNode) {
        switch node {
        case .object(let members): self = .object(members.map { CacheMember(key: $0.0, value: CacheJSON($0.1)) })
        case .array(let items): self = .array(items.map(CacheJSON.init))
        case .string(let text): self = .string(text)
        case .number(let text): self = .number(text)
        case .bool(let value): self = .bool(value)
        case .null: self = .null
        }
    }
}

/// One member of a JSON object.
public struct CacheMember: Sendable, Equatable {
    /// The key.
    public var key: String
    /// The value.
    public var value: CacheJSON
    /// Creates a member.
    public init(key: String, value: CacheJSON) { self.key = key; self.value = value }
}

/// A JSON syntax error: the byte offset and what was expected.
public struct CacheJSONSyntaxError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Byte offset of the error in the document.
    public var offset: Int
    /// What was wrong.
    public var message: String
    /// `byte N: message`.
    public var description: String { "byte \(offset): \(message)" }
}
