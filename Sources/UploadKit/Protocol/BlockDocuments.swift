/// `GET /uploads/{id}/chunks/{index}/blocks`: the XXH3 of each block of one
/// chunk, as its bytes are on disk now.
public struct BlockDigestsDocument: Codable, Sendable, Equatable {
    public let chunk: Int
    /// The chunk's first byte in the upload, and its length.
    public let offset: Int64
    public let length: Int64
    public let blockSize: Int64
    /// One per block, in order, 16 lowercase hex digits each.
    public let xxh3: [String]

    public init(_ digests: ChunkBlockDigests) {
        chunk = digests.blocks.index.value
        offset = digests.blocks.chunk.offset
        length = digests.blocks.chunk.length
        blockSize = digests.blocks.blockSize
        xxh3 = digests.digests.map(\.description)
    }
}

/// `PATCH /uploads/{id}/chunks/{index}`: what the chunk is after a block write.
public struct BlockWriteDocument: Codable, Sendable, Equatable {
    public let chunk: Int
    /// `verified` (the chunk hashes to its recorded XXH3 again) or `corrupt`.
    public let state: String
    /// The XXH3 of the whole chunk's bytes on disk now.
    public let xxh3: String
    /// The XXH3 the chunk's entry records: what it must hash to.
    public let expected: String

    public init(_ receipt: BlockWriteReceipt) {
        chunk = receipt.index.value
        state = receipt.state.name
        xxh3 = receipt.digest.description
        expected = (receipt.state.digest ?? receipt.digest).description
    }
}
