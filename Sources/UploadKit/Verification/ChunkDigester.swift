/// Turns consecutive bytes of a file into per-chunk XXH3 digests, whatever
/// the size of the pieces it is fed: a chunk inside one piece is hashed in
/// one call, one that spans pieces is hashed incrementally.
struct ChunkDigester: ~Copyable {
    let layout: ChunkLayout
    private(set) var current: ChunkIndex
    private var fed: Int64 = 0
    private let hasher = XXH3Hasher()

    /// Starts at the first byte of chunk `first`.
    init(layout: ChunkLayout, startingAt first: ChunkIndex = ChunkIndex(0)) {
        self.layout = layout
        self.current = first
    }

    mutating func feed(_ bytes: UnsafeRawBufferPointer, emit: (ChunkIndex, XXH3Digest) -> Void) {
        var position = 0
        while position < bytes.count {
            let chunkLength = layout.range(of: current).length
            let take = Int(min(chunkLength - fed, Int64(bytes.count - position)))
            let piece = UnsafeRawBufferPointer(rebasing: bytes[position..<position + take])
            position += take
            if fed == 0 && Int64(take) == chunkLength {
                emit(current, XXH3Hasher.hash(piece))
            } else {
                hasher.update(piece)
                fed += Int64(take)
                guard fed == chunkLength else { continue }
                emit(current, hasher.digest())
                hasher.reset()
                fed = 0
            }
            current = current.advanced(by: 1)
        }
    }
}
