import Synchronization
import Testing
import UploadKit

@Suite struct FileScanTests {
    /// A file of five and a bit 64 KiB chunks, and what each chunk hashes to.
    static func sample(in directory: TemporaryDirectory) throws -> (path: String, bytes: [UInt8], layout: ChunkLayout) {
        let bytes = pseudoRandomBytes(5 * 65_536 + 777)
        let path = try directory.write(bytes, to: "data")
        return (path, bytes, try ChunkLayout(fileSize: ByteCount(Int64(bytes.count)), chunkSize: .kibibytes(64)))
    }

    static func expectedDigests(_ bytes: [UInt8], _ layout: ChunkLayout) -> [XXH3Digest] {
        layout.indices.map { index in
            let range = layout.range(of: index)
            return XXH3Hasher.hash(bytes[Int(range.offset)..<Int(range.end)])
        }
    }

    @Test(arguments: [true, false], [4096, 65_536, 100_000, 2 << 20])
    func everyChunkDigestIsRightWhateverTheBlockSize(computeSHA256: Bool, blockSize: Int) throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let (path, bytes, layout) = try Self.sample(in: directory)
        let file = try openForReading(path)
        let result = try FileScan.scan(file, layout: layout, computeSHA256: computeSHA256, blockSize: blockSize)
        #expect(result.chunkDigests == Self.expectedDigests(bytes, layout))
        #expect(result.sha256 == (computeSHA256 ? SHA256Hasher.hash(bytes) : nil))
    }

    @Test func progressReachesTheFileSize() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let (path, bytes, layout) = try Self.sample(in: directory)
        let last = Locked<Int64>(0)
        _ = try FileScan.scan(try openForReading(path), layout: layout, computeSHA256: true, blockSize: 65_536) { done in
            last.withLock { $0 = max($0, done) }
        }
        #expect(last.withLock { $0 } == Int64(bytes.count))
    }

    @Test(arguments: [true, false])
    func aFileShorterThanItsLayoutIsAnErrorNotAWrongDigest(computeSHA256: Bool) throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = try directory.write(pseudoRandomBytes(100_000), to: "short")
        let layout = try ChunkLayout(fileSize: ByteCount(200_000), chunkSize: .kibibytes(64))
        #expect {
            try FileScan.scan(try openForReading(path), layout: layout, computeSHA256: computeSHA256)
        } throws: { error in
            guard case .endedEarly(_, let expected, let actual) = error as? FileScanError else { return false }
            return expected == 200_000 && actual <= 100_000
        }
    }

    @Test func scanningDoesNotLeakDescriptorsOrThreads() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let (path, _, layout) = try Self.sample(in: directory)
        let before = openDescriptorCount()
        for round in 0..<200 {
            let file = try openForReading(path)
            _ = try FileScan.scan(file, layout: layout, computeSHA256: round % 2 == 0)
            try file.close()
        }
        // Other tests run in parallel and open files too: a leak here would add hundreds.
        #expect(openDescriptorCount() < before + 50)
    }
}

extension FileScanTests {
    /// Whatever was hashed before (whole chunks, part of one, all, nothing),
    /// carrying it on gives the whole file's SHA-256 and every chunk's XXH3.
    /// (Whole chunks are read apart, on two threads, for their XXH3 only.)
    @Test(arguments: [0, 1, 65_536, 100_000, 3 * 65_536, 5 * 65_536, 5 * 65_536 + 777], [65_536, 2 << 20])
    func carryingOnAPartialSHA256GivesTheWholeFilesDigest(hashedBefore: Int, blockSize: Int) throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let (path, bytes, layout) = try Self.sample(in: directory)
        let partial = PartialSHA256()
        bytes[..<hashedBefore].withUnsafeBytes { partial.update($0) }
        let result = try FileScan.scan(try openForReading(path), layout: layout, computeSHA256: true, continuing: partial, blockSize: blockSize)
        #expect(result.sha256 == SHA256Hasher.hash(bytes))
        #expect(result.chunkDigests == Self.expectedDigests(bytes, layout))
    }
}
