import Foundation
import NIOCore
import SystemPackage
import Testing

@testable import UploadKit

/// The chunk map's byte-range locks, the only coordination between
/// writers: two opens of one map exclude each other as two processes do.
@Suite struct ChunkMapLockTests {
    let file = SampleFile.standard
    let locks = OpenFileDescriptionLocks()

    func withUpload<T>(_ body: (FileUploadStore, UploadID, FilePath) async throws -> T) async throws -> T {
        let root = try TemporaryDirectory()
        defer { root.remove() }
        let store = try FileUploadStore(options: .init(directory: FilePath(root.path("data")), fsync: false))
        let id = try await store.create(
            length: ByteCount(Int64(file.length)), chunkSize: ByteCount(Int64(file.chunkSize)), expectedSHA256: nil, metadata: ""
        ).id
        return try await body(store, id, store.mapPath(id))
    }

    @Test func aChunkLockedThroughOneOpenIsRefusedThroughAnother() async throws {
        try await withUpload { _, _, path in
            let (a, b) = (try ChunkMapFile.open(path, writable: true), try ChunkMapFile.open(path, writable: true))
            defer {
                try? a.close()
                try? b.close()
            }
            #expect(try locks.tryLock(.chunk(ChunkIndex(1)), .exclusive, in: a))
            #expect(try !locks.tryLock(.chunk(ChunkIndex(1)), .exclusive, in: b))
            #expect(try locks.tryLock(.chunk(ChunkIndex(2)), .exclusive, in: b), "the neighbouring entry is free")
            try locks.unlock(.chunk(ChunkIndex(1)), in: a)
            #expect(try locks.tryLock(.chunk(ChunkIndex(1)), .exclusive, in: b), "free once unlocked")
        }
    }

    @Test func writersShareTheUploadLockAndAnUploadWideChangeExcludesThem() async throws {
        try await withUpload { _, _, path in
            let (a, b, c) = (
                try ChunkMapFile.open(path, writable: true), try ChunkMapFile.open(path, writable: true), try ChunkMapFile.open(path, writable: true)
            )
            defer { [a, b, c].forEach { try? $0.close() } }
            #expect(try locks.tryLock(.upload, .shared, in: a))
            #expect(try locks.tryLock(.upload, .shared, in: b))
            #expect(try !locks.tryLock(.upload, .exclusive, in: c))
            try locks.unlock(.upload, in: a)
            try locks.unlock(.upload, in: b)
            #expect(try locks.tryLock(.upload, .exclusive, in: c))
            #expect(try !locks.tryLock(.upload, .shared, in: a))
        }
    }

    @Test func closingAnotherDescriptorOfTheMapKeepsTheLock() async throws {
        try await withUpload { _, _, path in
            let holder = try ChunkMapFile.open(path, writable: true)
            defer { try? holder.close() }
            #expect(try locks.tryLock(.chunk(ChunkIndex(0)), .exclusive, in: holder))
            // A classic POSIX lock would be dropped by this close.
            try ChunkMapFile.open(path).close()
            let other = try ChunkMapFile.open(path, writable: true)
            defer { try? other.close() }
            #expect(try !locks.tryLock(.chunk(ChunkIndex(0)), .exclusive, in: other))
        }
    }

    @Test func aChunkBeingWrittenThroughAnotherOpenIsBusy() async throws {
        try await withUpload { store, id, path in
            let other = try ChunkMapFile.open(path, writable: true)
            defer { try? other.close() }
            #expect(try locks.tryLock(.chunk(ChunkIndex(2)), .exclusive, in: other))
            await #expect {
                _ = try await store.receiveChunk(id, index: ChunkIndex(2), expected: ExpectedDigests(), body: SampleFile.body([file.chunk(2)]))
            } throws: { error in
                guard case .chunkBusy(ChunkIndex(2))? = error as? UploadError else { return false }
                return true
            }
            #expect(try await store.snapshot(id).map[ChunkIndex(2)] == .missing)
        }
    }

    @Test func aWriterWaitsForAnUploadWideChangeAndFindsADeletedUploadGone() async throws {
        try await withUpload { store, id, path in
            let holder = try ChunkMapFile.open(path, writable: true)
            defer { try? holder.close() }
            #expect(try locks.tryLock(.upload, .exclusive, in: holder))
            let writer = Task {
                try await store.receiveChunk(id, index: ChunkIndex(0), expected: ExpectedDigests(), body: SampleFile.body([file.chunk(0)]))
            }
            try await Task.sleep(for: .milliseconds(100))
            // What a delete does under the lock: remove both files, then let go.
            _ = unlink(path.string)
            _ = unlink(store.dataPath(id).string)
            try locks.unlock(.upload, in: holder)
            await #expect {
                _ = try await writer.value
            } throws: { error in
                guard case .notFound? = error as? UploadError else { return false }
                return true
            }
            #expect(!FileManager.default.fileExists(atPath: store.dataPath(id).string), "the writer created nothing")
        }
    }

    @Test func aDeleteWaitsForTheWriterInFlight() async throws {
        try await withUpload { store, id, path in
            let (stream, continuation) = AsyncThrowingStream<ByteBuffer, any Error>.makeStream()
            let chunk = file.chunk(0)
            continuation.yield(ByteBuffer(bytes: chunk[..<1000]))
            let writer = Task { try await store.receiveChunk(id, index: ChunkIndex(0), expected: ExpectedDigests(), body: stream) }
            try await waitUntilHeld(.chunk(ChunkIndex(0)), of: path)
            let delete = Task { try await store.delete(id) }
            try await Task.sleep(for: .milliseconds(200))
            #expect(FileManager.default.fileExists(atPath: path.string), "the delete waits for the writer")
            continuation.yield(ByteBuffer(bytes: chunk[1000...]))
            continuation.finish()
            #expect(try await writer.value.written)
            try await delete.value
            #expect(!FileManager.default.fileExists(atPath: path.string) && !FileManager.default.fileExists(atPath: store.dataPath(id).string))
        }
    }

    @Test func uploadWideChangesWaitingForAWriterHoldNoIOThread() async throws {
        try await withUpload { store, id, path in
            let (stream, continuation) = AsyncThrowingStream<ByteBuffer, any Error>.makeStream()
            let chunk = file.chunk(0)
            continuation.yield(ByteBuffer(bytes: chunk[..<1000]))
            let writer = Task { try await store.receiveChunk(id, index: ChunkIndex(0), expected: ExpectedDigests(), body: stream) }
            try await waitUntilHeld(.chunk(ChunkIndex(0)), of: path)
            // More waiters than the store has I/O threads: if each held one, the writer could never commit.
            let audits = (0..<24).map { _ in Task { try await store.audit(id) } }
            try await Task.sleep(for: .milliseconds(200))
            continuation.yield(ByteBuffer(bytes: chunk[1000...]))
            continuation.finish()
            #expect(try await writer.value.written)
            for audit in audits { #expect(try await audit.value.checkedChunks == 1) }
        }
    }

    @Test func aWriterArrivingWhileAnUploadWideChangeWaitsGoesAfterIt() async throws {
        try await withUpload { store, id, path in
            let earlier = try ChunkMapFile.open(path, writable: true)
            defer { try? earlier.close() }
            #expect(try locks.tryLock(.upload, .shared, in: earlier), "a writer in flight")
            let order = Locked([String]())
            let audit = Task {
                _ = try await store.audit(id)
                order.withLock { $0.append("audit") }
            }
            try await waitUntilHeld(.gate, of: path)
            let writer = Task {
                _ = try await store.receiveChunk(id, index: ChunkIndex(1), expected: ExpectedDigests(), body: SampleFile.body([file.chunk(1)]))
                order.withLock { $0.append("writer") }
            }
            try await Task.sleep(for: .milliseconds(200))
            #expect(order.withLock { $0 }.isEmpty, "the later writer waits behind the audit")
            try locks.unlock(.upload, in: earlier)
            try await audit.value
            try await writer.value
            #expect(order.withLock { $0 } == ["audit", "writer"])
        }
    }

    @Test func aChunkCostsThreeLocksHoweverManyBuffersItsBodyHas() async throws {
        let root = try TemporaryDirectory()
        defer { root.remove() }
        let counting = CountingLocks()
        let store = try FileUploadStore(options: .init(directory: FilePath(root.path("data")), fsync: false, locker: counting))
        let id = try await store.create(
            length: ByteCount(Int64(file.length)), chunkSize: ByteCount(Int64(file.chunkSize)), expectedSHA256: nil, metadata: ""
        ).id
        let pieces = stride(from: 0, to: file.chunkSize, by: 1024).map { Array(file.chunk(0)[$0..<($0 + 1024)]) }
        _ = try await store.receiveChunk(id, index: ChunkIndex(0), expected: ExpectedDigests(), body: SampleFile.body(pieces))
        #expect(counting.calls == 6, "the gate, the upload lock and the chunk's, each taken and released once, for \(pieces.count) buffers")
    }
}

/// Counts every lock call, and passes it on to the real locks.
final class CountingLocks: ChunkMapLocking {
    private let base = OpenFileDescriptionLocks()
    private let count = Locked(0)
    var calls: Int { count.withLock { $0 } }

    func tryLock(_ region: ChunkMapRegion, _ mode: LockMode, in map: ChunkMapFile) throws(UploadKit.IOError) -> Bool {
        count.withLock { $0 += 1 }
        return try base.tryLock(region, mode, in: map)
    }

    func unlock(_ region: ChunkMapRegion, in map: ChunkMapFile) throws(UploadKit.IOError) {
        count.withLock { $0 += 1 }
        try base.unlock(region, in: map)
    }
}
