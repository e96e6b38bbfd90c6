import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import SystemPackage
import Testing
import UploadKit

/// Every error is an RFC 9457 `application/problem+json` body.
@Suite struct ProblemResponseTests {
    @Test func anErrorIsAProblemWithTypeTitleStatusAndDetail() async throws {
        try await ServerFixture().run { api in
            let response = try await api.request(.get, "/uploads/0123456789abcdef0123456789abcdef")
            #expect(response.status == .notFound)
            #expect(response.headers[.contentType] == "application/problem+json")
            let object = try JSONSerialization.jsonObject(with: Data(Array(buffer: response.body))) as? [String: Any]
            let body = try #require(object)
            #expect(body["type"] as? String == "https://uploadverify.dev/problems/upload-not-found")
            #expect((body["title"] as? String)?.isEmpty == false)
            #expect(body["status"] as? Int == 404)
            #expect((body["detail"] as? String)?.isEmpty == false)
        }
    }

    @Test func anUnknownRouteIsAProblemToo() async throws {
        try await ServerFixture().run { api in
            try expectProblem(try await api.request(.get, "/no/such/route"), .notFound)
        }
    }

    @Test func aWrongMethodIsAProblem() async throws {
        try await ServerFixture().run { api in
            let response = try await api.request(.patch, "/uploads/0123456789abcdef0123456789abcdef")
            #expect(response.status.kind == .clientError)
            #expect(response.headers[.contentType] == problemMediaType)
        }
    }

    @Test func anInvalidIDAnswersExactlyAsAnUnknownOne() async throws {
        try await ServerFixture().run { api in
            let unknown = try await api.request(.get, "/uploads/0123456789abcdef0123456789abcdef")
            let invalid = try await api.request(.get, "/uploads/..%2F..%2Fetc%2Fpasswd")
            #expect(unknown.status == invalid.status)
            #expect(try decode(ProblemJSON.self, unknown).type == decode(ProblemJSON.self, invalid).type)
        }
    }

    @Test func problemsAreNotCached() async throws {
        try await ServerFixture().run { api in
            let response = try await api.create([:])
            #expect(response.headers[.cacheControl] == "no-store")
        }
    }
}
