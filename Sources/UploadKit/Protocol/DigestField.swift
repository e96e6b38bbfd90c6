import RawStructuredFieldValues

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// RFC 9530 `Content-Digest` / `Repr-Digest`: a structured-field dictionary
/// of byte sequences, `sha-256=:BASE64:, xxh3=:BASE64:`. Keys this server
/// does not know are ignored; a known key with a malformed value is refused.
public struct DigestField: Sendable, Hashable {
    public var sha256: SHA256Digest?
    public var xxh3: XXH3Digest?

    public init(sha256: SHA256Digest? = nil, xxh3: XXH3Digest? = nil) {
        self.sha256 = sha256
        self.xxh3 = xxh3
    }

    public var isEmpty: Bool { sha256 == nil && xxh3 == nil }

    /// What the field claims, in the store's terms.
    public var expected: ExpectedDigests { ExpectedDigests(xxh3: xxh3, sha256: sha256) }

    public static func parse(_ value: String) throws(DigestFieldError) -> DigestField {
        var parser = StructuredFieldValueParser(Array(value.utf8))
        let dictionary: OrderedMap<String, ItemOrInnerList>
        do { dictionary = try parser.parseDictionaryFieldValue() } catch {
            throw .malformed(value)
        }
        var field = DigestField()
        for (key, member) in dictionary {
            switch key {
            case "sha-256":
                field.sha256 = SHA256Digest(bytes: try bytes(of: member, key: key, count: 32))
            case "xxh3":
                field.xxh3 = XXH3Digest(bigEndianBytes: try bytes(of: member, key: key, count: 8))
            default:
                continue
            }
        }
        return field
    }

    private static func bytes(of member: ItemOrInnerList, key: String, count: Int) throws(DigestFieldError) -> [UInt8] {
        guard case .item(let item) = member, case .undecodedByteSequence(let base64) = item.rfc9651BareItem,
            let data = Data(base64Encoded: base64)
        else { throw .notAByteSequence(key) }
        guard data.count == count else { throw .wrongLength(key, expected: count, actual: data.count) }
        return Array(data)
    }

    /// `sha-256=:…:, xxh3=:…:` with whichever digests are present.
    public var headerValue: String {
        var members = [String]()
        if let sha256 { members.append("sha-256=:\(Data(sha256.bytes).base64EncodedString()):") }
        if let xxh3 { members.append("xxh3=:\(Data(xxh3.bigEndianBytes).base64EncodedString()):") }
        return members.joined(separator: ", ")
    }
}

public enum DigestFieldError: Error, Equatable, CustomStringConvertible {
    case malformed(String)
    case notAByteSequence(String)
    case wrongLength(String, expected: Int, actual: Int)

    public var description: String {
        switch self {
        case .malformed(let value):
            return "digest field '\(value)' is not an RFC 8941 dictionary (write e.g. xxh3=:BASE64:)"
        case .notAByteSequence(let key):
            return "digest '\(key)' is not a byte sequence: write it as \(key)=:BASE64:"
        case .wrongLength(let key, let expected, let actual):
            return "digest '\(key)' is \(actual) bytes where \(expected) are expected"
        }
    }
}
