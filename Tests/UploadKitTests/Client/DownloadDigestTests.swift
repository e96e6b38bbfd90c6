import SystemPackage
import Testing

@testable import UploadKit

@Suite struct DownloadDigestTests {
    static let chunkSize = 64 << 10
    static let chunkCount = 8

    /// A file of `chunkCount` chunks on disk holding `onDisk`, and the
    /// digests of `bytes`, the bytes the server has.
    struct Fixture {
        let directory: TemporaryDirectory
        let file: OwnedDescriptor
        let layout: ChunkLayout
        let bytes: [UInt8]
        let buffers = ChunkBuffers(chunkSize: DownloadDigestTests.chunkSize)

        init(onDisk: [UInt8]? = nil) throws {
            directory = try TemporaryDirectory()
            bytes = pseudoRandomBytes(DownloadDigestTests.chunkSize * DownloadDigestTests.chunkCount - 1000)
            let path = try directory.write(onDisk ?? bytes, to: "download.bin")
            file = try OwnedDescriptor.open(FilePath(path), .readOnly)
            layout = try ChunkLayout(fileSize: ByteCount(Int64(bytes.count)), chunkSize: ByteCount(Int64(DownloadDigestTests.chunkSize)))
        }

        var expected: [XXH3Digest] { layout.indices.map { XXH3Hasher.hash(Array(bytes[chunk($0)])) } }

        func chunk(_ index: ChunkIndex) -> Range<Int> {
            let range = layout.range(of: index)
            return Int(range.offset)..<Int(range.end)
        }

        func digest(concurrency: Int) -> DownloadDigest {
            DownloadDigest(file: file, layout: layout, expected: expected, buffers: buffers, concurrency: concurrency)
        }

        /// Chunk `index`'s bytes in a buffer of the pool, as a fetch leaves them.
        func buffer(_ index: ChunkIndex) -> ChunkBuffer {
            let buffer = buffers.take()
            let slice = bytes[chunk(index)]
            slice.withUnsafeBytes { buffer.memory.copyMemory(from: $0) }
            buffer.count = slice.count
            return buffer
        }

        var sha256: SHA256Digest {
            let hasher = SHA256Hasher()
            hasher.update(bytes)
            return hasher.finalize()
        }

        func remove() {
            try? file.close()
            directory.remove()
        }
    }

    @Test func chunksWrittenInOrderHashToTheFilesSHA256() async throws {
        let fixture = try Fixture()
        defer { fixture.remove() }
        let digest = fixture.digest(concurrency: 3)
        let hashing = Task { try await digest.run() }
        for index in fixture.layout.indices { await digest.written(index, from: fixture.buffer(index)) }
        digest.finish()
        let result = try #require(try await hashing.value)
        #expect(result.sha256 == fixture.sha256)
        #expect(result.findings.isEmpty)
    }

    /// The file on disk holds zeros: a chunk hashed from the disk instead of
    /// its buffer would be a finding and give another SHA-256.
    @Test func aChunkFollowingTheHeldOnesWaitsForRoomAndIsHashedFromItsBuffer() async throws {
        let fixture = try Fixture(onDisk: Array(repeating: 0, count: Self.chunkSize * Self.chunkCount - 1000))
        defer { fixture.remove() }
        let digest = fixture.digest(concurrency: 1)
        #expect(digest.limit == 1)
        await digest.written(ChunkIndex(0), from: fixture.buffer(ChunkIndex(0)))
        // Nothing hashes yet: chunk 1 finds no room, and no gap before it.
        let handedIn = Locked(false)
        let second = fixture.buffer(ChunkIndex(1))
        let writer = Task {
            await digest.written(ChunkIndex(1), from: second)
            handedIn.withLock { $0 = true }
        }
        try await Task.sleep(for: .milliseconds(100))
        #expect(handedIn.withLock { $0 } == false)
        let hashing = Task { try await digest.run() }
        await writer.value
        for index in fixture.layout.indices.dropFirst(2) { await digest.written(index, from: fixture.buffer(index)) }
        digest.finish()
        let result = try #require(try await hashing.value)
        #expect(result.findings.isEmpty)
        #expect(result.sha256 == fixture.sha256)
    }

    @Test func chunksAheadOfAGapBeyondTheLimitAreReadBackFromTheDisk() async throws {
        let fixture = try Fixture()
        defer { fixture.remove() }
        let digest = fixture.digest(concurrency: 1)
        // Chunk 0 last: one chunk is held, the others are given back and read back.
        for index in fixture.layout.indices.reversed() { await digest.written(index, from: fixture.buffer(index)) }
        let hashing = Task { try await digest.run() }
        digest.finish()
        let result = try #require(try await hashing.value)
        #expect(result.findings.isEmpty)
        #expect(result.sha256 == fixture.sha256)
    }

    @Test func aKeptChunkThatNoLongerHasItsDigestIsAFinding() async throws {
        var damaged = pseudoRandomBytes(Self.chunkSize * Self.chunkCount - 1000)
        damaged[Self.chunkSize * 2 + 7] ^= 0xFF
        let fixture = try Fixture(onDisk: damaged)
        defer { fixture.remove() }
        let digest = fixture.digest(concurrency: 3)
        for index in fixture.layout.indices { digest.kept(index) }
        let hashing = Task { try await digest.run() }
        digest.finish()
        let result = try #require(try await hashing.value)
        let expected = fixture.expected[2]
        #expect(result.findings.map(\.chunk?.index) == [ChunkIndex(2)])
        guard case .corrupt(_, let range, let recorded, _) = result.findings.first else {
            Issue.record("not a corrupt chunk: \(result.findings)")
            return
        }
        #expect(range == fixture.layout.range(of: ChunkIndex(2)))
        #expect(recorded == expected)
    }

    @Test func aDownloadThatEndsWithChunksNotWrittenHasNoDigest() async throws {
        let fixture = try Fixture()
        defer { fixture.remove() }
        let digest = fixture.digest(concurrency: 3)
        let hashing = Task { try await digest.run() }
        await digest.written(ChunkIndex(0), from: fixture.buffer(ChunkIndex(0)))
        await digest.written(ChunkIndex(2), from: fixture.buffer(ChunkIndex(2)))
        digest.finish()
        let result = try await hashing.value
        #expect(result == nil)
    }

    @Test func heldChunksTakeAtMost64MiBWhateverTheChunkSize() throws {
        let fixture = try Fixture()
        defer { fixture.remove() }
        let big = ChunkBuffers(chunkSize: 32 << 20)
        let digest = DownloadDigest(file: fixture.file, layout: fixture.layout, expected: fixture.expected, buffers: big, concurrency: 8)
        #expect(digest.limit == 2)
    }
}
