import Testing
import UploadKit

@Suite struct UploadStatusTests {
    func headers(chunks: String, complete: String = "?0") -> [String: String] {
        [
            "upload-length": "\(3 * 65_536 + 5)", "upload-chunk-size": "65536", "upload-offset": "65536",
            "upload-received": "131072", "upload-chunks": chunks, "upload-complete": complete,
        ]
    }

    @Test func theBitmapsFirstBitIsChunkZero() throws {
        // 0b1010_0000: chunks 0 and 2 verified.
        let status = try UploadStatus(headers: headers(chunks: ":oA==:"))
        #expect(status.bitmap[ChunkIndex(0)])
        #expect(!status.bitmap[ChunkIndex(1)])
        #expect(status.bitmap[ChunkIndex(2)])
        #expect(!status.bitmap[ChunkIndex(3)])
        #expect(status.verifiedChunks == 2)
        #expect(status.missingRanges == [ByteRange(offset: 65_536, length: 65_536), ByteRange(offset: 3 * 65_536, length: 5)])
    }

    @Test(arguments: ["", "oA==", ":!!:", ":oKA=:"])
    func aMalformedBitmapIsABadAnswer(chunks: String) {
        #expect(throws: ClientError.self) { try UploadStatus(headers: headers(chunks: chunks)) }
    }

    @Test func aMissingLengthIsABadAnswer() {
        var fields = headers(chunks: ":oA==:")
        fields["upload-length"] = nil
        #expect(throws: ClientError.self) { try UploadStatus(headers: fields) }
    }
}
