/// One thing found wrong with a file's integrity. Shared by `verify`,
/// `complete`, `audit` and `repair`, so each reports findings alike.
public enum IntegrityFinding: Sendable, Hashable, CustomStringConvertible {
    /// The chunk's bytes do not hash to what the map records.
    case corrupt(ChunkIndex, ByteRange, expected: XXH3Digest, actual: XXH3Digest)
    /// The chunk cannot be checked: the file does not reach it, or the map
    /// holds no verified digest for it.
    case missing(ChunkIndex, ByteRange)
    /// The file is not the length its map records.
    case sizeMismatch(expected: Int64, actual: Int64)
    case sha256Mismatch(expected: SHA256Digest, actual: SHA256Digest)

    public var description: String {
        switch self {
        case .corrupt(let index, let range, let expected, let actual):
            return "chunk \(index) is corrupt: \(range) (\(range.length) bytes) hash to xxh3 \(actual), expected \(expected)"
        case .missing(let index, let range):
            return "chunk \(index) is missing: \(range) (\(range.length) bytes) cannot be checked"
        case .sizeMismatch(let expected, let actual):
            return "the file is \(actual) bytes long where its map records \(expected)"
        case .sha256Mismatch(let expected, let actual):
            return "SHA-256 is \(actual), expected \(expected)"
        }
    }

    /// The chunk and byte range a finding is about, if it is about one chunk.
    public var chunk: (index: ChunkIndex, range: ByteRange)? {
        switch self {
        case .corrupt(let index, let range, _, _), .missing(let index, let range): (index, range)
        case .sizeMismatch, .sha256Mismatch: nil
        }
    }
}
