/// One chunk of a local file, as the client sends it: where it is and what
/// it hashes to.
public struct Chunk: Sendable, Hashable {
    public let index: ChunkIndex
    public let range: ByteRange
    public let digest: XXH3Digest

    public init(index: ChunkIndex, range: ByteRange, digest: XXH3Digest) {
        self.index = index
        self.range = range
        self.digest = digest
    }
}
