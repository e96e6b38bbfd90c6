/// Why a chunk is listed by a diff.
public enum ChunkDifferenceReason: String, Sendable, Hashable {
    /// Both sides hold the chunk, with different digests.
    case differs
    /// At least one side does not hold the chunk.
    case missing
    /// At least one side holds the chunk but marked it corrupt.
    case corrupt
}

public struct ChunkDifference: Sendable, Hashable {
    public let index: ChunkIndex
    public let range: ByteRange
    public let reason: ChunkDifferenceReason
}

public enum ChunkMapDiffError: Error, Equatable, CustomStringConvertible {
    case geometryMismatch(ChunkLayout, ChunkLayout)

    public var description: String {
        switch self {
        case .geometryMismatch(let a, let b):
            return
                "the two maps have different geometry (\(a.fileSize.bytes) bytes in chunks of \(a.chunkSize.bytes) against \(b.fileSize.bytes) bytes in chunks of \(b.chunkSize.bytes)): a diff compares chunk maps of one size and chunk size"
        }
    }
}

/// The chunks where two maps of one geometry disagree: what must move to
/// make one side equal the other.
public enum ChunkMapDiff {
    public static func differences(_ a: ChunkMap, _ b: ChunkMap) throws(ChunkMapDiffError) -> [ChunkDifference] {
        guard a.layout == b.layout else { throw .geometryMismatch(a.layout, b.layout) }
        return a.layout.indices.compactMap { index in
            reason(a[index], b[index]).map { ChunkDifference(index: index, range: a.layout.range(of: index), reason: $0) }
        }
    }

    static func reason(_ a: ChunkState, _ b: ChunkState) -> ChunkDifferenceReason? {
        switch (a, b) {
        case (.verified(let x), .verified(let y)): x == y ? nil : .differs
        case (.missing, _), (_, .missing): .missing
        default: .corrupt
        }
    }
}
