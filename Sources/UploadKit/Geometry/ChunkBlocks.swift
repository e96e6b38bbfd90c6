/// How one chunk is cut into blocks, for block-level repair: blocks of a
/// fixed size from the chunk's first byte; only the last may be short.
///
/// The block size is a power of two from 4 KiB to the upload's chunk size,
/// so that a server and a client (or two runs of one) always cut a chunk
/// at the same places and their block digests can be compared one to one.
public struct ChunkBlocks: Sendable, Hashable {
    public static let minimumBlockSize: Int64 = 4096
    public static let defaultBlockSize: Int64 = 65_536
    /// The most one block write (`PATCH /uploads/{id}/chunks/{index}`)
    /// carries: its body is held whole by the server, so that its digest is
    /// checked before a byte of it is written. Longer runs are several writes.
    public static let maximumWriteLength: Int64 = 4 << 20

    public let index: ChunkIndex
    /// The chunk's bytes in the upload.
    public let chunk: ByteRange
    public let blockSize: Int64

    /// The blocks of chunk `index` (which must be in `layout`).
    public init(layout: ChunkLayout, index: ChunkIndex, blockSize: Int64) throws(BlockSizeError) {
        try Self.check(blockSize, chunkSize: layout.chunkSize.bytes)
        self.index = index
        self.chunk = layout.range(of: index)
        self.blockSize = blockSize
    }

    /// Refuses a block size that is not a power of two, below 4 KiB, or
    /// larger than `chunkSize` (the upload's chunk size, not the length of
    /// its short last chunk).
    public static func check(_ blockSize: Int64, chunkSize: Int64) throws(BlockSizeError) {
        guard blockSize > 0, blockSize & (blockSize - 1) == 0 else { throw .notAPowerOfTwo(blockSize) }
        guard blockSize >= minimumBlockSize else { throw .tooSmall(blockSize) }
        guard blockSize <= chunkSize else { throw .largerThanChunk(blockSize, chunkSize: chunkSize) }
    }

    /// How many blocks the chunk has (at least one: no chunk is empty).
    public var count: Int { Int((chunk.length + blockSize - 1) / blockSize) }

    /// The bytes block `block` covers, in the upload's offsets.
    public func range(of block: Int) -> ByteRange {
        precondition(block >= 0 && block < count, "block \(block) is outside a chunk of \(count) blocks")
        let offset = chunk.offset + Int64(block) * blockSize
        return ByteRange(offset: offset, length: min(blockSize, chunk.end - offset))
    }

    /// The block that holds byte `offset` (which must be inside the chunk).
    public func block(containing offset: Int64) -> Int {
        precondition(offset >= chunk.offset && offset < chunk.end, "byte \(offset) is outside \(chunk)")
        return Int((offset - chunk.offset) / blockSize)
    }

    /// Bytes of the blocks numbered in `blocks`.
    public func length(of blocks: some Sequence<Int>) -> Int64 {
        blocks.reduce(0) { $0 + range(of: $1).length }
    }

    /// The byte ranges that `blocks` (ascending block numbers) cover, adjacent
    /// blocks merged into one range, each range at most `maximumLength`
    /// bytes (and at least one block): one request per range.
    public func runs(of blocks: [Int], maximumLength: Int64) -> [ByteRange] {
        let most = max(1, Int(maximumLength / blockSize))
        var runs = [ByteRange]()
        var start: Int?
        var last = 0
        for block in blocks {
            if let first = start, block == last + 1, block - first < most {
                last = block
                continue
            }
            if let first = start { runs.append(span(first, last)) }
            start = block
            last = block
        }
        if let first = start { runs.append(span(first, last)) }
        return runs
    }

    private func span(_ first: Int, _ last: Int) -> ByteRange {
        let from = range(of: first)
        return ByteRange(offset: from.offset, length: range(of: last).end - from.offset)
    }
}

public enum BlockSizeError: Error, Equatable, CustomStringConvertible {
    case notAPowerOfTwo(Int64)
    case tooSmall(Int64)
    case largerThanChunk(Int64, chunkSize: Int64)

    public var description: String {
        switch self {
        case .notAPowerOfTwo(let size):
            return "block size \(size) bytes is not a power of two: use e.g. 65536 (64 KiB)"
        case .tooSmall(let size):
            return "block size \(size) bytes is below the minimum of 4 KiB (4096 bytes)"
        case .largerThanChunk(let size, let chunkSize):
            return "block size \(size) bytes is larger than the chunk size of \(chunkSize) bytes: a block lies inside one chunk"
        }
    }
}
