import Testing
import UploadKit

/// Ids are 32 lowercase hex digits, checked before any path is built from them.
@Suite struct UploadIDTests {
    @Test func thirtyTwoLowercaseHexDigitsAreAnID() throws {
        let id = try #require(UploadID("0123456789abcdef0123456789abcdef"))
        #expect(id.rawValue == "0123456789abcdef0123456789abcdef")
        #expect(id.description == id.rawValue)
    }

    @Test(arguments: [
        "../../etc/passwd",
        "%2e%2e%2f",
        "abc%00",
        "abc\u{0}",
        "0123456789abcdef0123456789abcdef.chunkmap",
        String(repeating: "a", count: 4096),
        "0123456789ABCDEF0123456789ABCDEF",  // uppercase
        "0123456789abcdef0123456789abcdeF",
        "0123456789abcdef0123456789abcde",  // 31
        "0123456789abcdef0123456789abcdef0",  // 33
        "0123456789abcdef0123456789abcdeg",
        "0123456789abcdef/123456789abcdef",
        "0123456789abcdef.123456789abcdef",
        "０123456789abcdef0123456789abcdef",  // a full-width digit
        "",
    ])
    func anythingElseIsRefused(_ text: String) {
        #expect(UploadID(text) == nil)
    }

    @Test func randomIDsAreValid() throws {
        for _ in 0..<100 {
            let id = UploadID.random()
            #expect(UploadID(id.rawValue) == id)
            #expect(id.rawValue.utf8.count == 32)
        }
    }

    @Test func randomIDsAreDistinct() {
        let ids = Set((0..<10_000).map { _ in UploadID.random() })
        #expect(ids.count == 10_000)
    }
}
