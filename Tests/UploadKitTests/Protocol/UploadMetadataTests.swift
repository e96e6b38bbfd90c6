import Testing
import UploadKit

/// tus `Upload-Metadata`: `key base64value,key2 base64value2`; checked, kept verbatim.
@Suite struct UploadMetadataTests {
    static func keysAndValues(_ value: String) throws -> [[String]] {
        try UploadMetadata.validate(value).map { [$0.key, $0.value] }
    }

    @Test func anEmptyFieldHasNoPairs() throws {
        #expect(try UploadMetadata.validate("").isEmpty)
    }

    @Test func pairsAreReturnedInOrderWithTheirValuesStillBase64() throws {
        #expect(try Self.keysAndValues("filename aGVsbG8udHh0,type dGV4dC9wbGFpbg==") == [["filename", "aGVsbG8udHh0"], ["type", "dGV4dC9wbGFpbg=="]])
    }

    @Test func aKeyWithoutAValueIsAllowed() throws {
        #expect(try Self.keysAndValues("filename aGVsbG8udHh0,is_confidential") == [["filename", "aGVsbG8udHh0"], ["is_confidential", ""]])
    }

    @Test func spacesAroundMembersAreAllowed() throws {
        #expect(try Self.keysAndValues("filename aGVsbG8udHh0, type dGV4dA==") == [["filename", "aGVsbG8udHh0"], ["type", "dGV4dA=="]])
    }

    @Test(arguments: [
        "filename hello world",  // three parts
        "filename h\u{E9}llo",  // not base64
        "filename a!b",
        "filename ../../etc/passwd",
        ",",
        "a YQ==,,b Yg==",  // an empty member
        "na\u{EF}ve YQ==",  // a key that is not ASCII
    ])
    func aMemberThatIsNotKeyAndBase64IsMalformed(_ value: String) {
        #expect(throws: UploadMetadataError.self) { try UploadMetadata.validate(value) }
    }

    @Test func aKeyNamedTwiceIsRefused() {
        #expect(throws: UploadMetadataError.duplicateKey("a")) { try UploadMetadata.validate("a YQ==,a Yg==") }
    }

    @Test func sixteenKibibytesIsTheLimit() throws {
        let atLimit = "k " + String(repeating: "A", count: 16 * 1024 - 2)
        #expect(try UploadMetadata.validate(atLimit).count == 1)
        let over = atLimit + "A"
        #expect(throws: UploadMetadataError.tooLong(16 * 1024 + 1)) { try UploadMetadata.validate(over) }
    }
}
