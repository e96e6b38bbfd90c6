/// Why a `.chunkmap` cannot be used. Messages say what is wrong; the path is
/// added by `ChunkMapFileError`.
public enum ChunkMapError: Error, Equatable, CustomStringConvertible {
    case notAChunkMap
    case unsupportedVersion(UInt16)
    case unsupportedAlgorithm(UInt8)
    case damagedHeader(String)
    case truncated(expectedBytes: Int64, actualBytes: Int64)
    case trailingBytes(expectedBytes: Int64, actualBytes: Int64)

    public var description: String {
        switch self {
        case .notAChunkMap:
            return "not a chunk map (no .chunkmap magic at its start)"
        case .unsupportedVersion(let version):
            return "chunk map format version \(version) is not supported (this build reads version 1)"
        case .unsupportedAlgorithm(let code):
            return "chunk map uses checksum algorithm \(code), unknown here (1 is XXH3-64)"
        case .damagedHeader(let reason):
            return "chunk map header is damaged: \(reason)"
        case .truncated(let expected, let actual):
            return "chunk map is truncated: \(actual) bytes where its header needs \(expected)"
        case .trailingBytes(let expected, let actual):
            return "chunk map has \(actual - expected) bytes after its last entry (\(actual) bytes where its header gives \(expected))"
        }
    }
}

/// A chunk-map problem tied to the file it was found in.
public enum ChunkMapFileError: Error, CustomStringConvertible {
    case invalid(path: String, ChunkMapError)
    case io(IOError)

    public var description: String {
        switch self {
        case .invalid(let path, let error): "\(path): \(error)"
        case .io(let error): error.description
        }
    }
}
