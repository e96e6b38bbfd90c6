import Foundation
import NIOCore
import SystemPackage
import Testing
import UploadKit

/// The store on its own, with bodies written here: bodies that fail midway (a
/// client gone), that are too short or too long, that are slow, and writers
/// that race for one chunk.
@Suite struct FileUploadStoreTests {
    struct ClientWentAway: Error {}

    let file = SampleFile.standard

    /// A fresh store in a fresh directory, and an upload of `file` in it.
    func withStore<T>(fsync: Bool = false, _ body: (FileUploadStore, UploadID) async throws -> T) async throws -> T {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try FileUploadStore(options: .init(directory: FilePath(directory.path("data")), fsync: fsync))
        let snapshot = try await store.create(
            length: ByteCount(Int64(file.length)), chunkSize: ByteCount(Int64(file.chunkSize)), expectedSHA256: nil, metadata: "")
        return try await body(store, snapshot.id)
    }

    /// A body that yields `parts`, then ends or throws `error`.
    func body(_ parts: [[UInt8]], thenThrow error: (any Error)? = nil) -> AsyncThrowingStream<ByteBuffer, any Error> {
        SampleFile.body(parts, thenThrow: error)
    }

    func halves(_ bytes: [UInt8]) -> [[UInt8]] {
        [Array(bytes[..<(bytes.count / 2)]), Array(bytes[(bytes.count / 2)...])]
    }

    func state(_ store: FileUploadStore, _ id: UploadID, _ index: Int) async throws -> ChunkState {
        try await store.snapshot(id).map[ChunkIndex(index)]
    }

    @Test func aChunkStreamedInPartsIsCommittedWithItsDigest() async throws {
        try await withStore { (store, id) async throws in
            let parts = stride(from: 0, to: kib64, by: 1000).map { Array(file.chunk(1)[$0..<min($0 + 1000, kib64)]) }
            let receipt = try await store.receiveChunk(id, index: ChunkIndex(1), expected: ExpectedDigests(), body: body(parts))
            #expect(receipt.index == ChunkIndex(1))
            #expect(receipt.written)
            #expect(receipt.digest == XXH3Hasher.hash(file.chunk(1)))
            #expect(try await state(store, id, 1) == .verified(XXH3Hasher.hash(file.chunk(1))))
        }
    }

    @Test func aBodyThatFailsMidwayLeavesTheChunkMissing() async throws {
        try await withStore { (store, id) async throws in
            await #expect(throws: (any Error).self) {
                try await store.receiveChunk(
                    id, index: ChunkIndex(0), expected: ExpectedDigests(), body: body([halves(file.chunk(0))[0]], thenThrow: ClientWentAway()))
            }
            #expect(try await state(store, id, 0) == .missing)
            #expect(try await store.snapshot(id).map.verifiedCount == 0)
        }
    }

    @Test func failedBodiesLeakNoDescriptor() async throws {
        try await withStore { (store, id) async throws in
            let first = halves(file.chunk(0))[0]
            _ = try? await store.receiveChunk(id, index: ChunkIndex(0), expected: ExpectedDigests(), body: body([first], thenThrow: ClientWentAway()))
            let before = openDescriptorCount()
            for _ in 0..<200 {
                _ = try? await store.receiveChunk(id, index: ChunkIndex(0), expected: ExpectedDigests(), body: body([first], thenThrow: ClientWentAway()))
            }
            // Other tests run in parallel and open files too: a leak here would add 200 or more.
            #expect(openDescriptorCount() < before + 50)
            #expect(try await state(store, id, 0) == .missing)
        }
    }

    @Test func afterAFailedChunkARetrySucceeds() async throws {
        try await withStore { (store, id) async throws in
            let chunk = file.chunk(2)
            _ = try? await store.receiveChunk(
                id, index: ChunkIndex(2), expected: ExpectedDigests(), body: body([halves(chunk)[0]], thenThrow: ClientWentAway()))
            let receipt = try await store.receiveChunk(
                id, index: ChunkIndex(2), expected: ExpectedDigests(xxh3: XXH3Hasher.hash(chunk)), body: body(halves(chunk)))
            #expect(receipt.written)
            #expect(try await state(store, id, 2) == .verified(XXH3Hasher.hash(chunk)))
        }
    }

    @Test func aBodyShorterThanItsRangeIsRefusedAndTheChunkStaysMissing() async throws {
        try await withStore { (store, id) async throws in
            let error = await #expect(throws: UploadError.self) {
                try await store.receiveChunk(id, index: ChunkIndex(0), expected: ExpectedDigests(), body: body([Array(file.chunk(0).dropLast())]))
            }
            guard case .bodyTooShort(let expected, let received) = error else {
                Issue.record("expected bodyTooShort, got \(String(describing: error))")
                return
            }
            #expect(expected == Int64(kib64) && received == Int64(kib64 - 1))
            #expect(try await state(store, id, 0) == .missing)
        }
    }

    @Test func aBodyLongerThanItsRangeIsRefusedAndTheChunkStaysMissing() async throws {
        try await withStore { (store, id) async throws in
            let error = await #expect(throws: UploadError.self) {
                try await store.receiveChunk(id, index: ChunkIndex(3), expected: ExpectedDigests(), body: body([file.chunk(3), [0]]))
            }
            guard case .bodyTooLong = error else {
                Issue.record("expected bodyTooLong, got \(String(describing: error))")
                return
            }
            #expect(try await state(store, id, 3) == .missing)
        }
    }

    @Test func aBodyLongerThanItsRangeIsNotReadToItsEnd() async throws {
        try await withStore { (store, id) async throws in
            let counter = PartCounter()
            let endless = CountingBody(part: [UInt8](repeating: 9, count: 1000), count: 1_000_000, counter: counter)
            await #expect(throws: UploadError.self) {
                try await store.receiveChunk(id, index: ChunkIndex(3), expected: ExpectedDigests(), body: endless)
            }
            #expect(counter.value <= 2, "reading stops at the first byte past the range")
        }
    }

    @Test func aDigestMismatchNeverMarksTheChunkVerified() async throws {
        try await withStore { (store, id) async throws in
            let wrong = ExpectedDigests(xxh3: XXH3Hasher.hash(file.chunk(1)))
            let error = await #expect(throws: UploadError.self) {
                try await store.receiveChunk(id, index: ChunkIndex(0), expected: wrong, body: body([file.chunk(0)]))
            }
            guard case .digestMismatch(let algorithm, let index, _, _) = error else {
                Issue.record("expected digestMismatch, got \(String(describing: error))")
                return
            }
            #expect(algorithm == "xxh3" && index == ChunkIndex(0))
            #expect(try await state(store, id, 0) == .missing)
        }
    }

    @Test func aSecondWriterOfAChunkBeingWrittenIsRefusedAsBusy() async throws {
        try await withStore { (store, id) async throws in
            let chunk = file.chunk(1)
            let (stream, feed) = AsyncThrowingStream.makeStream(of: ByteBuffer.self)
            let (started, signal) = AsyncStream.makeStream(of: Void.self)
            let first = Task {
                try await store.receiveChunk(id, index: ChunkIndex(1), expected: ExpectedDigests(), body: ObservedBody(inner: stream, started: signal))
            }
            var waiting = started.makeAsyncIterator()
            _ = await waiting.next()  // the first writer is reading its body: it holds the chunk

            let error = await #expect(throws: UploadError.self) {
                try await store.receiveChunk(id, index: ChunkIndex(1), expected: ExpectedDigests(), body: body([chunk]))
            }
            guard case .chunkBusy(let index) = error else {
                Issue.record("expected chunkBusy, got \(String(describing: error))")
                return
            }
            #expect(index == ChunkIndex(1))

            feed.yield(ByteBuffer(bytes: chunk))
            feed.finish()
            #expect(try await first.value.written)
            let again = try await store.receiveChunk(id, index: ChunkIndex(1), expected: ExpectedDigests(), body: body([chunk]))
            #expect(again.written == false)
        }
    }

    @Test func anotherChunkCanBeWrittenWhileOneIsBusy() async throws {
        try await withStore { (store, id) async throws in
            let (stream, feed) = AsyncThrowingStream.makeStream(of: ByteBuffer.self)
            let (started, signal) = AsyncStream.makeStream(of: Void.self)
            let slow = Task {
                try await store.receiveChunk(id, index: ChunkIndex(0), expected: ExpectedDigests(), body: ObservedBody(inner: stream, started: signal))
            }
            var waiting = started.makeAsyncIterator()
            _ = await waiting.next()
            #expect(try await store.receiveChunk(id, index: ChunkIndex(2), expected: ExpectedDigests(), body: body([file.chunk(2)])).written)
            feed.yield(ByteBuffer(bytes: file.chunk(0)))
            feed.finish()
            #expect(try await slow.value.written)
            #expect(try await store.snapshot(id).map.verifiedCount == 2)
        }
    }

    @Test func manyConcurrentWritersOfOneChunkWithTheSameBytesCommitItOnce() async throws {
        try await withStore { (store, id) async throws in
            let chunk = file.chunk(1)
            let parts = stride(from: 0, to: kib64, by: 8192).map { Array(chunk[$0..<$0 + 8192]) }
            let outcomes = await withTaskGroup(of: String.self) { group in
                for _ in 0..<8 {
                    group.addTask {
                        let slow = AsyncThrowingStream<ByteBuffer, any Error> { continuation in
                            Task {
                                for part in parts {
                                    continuation.yield(ByteBuffer(bytes: part))
                                    try? await Task.sleep(for: .milliseconds(2))
                                }
                                continuation.finish()
                            }
                        }
                        do {
                            let receipt = try await store.receiveChunk(id, index: ChunkIndex(1), expected: ExpectedDigests(), body: slow)
                            return receipt.written ? "written" : "duplicate"
                        } catch UploadError.chunkBusy {
                            return "busy"
                        } catch {
                            return "error: \(error)"
                        }
                    }
                }
                return await group.reduce(into: [String]()) { $0.append($1) }
            }
            #expect(outcomes.filter { $0 == "written" }.count == 1)
            #expect(outcomes.allSatisfy { ["written", "duplicate", "busy"].contains($0) }, "\(outcomes)")
            #expect(try await state(store, id, 1) == .verified(XXH3Hasher.hash(chunk)))
        }
    }

    @Test func aChunkIsCommittedWithFsyncOn() async throws {
        try await withStore(fsync: true) { (store, id) async throws in
            #expect(try await store.receiveChunk(id, index: ChunkIndex(0), expected: ExpectedDigests(), body: body([file.chunk(0)])).written)
            #expect(try await state(store, id, 0) == .verified(XXH3Hasher.hash(file.chunk(0))))
        }
    }

    @Test func aChunkForAnUnknownUploadIsNotFound() async throws {
        try await withStore { (store, _) async throws in
            let error = await #expect(throws: UploadError.self) {
                try await store.receiveChunk(UploadID.random(), index: ChunkIndex(0), expected: ExpectedDigests(), body: body([file.chunk(0)]))
            }
            guard case .notFound = error else {
                Issue.record("expected notFound, got \(String(describing: error))")
                return
            }
        }
    }

    @Test func anExpiredIncompleteUploadIsRemovedAndACompleteOneKept() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try FileUploadStore(options: .init(directory: FilePath(directory.path("data")), fsync: false))
        let idle = try await store.create(length: ByteCount(1000), chunkSize: nil, expectedSHA256: nil, metadata: "").id
        let bytes = pseudoRandomBytes(1000)
        let done = try await store.create(length: ByteCount(1000), chunkSize: nil, expectedSHA256: nil, metadata: "").id
        _ = try await store.receiveChunk(
            done, index: ChunkIndex(0), expected: ExpectedDigests(), body: body([bytes]))
        _ = try await store.complete(done, sha256: SHA256Hasher.hash(bytes))
        try await Task.sleep(for: .milliseconds(1100))
        #expect(try await store.expire(idleLongerThan: .seconds(1)) == [idle])
        #expect(store.listUploads() == [done])
        #expect(!fileExists(directory.path("data/\(idle.rawValue)")))
    }
}

/// Counts how many parts of a body were read.
final class PartCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    var value: Int { lock.withLock { count } }
    func increment() { lock.withLock { count += 1 } }
}

/// A body of `count` equal parts that counts how many were asked for.
struct CountingBody: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    typealias Failure = any Error
    let part: [UInt8]
    let count: Int
    let counter: PartCounter

    struct AsyncIterator: AsyncIteratorProtocol {
        let body: CountingBody
        var given = 0
        mutating func next() async throws -> ByteBuffer? {
            guard given < body.count else { return nil }
            given += 1
            body.counter.increment()
            return ByteBuffer(bytes: body.part)
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(body: self) }
}

/// A body that says when its reader first asks for a part: the store then
/// holds the chunk.
struct ObservedBody: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    typealias Failure = any Error
    let inner: AsyncThrowingStream<ByteBuffer, any Error>
    let started: AsyncStream<Void>.Continuation

    struct AsyncIterator: AsyncIteratorProtocol {
        var inner: AsyncThrowingStream<ByteBuffer, any Error>.Iterator
        let started: AsyncStream<Void>.Continuation
        mutating func next() async throws -> ByteBuffer? {
            started.yield()
            return try await inner.next()
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(inner: inner.makeAsyncIterator(), started: started) }
}
