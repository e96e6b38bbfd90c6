/// tus `Upload-Metadata`: `key base64value,key2 base64value2,…`. Kept
/// verbatim in the chunk map after checking its syntax; a filename in it is
/// metadata only and never becomes a path.
public enum UploadMetadata {
    public static let maximumLength = ChunkMapFormat.maximumMetadataLength

    /// Checks the syntax; returns the pairs with values still base64.
    public static func validate(_ value: String) throws(UploadMetadataError) -> [(key: String, value: String)] {
        guard value.utf8.count <= maximumLength else { throw .tooLong(value.utf8.count) }
        if value.isEmpty { return [] }
        var pairs = [(key: String, value: String)]()
        var keys = Set<String>()
        for member in value.split(separator: ",", omittingEmptySubsequences: false) {
            let parts = member.trimmingCharacters(" ").split(separator: " ", omittingEmptySubsequences: false)
            guard (1...2).contains(parts.count), let key = parts.first, !key.isEmpty,
                key.unicodeScalars.allSatisfy({ $0.isASCII && $0.value > 32 && $0 != "," })
            else { throw .malformed(String(member)) }
            let encoded = parts.count == 2 ? String(parts[1]) : ""
            guard encoded.unicodeScalars.allSatisfy(isBase64) else { throw .malformed(String(member)) }
            guard keys.insert(String(key)).inserted else { throw .duplicateKey(String(key)) }
            pairs.append((String(key), encoded))
        }
        return pairs
    }

    private static func isBase64(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar {
        case "A"..."Z", "a"..."z", "0"..."9", "+", "/", "=": true
        default: false
        }
    }
}

public enum UploadMetadataError: Error, Equatable, CustomStringConvertible {
    case tooLong(Int)
    case malformed(String)
    case duplicateKey(String)

    public var description: String {
        switch self {
        case .tooLong(let length): "Upload-Metadata is \(length) bytes; the limit is 16 KiB"
        case .malformed(let member): "Upload-Metadata member '\(member)' is not 'key base64value'"
        case .duplicateKey(let key): "Upload-Metadata names '\(key)' twice"
        }
    }
}

extension Substring {
    func trimmingCharacters(_ character: Character) -> Substring {
        var result = self
        while result.first == character { result.removeFirst() }
        while result.last == character { result.removeLast() }
        return result
    }
}
