import Testing
import UploadKit

@Suite struct HandshakeFieldsTests {
    func headers(chunks: String, complete: String = "?0") -> [String: String] {
        [
            "upload-length": "\(3 * 65_536 + 5)", "upload-chunk-size": "65536", "upload-offset": "65536",
            "upload-received": "131072", "upload-chunks": chunks, "upload-complete": complete,
        ]
    }

    @Test func theBitmapsFirstBitIsChunkZero() throws {
        // 0b1010_0000: chunks 0 and 2 verified.
        let status = try Handshake(headers: headers(chunks: ":oA==:"))
        #expect(status.bitmap[ChunkIndex(0)])
        #expect(!status.bitmap[ChunkIndex(1)])
        #expect(status.bitmap[ChunkIndex(2)])
        #expect(!status.bitmap[ChunkIndex(3)])
        #expect(status.verifiedChunks == 2)
        #expect(status.missingRanges == [ByteRange(offset: 65_536, length: 65_536), ByteRange(offset: 3 * 65_536, length: 5)])
    }

    @Test(arguments: ["", "oA==", ":!!:", ":oKA=:"])
    func aMalformedBitmapIsABadAnswer(chunks: String) {
        #expect(throws: HandshakeError.self) { try Handshake(headers: headers(chunks: chunks)) }
    }

    @Test func aMissingLengthIsABadAnswer() {
        var fields = headers(chunks: ":oA==:")
        fields["upload-length"] = nil
        #expect(throws: HandshakeError.self) { try Handshake(headers: fields) }
    }

    @Test func whatTheServerWritesTheClientReadsBack() throws {
        let layout = try ChunkLayout(fileSize: ByteCount(3 * 65_536 + 5), chunkSize: .kibibytes(64))
        let map = ChunkMap(
            header: ChunkMapHeader(layout: layout),
            status: ChunkMapStatus(state: .receiving),
            chunks: [.verified(XXH3Digest(1)), .missing, .verified(XXH3Digest(3)), .corrupt(expected: XXH3Digest(4))])
        let written = Handshake(map: map)
        #expect(try Handshake(fields: written.fields) == written)
        #expect(written.offset == 65_536 && written.received == 2 * 65_536 && !written.isComplete)
    }
}
