import Foundation
import NIOCore
import SystemPackage
import Testing

@testable import UploadKit

/// The append primitive: bytes of any length at the upload's append
/// offset, in place; chunks verified as the bytes fill them.
@Suite struct AppendTests {
    /// Three whole 64 KiB chunks and a short last one of 1000 bytes.
    let file = SampleFile.standard

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

    func bytes(_ range: Range<Int>) -> [UInt8] { Array(file.bytes[range]) }

    /// Every verified chunk's bytes on disk hash to its entry and are the source's.
    func expectVerifiedChunksHoldTheirBytes(_ store: FileUploadStore, _ id: UploadID, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let map = try await store.snapshot(id).map
        let stored = [UInt8](try Data(contentsOf: URL(fileURLWithPath: store.dataPath(id).string)))
        #expect(stored.count == file.length, "the data file's size drifted", sourceLocation: sourceLocation)
        for index in 0..<file.chunkCount {
            guard case .verified(let digest) = map[ChunkIndex(index)] else { continue }
            let chunk = Array(stored[file.range(index)])
            #expect(XXH3Hasher.hash(chunk) == digest && chunk == file.chunk(index), "chunk \(index)", sourceLocation: sourceLocation)
        }
    }

    @Test func anAppendOfTheWholeFileVerifiesEveryChunkAndCompletes() async throws {
        try await withStore { store, id, _ in
            let receipt = try await store.append(id, at: 0, checksum: nil, body: SampleFile.body([file.bytes]))
            #expect(receipt.offset == Int64(file.length))
            #expect(receipt.verified == (0..<file.chunkCount).map(ChunkIndex.init))
            #expect(receipt.isFull)
            #expect(try await store.complete(id, sha256: file.sha256).state == .complete)
        }
    }

    @Test func buffersCrossingChunkBoundariesAreCutWhereTheChunksAre() async throws {
        try await withStore { store, id, _ in
            // Odd-sized pieces: none ends on a chunk boundary.
            let pieces = stride(from: 0, to: file.length, by: 10_007).map { bytes($0..<min($0 + 10_007, file.length)) }
            let receipt = try await store.append(id, at: 0, checksum: nil, body: SampleFile.body(pieces))
            #expect(receipt.isFull)
            try await expectVerifiedChunksHoldTheirBytes(store, id)
        }
    }

    @Test func aBodyCutMidChunkKeepsWhatArrivedAndTheNextAppendCompletesTheChunk() async throws {
        try await withStore { store, id, _ in
            let cut = file.chunkSize + 5000
            await #expect {
                _ = try await store.append(id, at: 0, checksum: nil, body: SampleFile.body([bytes(0..<cut)], thenThrow: FileUploadStoreTests.ClientWentAway()))
            } throws: { error in
                guard case .appendCutShort(let kept)? = error as? UploadError else { return false }
                return kept == Int64(cut)
            }
            let snapshot = try await store.snapshot(id)
            #expect(snapshot.map.appendOffset == Int64(cut))
            #expect(snapshot.map.verifiedCount == 1, "only the chunk the body filled whole is verified")
            // The next append starts mid-chunk 1: its first 5000 bytes are hashed from disk.
            let receipt = try await store.append(id, at: Int64(cut), checksum: nil, body: SampleFile.body([bytes(cut..<file.length)]))
            #expect(receipt.isFull)
            #expect(try await store.complete(id, sha256: file.sha256).state == .complete)
        }
    }

    @Test func aBodyCutExactlyAtAChunkBoundaryKeepsTheWholeChunks() async throws {
        try await withStore { store, id, _ in
            let cut = 2 * file.chunkSize
            _ = try? await store.append(id, at: 0, checksum: nil, body: SampleFile.body([bytes(0..<cut)], thenThrow: FileUploadStoreTests.ClientWentAway()))
            let map = try await store.snapshot(id).map
            #expect(map.appendOffset == Int64(cut))
            #expect(map.verifiedCount == 2)
            try await expectVerifiedChunksHoldTheirBytes(store, id)
        }
    }

    @Test func aBodyCutInsideTheShortLastChunkKeepsWhatArrived() async throws {
        try await withStore { store, id, _ in
            let cut = 3 * file.chunkSize + 400
            _ = try? await store.append(id, at: 0, checksum: nil, body: SampleFile.body([bytes(0..<cut)], thenThrow: FileUploadStoreTests.ClientWentAway()))
            let map = try await store.snapshot(id).map
            #expect(map.appendOffset == Int64(cut))
            #expect(map.verifiedCount == 3)
            let receipt = try await store.append(id, at: Int64(cut), checksum: nil, body: SampleFile.body([bytes(cut..<file.length)]))
            #expect(receipt.isFull && receipt.verified == [ChunkIndex(3)])
        }
    }

    @Test func anAppendAtAnotherOffsetIsRefusedNamingTheOffsetAndChangesNothing() async throws {
        try await withStore { store, id, _ in
            _ = try await store.append(id, at: 0, checksum: nil, body: SampleFile.body([bytes(0..<1000)]))
            for wrong: Int64 in [0, 999, 1001, Int64(file.length)] {
                await #expect {
                    _ = try await store.append(id, at: wrong, checksum: nil, body: SampleFile.body([bytes(1000..<2000)]))
                } throws: { error in
                    guard case .offsetMismatch(let given, let expected)? = error as? UploadError else { return false }
                    return given == wrong && expected == 1000
                }
            }
            #expect(try await store.snapshot(id).map.appendOffset == 1000)
        }
    }

    @Test func aChecksumThatDoesNotMatchDiscardsTheBytes() async throws {
        try await withStore { store, id, _ in
            let wrong = BodyChecksum(.sha1, digest: [UInt8](repeating: 0, count: 20))
            await #expect {
                _ = try await store.append(id, at: 0, checksum: wrong, body: SampleFile.body([bytes(0..<(2 * file.chunkSize))]))
            } throws: { error in
                guard case .checksumMismatch(let algorithm, _, _)? = error as? UploadError else { return false }
                return algorithm == .sha1
            }
            let map = try await store.snapshot(id).map
            #expect(map.appendOffset == 0, "the offset does not move")
            #expect(map.verifiedCount == 0, "no chunk becomes verified")
        }
    }

    @Test(arguments: ChecksumAlgorithm.allCases)
    func aMatchingChecksumKeepsTheAppend(_ algorithm: ChecksumAlgorithm) async throws {
        try await withStore { store, id, _ in
            let body = bytes(0..<(file.chunkSize + 10))
            let hasher = ChecksumHasher(algorithm)
            body.withUnsafeBytes { hasher.update($0) }
            let receipt = try await store.append(id, at: 0, checksum: BodyChecksum(algorithm, digest: hasher.finalize()), body: SampleFile.body([body]))
            #expect(receipt.offset == Int64(body.count) && receipt.verified == [ChunkIndex(0)])
        }
    }

    @Test func aBodyWithAChecksumCutShortKeepsNothing() async throws {
        try await withStore { store, id, _ in
            let checksum = BodyChecksum(.sha256, digest: SHA256Hasher.hash(file.bytes).bytes)
            _ = try? await store.append(
                id, at: 0, checksum: checksum, body: SampleFile.body([bytes(0..<(2 * file.chunkSize))], thenThrow: FileUploadStoreTests.ClientWentAway()))
            let map = try await store.snapshot(id).map
            #expect(map.appendOffset == 0 && map.verifiedCount == 0)
        }
    }

    @Test func aBodyRunningPastTheEndIsRefusedAfterKeepingTheBytesThatFit() async throws {
        try await withStore { store, id, _ in
            await #expect {
                _ = try await store.append(id, at: 0, checksum: nil, body: SampleFile.body([file.bytes, [1, 2, 3]]))
            } throws: { error in
                guard case .pastTheEnd? = error as? UploadError else { return false }
                return true
            }
            #expect(try await store.snapshot(id).map.appendOffset == Int64(file.length))
            try await expectVerifiedChunksHoldTheirBytes(store, id)
        }
    }

    @Test func appendsStartAfterChunksSentWhole() async throws {
        try await withStore { store, id, _ in
            for index in 0..<2 {
                _ = try await store.receiveChunk(id, index: ChunkIndex(index), expected: ExpectedDigests(), body: SampleFile.body([file.chunk(index)]))
            }
            #expect(try await store.snapshot(id).map.appendOffset == Int64(2 * file.chunkSize))
            let receipt = try await store.append(
                id, at: Int64(2 * file.chunkSize), checksum: nil, body: SampleFile.body([bytes((2 * file.chunkSize)..<file.length)]))
            #expect(receipt.isFull)
        }
    }

    @Test func bytesOverAVerifiedChunkMustBeItsOwnBytes() async throws {
        try await withStore { store, id, _ in
            _ = try await store.receiveChunk(id, index: ChunkIndex(1), expected: ExpectedDigests(), body: SampleFile.body([file.chunk(1)]))
            var other = file.chunk(1)
            other[7] ^= 0xFF
            await #expect {
                _ = try await store.append(id, at: 0, checksum: nil, body: SampleFile.body([file.chunk(0), other]))
            } throws: { error in
                guard case .appendConflict(ChunkIndex(1))? = error as? UploadError else { return false }
                return true
            }
            try await expectVerifiedChunksHoldTheirBytes(store, id)
            #expect(try await store.snapshot(id).map.appendOffset == Int64(2 * file.chunkSize), "chunk 0 was kept; chunk 1 was already there")
        }
    }

    @Test func aVerifiedChunksOwnBytesAgainPassAndAreNotRewritten() async throws {
        try await withStore { store, id, _ in
            _ = try await store.receiveChunk(id, index: ChunkIndex(1), expected: ExpectedDigests(), body: SampleFile.body([file.chunk(1)]))
            let receipt = try await store.append(id, at: 0, checksum: nil, body: SampleFile.body([file.chunk(0), file.chunk(1)]))
            #expect(receipt.offset == Int64(2 * file.chunkSize) && receipt.verified == [ChunkIndex(0)])
        }
    }

    @Test func aSecondAppendWhileOneIsInProgressIsBusy() async throws {
        try await withStore { store, id, _ in
            let (stream, continuation) = AsyncThrowingStream<ByteBuffer, any Error>.makeStream()
            continuation.yield(ByteBuffer(bytes: bytes(0..<100)))
            let first = Task { try await store.append(id, at: 0, checksum: nil, body: stream) }
            defer { first.cancel() }
            try await waitUntilHeld(.chunk(ChunkIndex(0)), of: store.mapPath(id))
            await #expect {
                _ = try await store.append(id, at: 0, checksum: nil, body: SampleFile.body([bytes(0..<100)]))
            } throws: { error in
                guard case .appendBusy? = error as? UploadError else { return false }
                return true
            }
            continuation.finish()
            #expect(try await first.value.offset == 100)
        }
    }

    @Test func aChunkPutOfTheChunkAnAppendIsFillingIsBusy() async throws {
        try await withStore { store, id, _ in
            let (stream, continuation) = AsyncThrowingStream<ByteBuffer, any Error>.makeStream()
            continuation.yield(ByteBuffer(bytes: bytes(0..<100)))
            let append = Task { try await store.append(id, at: 0, checksum: nil, body: stream) }
            defer { append.cancel() }
            try await waitUntilHeld(.chunk(ChunkIndex(0)), of: store.mapPath(id))
            await #expect {
                _ = try await store.receiveChunk(id, index: ChunkIndex(0), expected: ExpectedDigests(), body: SampleFile.body([file.chunk(0)]))
            } throws: { error in
                guard case .chunkBusy(ChunkIndex(0))? = error as? UploadError else { return false }
                return true
            }
            continuation.yield(ByteBuffer(bytes: bytes(100..<file.chunkSize)))
            continuation.finish()
            #expect(try await append.value.verified == [ChunkIndex(0)])
        }
    }

    @Test func anAuditThatFindsAChunkCorruptMovesTheOffsetBackToIt() async throws {
        try await withStore { store, id, _ in
            _ = try await store.append(id, at: 0, checksum: nil, body: SampleFile.body([bytes(0..<(2 * file.chunkSize + 10))]))
            let data = try FileHandle(forWritingTo: URL(fileURLWithPath: store.dataPath(id).string))
            try data.seek(toOffset: UInt64(file.chunkSize + 3))
            try data.write(contentsOf: [file.bytes[file.chunkSize + 3] ^ 0xFF])
            try data.close()
            let report = try await store.audit(id)
            #expect(report.corrupt == [ChunkIndex(1)])
            #expect(try await store.snapshot(id).map.appendOffset == Int64(file.chunkSize))
            // The client appends from there and the chunk is mended.
            let receipt = try await store.append(id, at: Int64(file.chunkSize), checksum: nil, body: SampleFile.body([bytes(file.chunkSize..<file.length)]))
            #expect(receipt.isFull)
            #expect(try await store.complete(id, sha256: file.sha256).state == .complete)
        }
    }

    @Test func aChunkPutIntoTheChunkAnAppendHalfFilledMovesTheOffsetBackToItsStart() async throws {
        try await withStore { store, id, _ in
            let cut = file.chunkSize + 5000
            _ = try? await store.append(id, at: 0, checksum: nil, body: SampleFile.body([bytes(0..<cut)], thenThrow: FileUploadStoreTests.ClientWentAway()))
            // A PUT of chunk 1 that fails half-way has overwritten the appended part.
            var junk = file.chunk(1)
            for position in 0..<6000 { junk[position] ^= 0x5A }
            _ = try? await store.receiveChunk(
                id, index: ChunkIndex(1), expected: ExpectedDigests(),
                body: SampleFile.body([Array(junk[..<6000])], thenThrow: FileUploadStoreTests.ClientWentAway()))
            #expect(try await store.snapshot(id).map.appendOffset == Int64(file.chunkSize), "the append resumes where its bytes are intact")
            let receipt = try await store.append(id, at: Int64(file.chunkSize), checksum: nil, body: SampleFile.body([bytes(file.chunkSize..<file.length)]))
            #expect(receipt.isFull)
            try await expectVerifiedChunksHoldTheirBytes(store, id)
            #expect(try await store.complete(id, sha256: file.sha256).state == .complete)
        }
    }

    /// Each crash point of an append, reached by the second chunk: the map
    /// then says what a crash there leaves (the process's page cache
    /// survives it), and appending the rest from the offset completes.
    @Test(arguments: CrashPoint.inAppend)
    func aCrashInsideAnAppendLeavesTheOffsetAtMostWhatWasStored(_ point: CrashPoint) async throws {
        let root = try TemporaryDirectory()
        defer { root.remove() }
        let directory = FilePath(root.path("data"))
        let crashing = try FileUploadStore(options: .init(directory: directory, fsync: true, crashProbe: StopAtCrashPoint(point, occurrence: 2)))
        let id = try await crashing.create(
            length: ByteCount(Int64(file.length)), chunkSize: ByteCount(Int64(file.chunkSize)), expectedSHA256: nil, metadata: ""
        ).id
        await #expect(throws: CrashPointReached.self) {
            _ = try await crashing.append(id, at: 0, checksum: nil, body: SampleFile.body([file.bytes]))
        }
        let restarted = try FileUploadStore(options: .init(directory: directory, fsync: true))
        let map = try await restarted.snapshot(id).map
        // Chunk 0 was committed whole; chunk 1's entry counts once it is written.
        let entryWritten = point == .afterAppendEntry || point == .afterAppendOffset
        #expect(map.verifiedCount == (entryWritten ? 2 : 1), "verified after a crash \(point.rawValue)")
        #expect(map.appendOffset == Int64((entryWritten ? 2 : 1) * file.chunkSize), "offset after a crash \(point.rawValue)")
        try await expectVerifiedChunksHoldTheirBytes(restarted, id)
        let rest = Int(map.appendOffset)..<file.length
        #expect(try await restarted.append(id, at: map.appendOffset, checksum: nil, body: SampleFile.body([bytes(rest)])).isFull)
        #expect(try await restarted.complete(id, sha256: file.sha256).state == .complete)
    }
}

/// Ends the store's work at the N-th pass of one point, as a crash would.
final class StopAtCrashPoint: CrashProbe {
    let point: CrashPoint
    let occurrence: Int
    private let reached = Locked(0)

    init(_ point: CrashPoint, occurrence: Int) {
        self.point = point
        self.occurrence = occurrence
    }

    func passing(_ point: CrashPoint) throws(CrashPointReached) {
        guard point == self.point else { return }
        let count = reached.withLock { count -> Int in
            count += 1
            return count
        }
        if count == occurrence { throw CrashPointReached(point) }
    }
}
