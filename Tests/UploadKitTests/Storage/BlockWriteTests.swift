import Foundation
import NIOCore
import SystemPackage
import Testing

@testable import UploadKit

/// Block-level repair in the store: the digests of a chunk's blocks as they
/// are on disk, and writes inside one corrupt chunk that verify it only once
/// the whole chunk hashes to its recorded XXH3 again.
@Suite struct BlockWriteTests {
    /// Three whole 64 KiB chunks and a short last one of 1000 bytes.
    let file = SampleFile.standard
    /// Four blocks in each whole chunk.
    static let blockSize: Int64 = 16_384

    func withStore<T>(
        fsync: Bool = false, crashProbe: (any CrashProbe)? = nil, _ body: (FileUploadStore, UploadID, FilePath) async throws -> T
    ) async throws -> T {
        let root = try TemporaryDirectory()
        defer { root.remove() }
        let directory = FilePath(root.path("data"))
        let store = try FileUploadStore(options: .init(directory: directory, fsync: fsync, crashProbe: crashProbe))
        let id = try await store.create(
            length: ByteCount(Int64(file.length)), chunkSize: ByteCount(Int64(file.chunkSize)), expectedSHA256: nil, metadata: ""
        ).id
        return try await body(store, id, directory)
    }

    func putAll(_ store: FileUploadStore, _ id: UploadID) async throws {
        for index in 0..<file.chunkCount {
            _ = try await store.receiveChunk(id, index: ChunkIndex(index), expected: ExpectedDigests(), body: SampleFile.body([file.chunk(index)]))
        }
    }

    /// A complete upload whose bytes at `offsets` were then changed at rest
    /// and found by an audit: their chunks are `corrupt`, the upload `damaged`.
    func damage(_ store: FileUploadStore, _ id: UploadID, at offsets: [Int]) async throws {
        try await putAll(store, id)
        _ = try await store.complete(id, sha256: file.sha256)
        for offset in offsets { try flipByte(store.dataPath(id).string, at: Int64(offset)) }
        _ = try await store.audit(id)
    }

    /// Block `block` of chunk `chunk` of the source, and where it lies.
    func block(_ block: Int, of chunk: Int) -> (range: ByteRange, bytes: [UInt8]) {
        let start = chunk * file.chunkSize + block * Int(Self.blockSize)
        let end = min(start + Int(Self.blockSize), file.range(chunk).upperBound)
        return (ByteRange(offset: Int64(start), length: Int64(end - start)), Array(file.bytes[start..<end]))
    }

    func write(_ store: FileUploadStore, _ id: UploadID, chunk: Int, _ block: (range: ByteRange, bytes: [UInt8])) async throws -> BlockWriteReceipt {
        try await store.writeBlocks(
            id, index: ChunkIndex(chunk), range: block.range, expected: ExpectedDigests(xxh3: XXH3Hasher.hash(block.bytes)),
            body: SampleFile.body([block.bytes]))
    }

    func state(_ store: FileUploadStore, _ id: UploadID, _ index: Int) async throws -> ChunkState {
        try await store.snapshot(id).map[ChunkIndex(index)]
    }

    func stored(_ store: FileUploadStore, _ id: UploadID) throws -> [UInt8] {
        try readFile(store.dataPath(id).string)
    }

    // MARK: Block digests

    @Test func blockDigestsAreTheXXH3OfEachBlockAsItIsOnDisk() async throws {
        try await withStore { store, id, _ in
            try await putAll(store, id)
            try flipByte(store.dataPath(id).string, at: Int64(kib64 + 2 * Int(Self.blockSize) + 5))
            let digests = try await store.blockDigests(id, index: ChunkIndex(1), blockSize: Self.blockSize)
            #expect(digests.blocks.count == 4)
            let onDisk = try stored(store, id)
            let expected = (0..<4).map { b in
                let range = block(b, of: 1).range
                return XXH3Hasher.hash(Array(onDisk[Int(range.offset)..<Int(range.end)]))
            }
            #expect(digests.digests == expected)
            #expect(digests.digests[2] != XXH3Hasher.hash(block(2, of: 1).bytes), "the block as it is on disk, not as it was sent")
        }
    }

    @Test func theLastBlockOfAShortChunkIsShort() async throws {
        try await withStore { store, id, _ in
            try await putAll(store, id)
            let digests = try await store.blockDigests(id, index: ChunkIndex(3), blockSize: Self.blockSize)
            #expect(digests.blocks.count == 1)
            #expect(digests.blocks.range(of: 0).length == 1000)
            #expect(digests.digests == [XXH3Hasher.hash(file.chunk(3))])
        }
    }

    @Test(arguments: [Int64(0), Int64(1000), Int64(2048), Int64(3 * 16_384), Int64(131_072)])
    func aBlockSizeThatIsNotAPowerOfTwoFrom4KiBToTheChunkSizeIsRefused(_ size: Int64) async throws {
        try await withStore { store, id, _ in
            let error = await #expect(throws: UploadError.self) { try await store.blockDigests(id, index: ChunkIndex(0), blockSize: size) }
            guard case .invalidBlockSize = error else {
                Issue.record("expected invalidBlockSize, got \(String(describing: error))")
                return
            }
        }
    }

    @Test func blockDigestsOfAChunkBeingWrittenAreBusy() async throws {
        try await withStore { store, id, _ in
            let (stream, feed) = AsyncThrowingStream.makeStream(of: ByteBuffer.self)
            let (started, signal) = AsyncStream.makeStream(of: Void.self)
            let writer = Task {
                try await store.receiveChunk(id, index: ChunkIndex(1), expected: ExpectedDigests(), body: ObservedBody(inner: stream, started: signal))
            }
            var waiting = started.makeAsyncIterator()
            _ = await waiting.next()  // the writer is reading its body: it holds the chunk
            let error = await #expect(throws: UploadError.self) { try await store.blockDigests(id, index: ChunkIndex(1), blockSize: Self.blockSize) }
            guard case .chunkBusy(let index) = error else {
                Issue.record("expected chunkBusy, got \(String(describing: error))")
                return
            }
            #expect(index == ChunkIndex(1))
            feed.yield(ByteBuffer(bytes: file.chunk(1)))
            feed.finish()
            let written = try await writer.value.written
            #expect(written)
            let digests = try await store.blockDigests(id, index: ChunkIndex(1), blockSize: Self.blockSize)
            #expect(digests.digests.count == 4)
        }
    }

    // MARK: Block writes

    @Test func aBlockWriteIntoAVerifiedChunkIsRefusedAndWritesNothing() async throws {
        try await withStore { store, id, _ in
            try await damage(store, id, at: [kib64 + 5])
            let before = try stored(store, id)
            let error = await #expect(throws: UploadError.self) {
                try await write(store, id, chunk: 0, (block(1, of: 0).range, [UInt8](repeating: 1, count: Int(Self.blockSize))))
            }
            guard case .chunkVerified(let index) = error else {
                Issue.record("expected chunkVerified, got \(String(describing: error))")
                return
            }
            #expect(index == ChunkIndex(0))
            #expect(try stored(store, id) == before)
            #expect(try await state(store, id, 0) == .verified(XXH3Hasher.hash(file.chunk(0))))
        }
    }

    @Test func aBlockWriteIntoAMissingChunkIsRefused() async throws {
        try await withStore { store, id, _ in
            let error = await #expect(throws: UploadError.self) { try await write(store, id, chunk: 2, block(0, of: 2)) }
            guard case .chunkMissing(let index) = error else {
                Issue.record("expected chunkMissing, got \(String(describing: error))")
                return
            }
            #expect(index == ChunkIndex(2))
            let bytes = try stored(store, id)
            #expect(bytes.allSatisfy { $0 == 0 }, "nothing was written")
            let entry = try await state(store, id, 2)
            #expect(entry == .missing)
        }
    }

    @Test func aWriteOfSomeOfTheDamagedBlocksLeavesTheChunkCorruptAndSaysWhatItHashesToNow() async throws {
        try await withStore { store, id, _ in
            try await damage(store, id, at: [kib64 + 5, kib64 + 2 * Int(Self.blockSize) + 9])
            let receipt = try await write(store, id, chunk: 1, block(0, of: 1))
            let recorded = XXH3Hasher.hash(file.chunk(1))
            #expect(receipt.state == .corrupt(expected: recorded))
            let onDisk = try stored(store, id)
            #expect(receipt.digest == XXH3Hasher.hash(Array(onDisk[file.range(1)])))
            #expect(Array(onDisk[file.range(0).upperBound..<file.range(0).upperBound + Int(Self.blockSize)]) == block(0, of: 1).bytes)
            #expect(try await state(store, id, 1) == .corrupt(expected: recorded))
            #expect(onDisk.count == file.length, "the data file's size never changes")
        }
    }

    @Test func theWriteThatMakesTheChunkWholeVerifiesItAndTheUploadCompletesAgain() async throws {
        try await withStore { store, id, _ in
            try await damage(store, id, at: [kib64 + 5, kib64 + 2 * Int(Self.blockSize) + 9])
            _ = try await write(store, id, chunk: 1, block(0, of: 1))
            let receipt = try await write(store, id, chunk: 1, block(2, of: 1))
            let recorded = XXH3Hasher.hash(file.chunk(1))
            #expect(receipt.state == .verified(recorded))
            #expect(receipt.digest == recorded)
            #expect(try await state(store, id, 1) == .verified(recorded))
            #expect(try stored(store, id) == file.bytes)
            #expect(try await store.snapshot(id).state == .damaged, "it completes again only when asked to")
            #expect(try await store.complete(id, sha256: file.sha256).state == .complete)
        }
    }

    @Test func aSecondWriterOfAChunkBeingRepairedIsRefusedAsBusy() async throws {
        try await withStore { store, id, _ in
            try await damage(store, id, at: [kib64 + 5])
            let first = block(0, of: 1)
            let (stream, feed) = AsyncThrowingStream.makeStream(of: ByteBuffer.self)
            let (started, signal) = AsyncStream.makeStream(of: Void.self)
            let writer = Task {
                try await store.writeBlocks(
                    id, index: ChunkIndex(1), range: first.range, expected: ExpectedDigests(xxh3: XXH3Hasher.hash(first.bytes)),
                    body: ObservedBody(inner: stream, started: signal))
            }
            var waiting = started.makeAsyncIterator()
            _ = await waiting.next()  // the first writer is reading its body: it holds the chunk
            let error = await #expect(throws: UploadError.self) { try await write(store, id, chunk: 1, block(1, of: 1)) }
            guard case .chunkBusy(let index) = error else {
                Issue.record("expected chunkBusy, got \(String(describing: error))")
                return
            }
            #expect(index == ChunkIndex(1))
            feed.yield(ByteBuffer(bytes: first.bytes))
            feed.finish()
            #expect(try await writer.value.state.isVerified)
        }
    }

    @Test func aBodyThatDoesNotMatchItsDigestWritesNothing() async throws {
        try await withStore { store, id, _ in
            try await damage(store, id, at: [kib64 + 5])
            let before = try stored(store, id)
            let target = block(0, of: 1)
            let error = await #expect(throws: UploadError.self) {
                try await store.writeBlocks(
                    id, index: ChunkIndex(1), range: target.range, expected: ExpectedDigests(xxh3: XXH3Hasher.hash(block(1, of: 1).bytes)),
                    body: SampleFile.body([target.bytes]))
            }
            guard case .digestMismatch(let algorithm, let index, _, _) = error else {
                Issue.record("expected digestMismatch, got \(String(describing: error))")
                return
            }
            #expect(algorithm == "xxh3" && index == ChunkIndex(1))
            #expect(try stored(store, id) == before, "not a byte written")
            #expect(try await state(store, id, 1) == .corrupt(expected: XXH3Hasher.hash(file.chunk(1))))
        }
    }

    @Test func aRangeThatLeavesItsChunkIsRefused() async throws {
        try await withStore { store, id, _ in
            try await damage(store, id, at: [kib64 + 5])
            let straddling = ByteRange(offset: Int64(2 * kib64 - 100), length: 200)
            let bytes = Array(file.bytes[(2 * kib64 - 100)..<(2 * kib64 + 100)])
            let error = await #expect(throws: UploadError.self) {
                try await store.writeBlocks(
                    id, index: ChunkIndex(1), range: straddling, expected: ExpectedDigests(xxh3: XXH3Hasher.hash(bytes)), body: SampleFile.body([bytes]))
            }
            guard case .rangeOutsideChunk(_, let index, _) = error else {
                Issue.record("expected rangeOutsideChunk, got \(String(describing: error))")
                return
            }
            #expect(index == ChunkIndex(1))
        }
    }

    /// Each crash point of a block write, on the write that makes the chunk
    /// whole: a store on the same directory afterwards finds the chunk
    /// `corrupt` (the entry was not written) or `verified` with its bytes,
    /// never verified over other bytes; a repair then completes.
    @Test(arguments: CrashPoint.inBlockWrite)
    func aCrashInsideABlockWriteLeavesTheChunkCorruptOrVerifiedWithItsBytes(_ point: CrashPoint) async throws {
        let root = try TemporaryDirectory()
        defer { root.remove() }
        let directory = FilePath(root.path("data"))
        let crashing = try FileUploadStore(options: .init(directory: directory, fsync: true, crashProbe: StopAtCrashPoint(point, occurrence: 1)))
        let id = try await crashing.create(
            length: ByteCount(Int64(file.length)), chunkSize: ByteCount(Int64(file.chunkSize)), expectedSHA256: nil, metadata: ""
        ).id
        try await damage(crashing, id, at: [kib64 + 5])
        await #expect(throws: CrashPointReached.self) { _ = try await write(crashing, id, chunk: 1, block(0, of: 1)) }

        let restarted = try FileUploadStore(options: .init(directory: directory, fsync: true))
        let recorded = XXH3Hasher.hash(file.chunk(1))
        let entryWritten = point == .afterBlockEntry
        let expected = entryWritten ? ChunkState.verified(recorded) : ChunkState.corrupt(expected: recorded)
        #expect(try await state(restarted, id, 1) == expected, "after \(point.rawValue)")
        let onDisk = try stored(restarted, id)
        #expect(onDisk.count == file.length)
        for index in 0..<file.chunkCount {
            guard case .verified(let digest) = try await state(restarted, id, index) else { continue }
            #expect(XXH3Hasher.hash(Array(onDisk[file.range(index)])) == digest && Array(onDisk[file.range(index)]) == file.chunk(index), "chunk \(index)")
        }
        if !entryWritten { #expect(try await write(restarted, id, chunk: 1, block(0, of: 1)).state.isVerified) }
        #expect(try await restarted.complete(id, sha256: file.sha256).state == .complete)
    }
}
