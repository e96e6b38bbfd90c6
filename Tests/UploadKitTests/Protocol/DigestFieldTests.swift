import Foundation
import Testing
import UploadKit

/// RFC 9530 `Content-Digest` / `Repr-Digest`: a structured-field dictionary of
/// byte sequences, parsed with swift-http-structured-headers.
@Suite struct DigestFieldTests {
    static let bytes = pseudoRandomBytes(1000)
    static let xxh3 = XXH3Hasher.hash(bytes)
    static let sha256 = SHA256Hasher.hash(bytes)
    static var xxh3Base64: String { Data(xxh3.bigEndianBytes).base64EncodedString() }
    static var sha256Base64: String { Data(sha256.bytes).base64EncodedString() }

    @Test func anXXH3DigestIsItsEightCanonicalBytesInBase64() throws {
        let value = "xxh3=:\(Self.xxh3Base64):"
        let field = try DigestField.parse(value)
        #expect(field.xxh3 == Self.xxh3)
        #expect(field.sha256 == nil)
        #expect(field.headerValue == value)
    }

    @Test func aSHA256DigestRoundTripsThroughItsHeaderValue() throws {
        let value = "sha-256=:\(Self.sha256Base64):"
        let field = try DigestField.parse(value)
        #expect(field.sha256 == Self.sha256)
        #expect(field.xxh3 == nil)
        #expect(field.headerValue == value)
    }

    @Test func bothDigestsTogetherRoundTrip() throws {
        let field = DigestField(sha256: Self.sha256, xxh3: Self.xxh3)
        #expect(try DigestField.parse(field.headerValue) == field)
        #expect(try DigestField.parse("xxh3=:\(Self.xxh3Base64):, sha-256=:\(Self.sha256Base64):") == field)
    }

    @Test func unknownKeysAreIgnored() throws {
        let field = try DigestField.parse("md5=:AAAAAAAAAAAAAAAAAAAAAA==:, unixsum=42, xxh3=:\(Self.xxh3Base64):, foo")
        #expect(field == DigestField(xxh3: Self.xxh3))
    }

    @Test func aFieldOfOnlyUnknownKeysIsEmpty() throws {
        #expect(try DigestField.parse("sha-512=:AAAA:").isEmpty)
    }

    @Test(arguments: [
        "xxh3=:AAAAAAAAAAA=",  // unterminated byte sequence
        ":AAAAAAAAAAA=:",  // a bare item, not a dictionary
        "xxh3=:AAAAAAAAAAA=:;;",
        "XXH3=:AAAAAAAAAAA=:",  // keys are lowercase
        "xxh3=:AAAAAAAAAAA=: sha-256",
        "xxh3 :AAAAAAAAAAA=:",
        "=:AAAAAAAAAAA=:",
    ])
    func aValueThatIsNotADictionaryIsMalformed(_ value: String) {
        #expect(throws: DigestFieldError.malformed(value)) { try DigestField.parse(value) }
    }

    @Test(arguments: [
        ("xxh3=\"0011223344556677\"", "xxh3"),  // a string, not bytes
        ("xxh3=42", "xxh3"),
        ("xxh3", "xxh3"),  // a boolean
        ("xxh3=(:AAAAAAAAAAA=:)", "xxh3"),  // an inner list
        ("sha-256=abc", "sha-256"),
    ])
    func aKnownKeyWhoseValueIsNotAByteSequenceIsRefused(_ value: String, _ key: String) {
        #expect(throws: DigestFieldError.notAByteSequence(key)) { try DigestField.parse(value) }
    }

    @Test func anXXH3OfTheWrongLengthIsRefused() {
        let seven = Data(repeating: 1, count: 7).base64EncodedString()
        #expect(throws: DigestFieldError.wrongLength("xxh3", expected: 8, actual: 7)) { try DigestField.parse("xxh3=:\(seven):") }
        let nine = Data(repeating: 1, count: 9).base64EncodedString()
        #expect(throws: DigestFieldError.wrongLength("xxh3", expected: 8, actual: 9)) { try DigestField.parse("xxh3=:\(nine):") }
    }

    @Test func aSHA256OfTheWrongLengthIsRefused() {
        let short = Data(repeating: 1, count: 31).base64EncodedString()
        #expect(throws: DigestFieldError.wrongLength("sha-256", expected: 32, actual: 31)) { try DigestField.parse("sha-256=:\(short):") }
    }

    @Test func aByteSequenceThatIsNotBase64IsRefused() {
        #expect(throws: DigestFieldError.self) { try DigestField.parse("xxh3=:!!!!!!!!!!!=:") }
    }
}
