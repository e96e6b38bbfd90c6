import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import SystemPackage
import Testing
import UploadKit

/// With a token, every request but `/healthz` needs `Authorization: Bearer TOKEN`.
@Suite struct AuthenticationTests {
    func fixture() throws -> ServerFixture { try ServerFixture { $0.token = "s3cret" } }

    @Test func aRequestWithoutTheTokenIs401() async throws {
        try await fixture().run { api in
            let response = try await api.create([.uploadLength: "100"])
            try expectProblem(response, .unauthorized, type: "unauthorized")
            #expect(response.headers[.wwwAuthenticate] == "Bearer")
            #expect(try FileManager.default.contentsOfDirectory(atPath: api.dataDirectory).isEmpty)
        }
    }

    @Test(arguments: ["Bearer wrong", "Bearer s3cre", "Bearer s3cret2", "Bearer ", "s3cret", "Basic czNjcmV0", "Bearer  s3cret"])
    func aRequestWithAWrongTokenIs401(_ authorization: String) async throws {
        try await fixture().run { api in
            try expectProblem(try await api.create([.uploadLength: "100", .authorization: authorization]), .unauthorized)
        }
    }

    @Test func everyRouteNeedsTheToken() async throws {
        try await fixture().run { api in
            var authorized = api
            authorized.headers[.authorization] = "Bearer s3cret"
            let upload = try await authorized.create(SampleFile.standard)
            try expectProblem(try await api.request(.get, upload.path), .unauthorized)
            #expect(try await api.head(upload).status == .unauthorized)
            try expectProblem(try await api.put(upload, chunk: 0), .unauthorized)
            try expectProblem(try await api.request(.get, upload.path + "/chunks"), .unauthorized)
            try expectProblem(try await api.complete(upload), .unauthorized)
            try expectProblem(try await api.audit(upload), .unauthorized)
            try expectProblem(try await api.data(upload), .unauthorized)
            try expectProblem(try await api.request(.delete, upload.path), .unauthorized)
            try expectProblem(try await api.request(.get, "/metrics"), .unauthorized)
            #expect(fileExists(api.mapPath(upload.id)))
            #expect(try await authorized.status(upload).receivedChunks == 0)
        }
    }

    @Test func healthzWorksWithoutTheToken() async throws {
        try await fixture().run { api in
            let response = try await api.request(.get, "/healthz")
            #expect(response.status == .ok)
            #expect(String(buffer: response.body) == "ok\n")
        }
    }

    @Test func theRightTokenWorks() async throws {
        try await fixture().run { api in
            var authorized = api
            authorized.headers[.authorization] = "Bearer s3cret"
            let upload = try await authorized.uploadWhole(SampleFile.standard)
            #expect(try await authorized.status(upload).state == "complete")
        }
    }

    @Test func theBearerSchemeIsCaseInsensitive() async throws {
        try await fixture().run { api in
            let response = try await api.create([.uploadLength: "100", .authorization: "bearer s3cret"])
            #expect(response.status == .created)
        }
    }

    @Test func withoutATokenConfiguredNoneIsNeeded() async throws {
        try await ServerFixture().run { api in
            let response = try await api.create([.uploadLength: "100"])
            #expect(response.status == .created)
        }
    }
}
