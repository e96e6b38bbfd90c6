import Testing
import UploadKit

/// One writer per chunk: a second is refused at once, never queued.
@Suite struct ChunkWriteGuardTests {
    let upload = UploadID.random()

    @Test func aChunkHeldIsRefusedToASecondHolder() async throws {
        let guardian = ChunkWriteGuard()
        try await guardian.withChunk(ChunkIndex(3), of: upload) {
            let error = await #expect(throws: UploadError.self) {
                try await guardian.withChunk(ChunkIndex(3), of: upload) {}
            }
            guard case .chunkBusy(let index) = error else {
                Issue.record("expected chunkBusy, got \(String(describing: error))")
                return
            }
            #expect(index == ChunkIndex(3))
        }
    }

    @Test func otherChunksAndOtherUploadsAreFree() async throws {
        let guardian = ChunkWriteGuard()
        try await guardian.withChunk(ChunkIndex(3), of: upload) {
            try await guardian.withChunk(ChunkIndex(4), of: upload) {}
            try await guardian.withChunk(ChunkIndex(3), of: UploadID.random()) {}
        }
    }

    @Test func aChunkIsReleasedAfterItsWriterThrows() async throws {
        struct Failed: Error {}
        let guardian = ChunkWriteGuard()
        await #expect(throws: Failed.self) { try await guardian.withChunk(ChunkIndex(0), of: upload) { throw Failed() } }
        #expect(guardian.heldCount == 0)
        try await guardian.withChunk(ChunkIndex(0), of: upload) {}
    }
}
