import Foundation
import SystemPackage
import Testing
import UploadKit

/// The `.parity` file: what it records, and every way one that is not this
/// file's parity is refused before anything is written.
@Suite struct ParityFileTests {
    @Test func theHeaderRecordsTheFileItProtects() throws {
        let sample = try ParitySample.make()
        defer { sample.remove() }
        let parity = try ParityFile.open(FilePath(sample.parityPath))
        defer { try? parity.close() }
        #expect(parity.header.layout == sample.layout)
        #expect(parity.header.sha256 == SHA256Hasher.hash(sample.bytes))
        #expect(parity.header.mapIdentity == ParityHeader.mapIdentity(of: sample.map))
        #expect(parity.mismatch(with: sample.map) == nil)
        #expect(sample.parityBytes.count == Int(parity.header.fileLength))
        #expect(Array(sample.parityBytes.prefix(8)) == ParityFormat.magic)
        #expect(try parity.damagedShards().isEmpty)
        // The shards start on a 4 KiB boundary after the header and the table.
        #expect(parity.header.shardsOffset == 4096)
    }

    @Test func theCodecRoundTripsAndEveryHeaderByteIsChecked() throws {
        let sample = try ParitySample.make()
        defer { sample.remove() }
        let decoded = try ParityCodec.decode(sample.parityBytes)
        #expect(ParityCodec.encode(decoded.header, shardDigests: decoded.shardDigests) == Array(sample.parityBytes.prefix(4096)))
        for offset in 0..<(128 + 8 * sample.layout.shardCount) {
            var damaged = sample.parityBytes
            damaged[offset] ^= 0x01
            #expect(throws: ParityError.self, "byte \(offset) flipped") { try ParityCodec.decode(damaged) }
        }
    }

    @Test func aMissingParityFileIsAnOpenError() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        do {
            _ = try ParityFile.open(FilePath(directory.path("nothing.parity")))
            Issue.record("a missing parity file opened")
        } catch let thrown {
            guard case .io(let error)? = thrown as? ParityFileError else {
                Issue.record("\(thrown)")
                return
            }
            #expect(error.errno == .noSuchFileOrDirectory)
        }
    }

    @Test(arguments: [50, 4096 + 1000, ParitySample.standardSize / 20])
    func aTruncatedParityFileIsRefused(length: Int) throws {
        let sample = try ParitySample.make()
        defer { sample.remove() }
        try FileHandle(forWritingTo: URL(fileURLWithPath: sample.parityPath)).truncate(atOffset: UInt64(length))
        do {
            _ = try ParityFile.open(FilePath(sample.parityPath))
            Issue.record("a truncated parity file opened")
        } catch let thrown {
            guard case .invalid(_, let error)? = thrown as? ParityFileError else {
                Issue.record("\(thrown)")
                return
            }
            guard case .truncated = error else {
                Issue.record("\(error) instead of truncated")
                return
            }
            #expect("\(error)".contains("truncated"))
        }
    }

    @Test func bytesAfterTheLastShardAreRefused() throws {
        let sample = try ParitySample.make()
        defer { sample.remove() }
        try ParitySample.overwrite(sample.parityPath, at: sample.parityBytes.count, with: [0])
        #expect(throws: ParityFileError.self) { try ParityFile.open(FilePath(sample.parityPath)) }
    }

    @Test func aFileThatIsNotAParityFileIsRefused() throws {
        let sample = try ParitySample.make()
        defer { sample.remove() }
        do {
            _ = try ParityFile.open(FilePath(sample.mapPath))
            Issue.record("a chunk map opened as a parity file")
        } catch let thrown {
            guard case .invalid(_, let error)? = thrown as? ParityFileError else {
                Issue.record("\(thrown)")
                return
            }
            #expect(error == .notAParityFile)
        }
    }

    @Test func anotherFilesParityIsRefusedAsForeignAndNothingIsHealed() throws {
        let sample = try ParitySample.make()
        defer { sample.remove() }
        let other = try ParitySample.make(size: 3 << 20, seed: 99, name: "other", in: sample.directory)
        try FileManager.default.removeItem(atPath: sample.parityPath)
        try FileManager.default.copyItem(atPath: other.parityPath, toPath: sample.parityPath)
        try sample.flipByte(ofChunk: 4)
        let before = try sample.dataOnDisk()
        do {
            _ = try sample.heal()
            Issue.record("another file's parity was used")
        } catch let thrown {
            guard case .mismatch(_, let mismatch)? = thrown as? ParityFileError else {
                Issue.record("\(thrown)")
                return
            }
            guard case .otherFile = mismatch else {
                Issue.record("\(mismatch) instead of another file")
                return
            }
            #expect("\(mismatch)".contains("another file"))
        }
        #expect(try sample.dataOnDisk() == before)
    }

    @Test func theParityOfAnOlderVersionIsRefusedOnceTheFileIsMappedAgain() throws {
        let sample = try ParitySample.make()
        defer { sample.remove() }
        // The file changes on purpose and is mapped again, without parity.
        var changed = sample.bytes
        changed[70_000] ^= 0xFF
        _ = try sample.directory.write(changed, to: "data")
        let file = try openForReading(sample.path)
        let scan = try FileScan.scan(file, layout: sample.layout.chunks, computeSHA256: true)
        try file.close()
        let newMap = ChunkMap(layout: sample.layout.chunks, digests: scan.chunkDigests, sha256: scan.sha256)
        try ChunkMapFile.write(newMap, to: FilePath(sample.mapPath))
        let parity = try ParityFile.open(FilePath(sample.parityPath), writable: true)
        defer { try? parity.close() }
        #expect(parity.mismatch(with: newMap) == .otherContents)
        #expect("\(ParityMismatch.otherContents)".contains("older version"))
        let data = try OwnedDescriptor.open(FilePath(sample.path), .readWrite)
        defer { try? data.close() }
        #expect(throws: ParityFileError.self) { try ParityHealer().heal(data, map: newMap, parity: parity) }
        #expect(try sample.dataOnDisk() == changed)
    }

    @Test func aMapWithChunksWithoutDigestsCannotBeHealedAgainst() throws {
        let sample = try ParitySample.make()
        defer { sample.remove() }
        var map = sample.map
        map[ChunkIndex(3)] = .missing
        let parity = try ParityFile.open(FilePath(sample.parityPath))
        defer { try? parity.close() }
        #expect(parity.mismatch(with: map) == .incompleteMap(chunksWithoutDigest: 1))
    }

    @Test func aParityOfAnEmptyFileHasNoShards() throws {
        let sample = try ParitySample.make(size: 0)
        defer { sample.remove() }
        #expect(sample.layout.stripeCount == 0)
        #expect(sample.parityBytes.count == 4096)
        let outcome = try sample.heal()
        #expect(outcome.sha256 == SHA256Hasher.hash([UInt8]()))
    }
}
