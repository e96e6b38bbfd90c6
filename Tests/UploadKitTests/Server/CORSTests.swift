import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing
import UploadKit

/// `serve --cors-origin`: pages of the named origins may call the server,
/// and read the protocol's headers.
@Suite struct CORSTests {
    static let origin = HTTPField.Name("Origin")!
    static let requestMethod = HTTPField.Name("Access-Control-Request-Method")!
    static let allowOrigin = HTTPField.Name("Access-Control-Allow-Origin")!
    static let exposeHeaders = HTTPField.Name("Access-Control-Expose-Headers")!
    static let allowHeaders = HTTPField.Name("Access-Control-Allow-Headers")!
    static let tusResumable = HTTPField.Name("Tus-Resumable")!

    func fixture(_ origins: [String], token: String? = nil) throws -> ServerFixture {
        try ServerFixture {
            $0.corsOrigins = origins
            $0.token = token
        }
    }

    @Test func aPreflightFromAnAllowedOriginIsAnsweredWithTheProtocolsHeaders() async throws {
        try await fixture(["https://app.example"]).run { api in
            let response = try await api.request(.options, "/files/", headers: [Self.origin: "https://app.example", Self.requestMethod: "PATCH"])
            #expect(response.status == .noContent)
            #expect(response.headers[Self.allowOrigin] == "https://app.example")
            let allowed = response.headers[Self.allowHeaders] ?? ""
            for name in ["Tus-Resumable", "Upload-Offset", "Upload-Checksum", "Content-Type", "Authorization"] { #expect(allowed.contains(name), "\(name)") }
        }
    }

    @Test func answersExposeWhatTusClientsRead() async throws {
        try await fixture(["*"]).run { api in
            let response = try await api.request(
                .post, "/files/", headers: [Self.origin: "https://anywhere.example", Self.tusResumable: "1.0.0", HTTPField.Name("Upload-Length")!: "10"])
            #expect(response.status == .created)
            #expect(response.headers[Self.allowOrigin] == "*")
            let exposed = response.headers[Self.exposeHeaders] ?? ""
            for name in ["Location", "Upload-Offset", "Tus-Resumable", "Upload-Expires"] { #expect(exposed.contains(name), "\(name)") }
        }
    }

    @Test func anErrorCarriesTheCORSHeadersToo() async throws {
        try await fixture(["https://app.example"]).run { api in
            let response = try await api.request(
                .head, "/files/0123456789abcdef0123456789abcdef", headers: [Self.origin: "https://app.example", Self.tusResumable: "1.0.0"])
            #expect(response.status == .notFound)
            #expect(response.headers[Self.allowOrigin] == "https://app.example")
        }
    }

    @Test func anotherOriginGetsNoCORSHeaders() async throws {
        try await fixture(["https://app.example"]).run { api in
            let response = try await api.request(.options, "/files/", headers: [Self.origin: "https://evil.example", Self.requestMethod: "POST"])
            #expect(response.headers[Self.allowOrigin] == nil)
        }
    }

    @Test func aPreflightNeedsNoTokenButTheRequestDoes() async throws {
        try await fixture(["https://app.example"], token: "s3cret").run { api in
            let preflight = try await api.request(.options, "/uploads", headers: [Self.origin: "https://app.example", Self.requestMethod: "POST"])
            #expect(preflight.status == .noContent)
            let request = try await api.request(.post, "/uploads", headers: [Self.origin: "https://app.example", HTTPField.Name("Upload-Length")!: "10"])
            #expect(request.status == .unauthorized)
            #expect(request.headers[Self.allowOrigin] == "https://app.example")
        }
    }
}
