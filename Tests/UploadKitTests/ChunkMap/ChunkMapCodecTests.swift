import Foundation
import Testing
import UploadKit

@Suite struct ChunkMapCodecTests {
    static func sampleMap() throws -> ChunkMap {
        let layout = try ChunkLayout(fileSize: ByteCount(4 * 65_536 + 1000), chunkSize: .kibibytes(64))
        return ChunkMap(
            header: ChunkMapHeader(
                layout: layout, createdAt: Timestamp(millisecondsSinceEpoch: 1_790_000_000_123),
                expectedSHA256: SHA256Hasher.hash(Array("expected".utf8)), metadata: "filename aGVsbG8udHh0"),
            status: ChunkMapStatus(
                state: .damaged, sha256: SHA256Hasher.hash(Array("x".utf8)), updatedAt: Timestamp(millisecondsSinceEpoch: 1_790_000_000_456)),
            chunks: [.verified(XXH3Digest(1)), .missing, .corrupt(expected: XXH3Digest(3)), .verified(XXH3Digest(UInt64.max)), .verified(XXH3Digest(0))])
    }

    @Test func aMapRoundTripsThroughItsBytes() throws {
        let map = try Self.sampleMap()
        #expect(try ChunkMapCodec.decode(ChunkMapCodec.encode(map)) == map)
    }

    @Test func anEmptyFilesMapRoundTrips() throws {
        let map = ChunkMap(layout: try ChunkLayout.automatic(fileSize: ByteCount(0)), digests: [], sha256: SHA256Hasher.hash([UInt8]()))
        #expect(try ChunkMapCodec.decode(ChunkMapCodec.encode(map)) == map)
    }

    @Test func theFormatStartsWithItsMagicAndVersion() throws {
        let bytes = ChunkMapCodec.encode(try Self.sampleMap())
        #expect(Array(bytes[0..<8]) == [0x89, 0x55, 0x56, 0x4D, 0x41, 0x50, 0x0D, 0x0A])
        #expect(Array(bytes[8..<10]) == [0, 2])
        // header 128 + status 64 + metadata padded to 32 + 5 entries of 16
        #expect(bytes.count == 128 + 64 + 32 + 5 * 16)
    }

    @Test func aForeignFileIsRefused() {
        #expect(throws: ChunkMapError.notAChunkMap) { try ChunkMapCodec.decode(Array("hello, world".utf8)) }
    }

    @Test func aDamagedHeaderIsRefused() throws {
        var bytes = ChunkMapCodec.encode(try Self.sampleMap())
        bytes[30] ^= 0x01  // inside the file size
        #expect(throws: ChunkMapError.damagedHeader("its check does not match its bytes")) { try ChunkMapCodec.decode(bytes) }
    }

    @Test func anotherVersionIsRefusedByName() throws {
        var bytes = ChunkMapCodec.encode(try Self.sampleMap())
        bytes[9] = 3
        #expect(throws: ChunkMapError.unsupportedVersion(3)) { try ChunkMapCodec.decode(bytes) }
    }

    @Test func theAppendOffsetRoundTripsInTheStatusRecord() throws {
        var map = try Self.sampleMap()
        map.status.appendOffset = 123_456
        #expect(try ChunkMapCodec.decode(ChunkMapCodec.encode(map)).status.appendOffset == 123_456)
    }

    @Test func aRecordedOffsetIsTrustedOnlyOverVerifiedWholeChunks() throws {
        let layout = try ChunkLayout(fileSize: ByteCount(2 * 65_536 + 100), chunkSize: .kibibytes(64))
        func offset(_ recorded: Int64, _ chunks: [ChunkState]) -> Int64 {
            ChunkMap(header: ChunkMapHeader(layout: layout), status: ChunkMapStatus(state: .receiving, appendOffset: recorded), chunks: chunks).appendOffset
        }
        let v = ChunkState.verified(XXH3Digest(1))
        #expect(offset(70_000, [v, .missing, .missing]) == 70_000, "inside the first chunk not verified")
        #expect(offset(70_000, [.corrupt(expected: XXH3Digest(1)), .missing, .missing]) == 0, "past a chunk marked corrupt")
        #expect(offset(0, [v, v, .missing]) == 131_072, "chunks sent whole count")
        #expect(offset(2 * 65_536 + 100, [v, v, .missing]) == 131_072, "never the end while the short last chunk is missing")
        #expect(offset(2 * 65_536 + 100, [v, v, v]) == 2 * 65_536 + 100)
    }

    /// A map written by version 1 (checked in, as that version wrote it)
    /// still reads: its entries, its status, and an append offset of 0.
    @Test func aVersion1MapStillReads() throws {
        let bytes = [UInt8](try Data(contentsOf: fixturesDirectory.appendingPathComponent("several-chunks.bin.v1.chunkmap")))
        #expect(Array(bytes[8..<10]) == [0, 1])
        let map = try ChunkMapCodec.decode(bytes)
        #expect(map.layout.fileSize.bytes == 263_144 && map.layout.chunkCount == 1)
        #expect(map.verifiedCount == 1)
        #expect(map.status.appendOffset == 0)
        #expect(map.appendOffset == map.layout.fileSize.bytes)
    }

    @Test func aTruncatedMapIsRefused() throws {
        let bytes = ChunkMapCodec.encode(try Self.sampleMap())
        #expect(throws: ChunkMapError.truncated(expectedBytes: Int64(bytes.count), actualBytes: Int64(bytes.count - 1))) {
            try ChunkMapCodec.decode(Array(bytes.dropLast()))
        }
    }

    @Test func damagedMetadataIsRefused() throws {
        var bytes = ChunkMapCodec.encode(try Self.sampleMap())
        bytes[192] ^= 0x20
        #expect(throws: ChunkMapError.damagedHeader("its metadata does not match the metadata check")) { try ChunkMapCodec.decode(bytes) }
    }

    @Test func aTornEntryReadsAsMissing() throws {
        let map = try Self.sampleMap()
        var bytes = ChunkMapCodec.encode(map)
        let entry0 = 128 + 64 + 32
        bytes[entry0 + 3] ^= 0x40  // inside chunk 0's digest
        let decoded = try ChunkMapCodec.decode(bytes)
        #expect(decoded.chunks[0] == .missing)
        #expect(Array(decoded.chunks[1...]) == Array(map.chunks[1...]))
    }

    @Test func anEntryCopiedToAnotherSlotReadsAsMissing() throws {
        var bytes = ChunkMapCodec.encode(try Self.sampleMap())
        let entry0 = 128 + 64 + 32
        bytes.replaceSubrange(entry0 + 16..<entry0 + 32, with: bytes[entry0..<entry0 + 16])
        #expect(try ChunkMapCodec.decode(bytes).chunks[1] == .missing)
    }

    @Test func aBlankEntryReadsAsMissing() throws {
        var bytes = ChunkMapCodec.encode(try Self.sampleMap())
        let entry3 = 128 + 64 + 32 + 3 * 16
        bytes.replaceSubrange(entry3..<entry3 + 16, with: [UInt8](repeating: 0, count: 16))
        #expect(try ChunkMapCodec.decode(bytes).chunks[3] == .missing)
    }

    @Test func aDamagedStatusReadsAsReceivingWithoutSHA256() throws {
        let map = try Self.sampleMap()
        var bytes = ChunkMapCodec.encode(map)
        bytes[128 + 20] ^= 0x01  // inside the confirmed SHA-256
        let status = try ChunkMapCodec.decode(bytes).status
        #expect(status.state == .receiving)
        #expect(status.sha256 == nil)
    }

    @Test func decodingAnyPrefixOrSingleByteChangeThrowsOrSucceedsButNeverTraps() throws {
        let bytes = ChunkMapCodec.encode(try Self.sampleMap())
        for length in 0..<bytes.count {
            _ = try? ChunkMapCodec.decode(Array(bytes[0..<length]))
        }
        for position in 0..<bytes.count {
            var damaged = bytes
            damaged[position] ^= 0xFF
            if let map = try? ChunkMapCodec.decode(damaged), position >= 128 + 64 + 32 {
                // Damage to an entry never makes it verified with another digest.
                let index = (position - (128 + 64 + 32)) / 16
                #expect(map.chunks[index] == .missing)
            }
        }
    }
}
