import Testing
import UploadKit

@Suite struct UploadURLTests {
    let id = "0123456789abcdef0123456789abcdef"

    @Test func anUploadURLSplitsIntoServerAndID() throws {
        let url = try UploadURL(parsing: "http://127.0.0.1:8080/uploads/\(id)")
        #expect(url.server == "http://127.0.0.1:8080")
        #expect(url.id.rawValue == id)
        #expect(url.description == "http://127.0.0.1:8080/uploads/\(id)")
    }

    @Test(arguments: [
        "http://h/uploads/", "http://h/uploads/abc", "ftp://h/uploads/0123456789abcdef0123456789abcdef",
        "http://h/files/0123456789abcdef0123456789abcdef", "http:///uploads/0123456789abcdef0123456789abcdef",
        "http://h/uploads/0123456789abcdef0123456789abcdef/chunks", "/uploads/0123456789abcdef0123456789abcdef",
    ])
    func whatIsNotAnUploadURLIsRefused(text: String) {
        #expect(throws: ClientError.self) { try UploadURL(parsing: text) }
    }

    @Test func aTargetIsAFileUnlessItIsAURL() throws {
        #expect(try Target(parsing: "some/file.bin") == .file("some/file.bin"))
        #expect(try Target(parsing: "https://h:1/uploads/\(id)") == .upload(try UploadURL(parsing: "https://h:1/uploads/\(id)")))
    }

    @Test func aServerURLLosesItsTrailingSlashAndRefusesAPath() throws {
        #expect(try UploadURL.server("http://127.0.0.1:8080/") == "http://127.0.0.1:8080")
        #expect(throws: ClientError.self) { try UploadURL.server("http://127.0.0.1:8080/uploads") }
        #expect(throws: ClientError.self) { try UploadURL.server("127.0.0.1:8080") }
    }
}
