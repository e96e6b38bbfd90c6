/// Memory for one chunk's bytes, aligned to the page so that it can be
/// written with `O_DIRECT` (see `DownloadOutput`). Freed when the last
/// reference goes.
public final class ChunkBuffer: @unchecked Sendable {
    public static let alignment = 4096
    /// The whole allocation; `bytes` is the part that holds a chunk.
    let memory: UnsafeMutableRawBufferPointer
    /// How many bytes of `memory` hold the chunk now.
    public internal(set) var count = 0

    init(capacity: Int) {
        memory = UnsafeMutableRawBufferPointer.allocate(byteCount: capacity, alignment: Self.alignment)
    }

    deinit { memory.deallocate() }

    public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: memory[0..<count]) }
}

/// Chunk buffers reused from chunk to chunk. A fresh allocation of a few
/// MiB comes from `mmap` and faults in every page on first touch (zeroed by
/// the kernel), once per chunk; a reused buffer is already mapped. As many
/// buffers exist as are in use at once: callers bound that (requests in
/// flight, chunks held for hashing).
public final class ChunkBuffers: Sendable {
    /// Bytes per buffer: a chunk's size, rounded up to the alignment.
    public let capacity: Int
    private let free = Locked<[ChunkBuffer]>([])

    public init(chunkSize: Int) {
        capacity = (max(1, chunkSize) + ChunkBuffer.alignment - 1) / ChunkBuffer.alignment * ChunkBuffer.alignment
    }

    public func take() -> ChunkBuffer {
        let reused = free.withLock { $0.popLast() }
        let buffer = reused ?? ChunkBuffer(capacity: capacity)
        buffer.count = 0
        return buffer
    }

    public func give(_ buffer: ChunkBuffer) {
        precondition(buffer.memory.count == capacity, "a buffer given back to another pool")
        free.withLock { $0.append(buffer) }
    }
}
