import NIOPosix

/// "Sync the file, then mark these chunks verified in its map", batched:
/// a chunk handed in is marked only after a `fdatasync` that began after
/// its bytes were written, so the map never vouches for bytes a crash
/// could lose, but one sync covers every chunk written meanwhile. The
/// fetches never wait for it: with a sync per chunk, every worker stood
/// waiting for the disk in turn and nothing was being fetched.
final class DurableMarks: Sendable {
    private let file: OwnedDescriptor
    private let mapFile: ChunkMapFile
    private let pending = Locked<[Chunk]>([])
    private let wakeups: AsyncStream<Void>
    private let wake: AsyncStream<Void>.Continuation

    init(file: OwnedDescriptor, mapFile: ChunkMapFile) {
        self.file = file
        self.mapFile = mapFile
        // One wakeup waiting is enough: a flush takes everything pending.
        (wakeups, wake) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    /// `chunk`'s bytes are written (not yet synced).
    func written(_ chunk: Chunk) {
        pending.withLock { $0.append(chunk) }
        wake.yield()
    }

    /// Flushes as chunks come in, until `finish`; run it in a task of its own.
    func run() async throws {
        for await _ in wakeups { try await flush() }
    }

    /// No more chunks: the run ends after a last flush.
    func finish() { wake.finish() }

    /// Syncs the file, then marks every chunk pending before the sync.
    func flush() async throws {
        let taken = pending.withLock { chunks -> [Chunk] in
            defer { chunks.removeAll() }
            return chunks
        }
        guard !taken.isEmpty else { return }
        let (file, mapFile) = (self.file, self.mapFile)
        try await NIOThreadPool.singleton.runIfActive {
            try file.dataSync()
            for chunk in taken { try mapFile.write(.verified(chunk.digest), at: chunk.index) }
        }
    }
}
