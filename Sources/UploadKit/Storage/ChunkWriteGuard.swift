/// One writer per chunk: a second request for a chunk that is being written
/// is refused at once (it becomes a 409), never queued and never interleaved.
public final class ChunkWriteGuard: Sendable {
    private struct Key: Hashable {
        let upload: UploadID
        let index: ChunkIndex
    }

    private let held = Locked<Set<Key>>([])

    public init() {}

    /// Runs `body` holding chunk `index` of `upload`, or throws `chunkBusy`.
    public func withChunk<T>(
        _ index: ChunkIndex, of upload: UploadID, _ body: () async throws -> T
    ) async throws -> T {
        let key = Key(upload: upload, index: index)
        guard held.withLock({ $0.insert(key).inserted }) else { throw UploadError.chunkBusy(index) }
        defer { _ = held.withLock { $0.remove(key) } }
        return try await body()
    }

    public var heldCount: Int { held.withLock { $0.count } }
}
