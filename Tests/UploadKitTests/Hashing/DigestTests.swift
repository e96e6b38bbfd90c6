import Testing
import UploadKit

@Suite struct DigestTests {
    // Values printed by `xxhsum -H3` and `sha256sum` for the same bytes.
    @Test func xxh3OfKnownInputsMatchesXxhsum() {
        #expect(XXH3Hasher.hash([UInt8]()).description == "2d06800538d394c2")
        #expect(XXH3Hasher.hash(Array("abc".utf8)).description == "78af5f94892f3950")
    }

    @Test func sha256OfKnownInputsMatchesSha256sum() {
        #expect(SHA256Hasher.hash([UInt8]()).description == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256Hasher.hash(Array("abc".utf8)).description == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    @Test(arguments: [1, 7, 4096, 100_000])
    func streamingXXH3EqualsOneShot(pieceSize: Int) {
        let bytes = pseudoRandomBytes(300_000)
        let hasher = XXH3Hasher()
        for start in stride(from: 0, to: bytes.count, by: pieceSize) {
            hasher.update(bytes[start..<min(start + pieceSize, bytes.count)])
        }
        #expect(hasher.digest() == XXH3Hasher.hash(bytes))
    }

    @Test func streamingSHA256EqualsOneShot() {
        let bytes = pseudoRandomBytes(300_000)
        let hasher = SHA256Hasher()
        for start in stride(from: 0, to: bytes.count, by: 777) {
            hasher.update(bytes[start..<min(start + 777, bytes.count)])
        }
        let streamed = hasher.finalize()
        #expect(streamed == SHA256Hasher.hash(bytes))
    }

    @Test func xxh3DigestRoundTripsThroughHexAndCanonicalBytes() throws {
        let digest = try XXH3Digest(hex: "78AF5F94892F3950")
        #expect(digest.value == 0x78AF_5F94_892F_3950)
        #expect(digest.bigEndianBytes == [0x78, 0xAF, 0x5F, 0x94, 0x89, 0x2F, 0x39, 0x50])
        #expect(XXH3Digest(bigEndianBytes: digest.bigEndianBytes) == digest)
        #expect(digest.description == "78af5f94892f3950")
    }

    @Test(arguments: ["", "abc", String(repeating: "0", count: 63), String(repeating: "0", count: 65)])
    func sha256HexOfTheWrongLengthIsRefused(text: String) {
        #expect(throws: DigestParseError.wrongLength(text, expectedDigits: 64)) { try SHA256Digest(hex: text) }
    }

    @Test func sha256HexWithNonHexCharactersIsRefused() {
        let text = String(repeating: "g", count: 64)
        #expect(throws: DigestParseError.notHex(text)) { try SHA256Digest(hex: text) }
    }

    @Test func xxh3HexWithNonASCIIIsRefused() {
        #expect(throws: DigestParseError.self) { try XXH3Digest(hex: "７８af5f94892f395") }
    }
}
