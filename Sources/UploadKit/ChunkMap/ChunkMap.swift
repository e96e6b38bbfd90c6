/// A file's chunk map, held in memory: its geometry, a state per chunk, and
/// what is known of the whole file. At most 32,768 entries, so it is small.
public struct ChunkMap: Sendable, Hashable {
    public var header: ChunkMapHeader
    public var status: ChunkMapStatus
    public var chunks: [ChunkState]

    public init(header: ChunkMapHeader, status: ChunkMapStatus, chunks: [ChunkState]) {
        precondition(chunks.count == header.layout.chunkCount, "a chunk map has one state per chunk")
        self.header = header
        self.status = status
        self.chunks = chunks
    }

    /// The map of a file whose every chunk was just hashed.
    public init(layout: ChunkLayout, digests: [XXH3Digest], sha256: SHA256Digest?, createdAt: Timestamp = .now) {
        self.init(
            header: ChunkMapHeader(layout: layout, createdAt: createdAt),
            status: ChunkMapStatus(state: .complete, sha256: sha256, updatedAt: createdAt),
            chunks: digests.map(ChunkState.verified))
    }

    public var layout: ChunkLayout { header.layout }

    public subscript(index: ChunkIndex) -> ChunkState {
        get { chunks[index.value] }
        set { chunks[index.value] = newValue }
    }

    public var verifiedCount: Int { chunks.lazy.filter(\.isVerified).count }

    public var verifiedBytes: Int64 {
        layout.indices.reduce(0) { sum, index in
            self[index].isVerified ? sum + layout.range(of: index).length : sum
        }
    }

    /// Where the next append must start: the bytes before it are stored,
    /// durably. The recorded offset, or the verified prefix when that
    /// reaches further (chunks sent whole, or a status record that was torn
    /// and reads as 0), but never past a chunk that is not verified and
    /// that the recorded offset passes (an audit marked it corrupt).
    public var appendOffset: Int64 {
        let prefix = verifiedPrefixBytes
        let recorded = min(status.appendOffset, layout.fileSize.bytes)
        guard recorded > prefix else { return prefix }
        // Every chunk wholly before the recorded offset must be verified; the
        // one that holds it may be partly appended.
        let wholeChunksBefore = recorded == layout.fileSize.bytes ? layout.chunkCount : Int(recorded / layout.chunkSize.bytes)
        guard chunks[..<wholeChunksBefore].allSatisfy(\.isVerified) else { return prefix }
        return recorded
    }

    public func indices(where predicate: (ChunkState) -> Bool) -> [ChunkIndex] {
        layout.indices.filter { predicate(self[$0]) }
    }
}

/// What never changes after a map is made.
public struct ChunkMapHeader: Sendable, Hashable {
    public var layout: ChunkLayout
    public var createdAt: Timestamp
    /// The SHA-256 the client announced at creation, if it did.
    public var expectedSHA256: SHA256Digest?
    /// The client's `Upload-Metadata`, verbatim (tus syntax); empty for local maps.
    public var metadata: String

    public init(layout: ChunkLayout, createdAt: Timestamp = .now, expectedSHA256: SHA256Digest? = nil, metadata: String = "") {
        self.layout = layout
        self.createdAt = createdAt
        self.expectedSHA256 = expectedSHA256
        self.metadata = metadata
    }
}

/// What changes as an upload progresses as a whole, rewritten as one record
/// (the map's status record).
public struct ChunkMapStatus: Sendable, Hashable {
    public var state: UploadState
    /// The SHA-256 computed from the file's bytes, once confirmed.
    public var sha256: SHA256Digest?
    public var updatedAt: Timestamp
    /// Bytes stored contiguously from offset 0 by appends, recorded only once
    /// they were synced (version 2; 0 in a version 1 map). Never trusted
    /// alone: see `ChunkMap.appendOffset`.
    public var appendOffset: Int64

    public init(state: UploadState, sha256: SHA256Digest? = nil, updatedAt: Timestamp = .now, appendOffset: Int64 = 0) {
        self.state = state
        self.sha256 = sha256
        self.updatedAt = updatedAt
        self.appendOffset = appendOffset
    }
}
