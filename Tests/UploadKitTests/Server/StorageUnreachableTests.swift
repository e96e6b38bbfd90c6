import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing
import UploadKit

/// A data directory that cannot be reached (a network filesystem's mount
/// lost, or unmounted, leaving the empty directory beneath it) is the
/// storage's failure, not the uploads': 503 with Retry-After, never a 404
/// that tells a client its upload is gone, and the same requests succeed
/// once the directory is back.
@Suite struct StorageUnreachableTests {
    let file = SampleFile.standard

    /// Takes the data directory away for `body`, then puts it back.
    func withoutDataDirectory(_ api: UploadAPI, _ body: () async throws -> Void) async throws {
        let aside = api.dataDirectory + ".aside"
        try FileManager.default.moveItem(atPath: api.dataDirectory, toPath: aside)
        do {
            try await body()
        } catch {
            try? FileManager.default.moveItem(atPath: aside, toPath: api.dataDirectory)
            throw error
        }
        try FileManager.default.moveItem(atPath: aside, toPath: api.dataDirectory)
    }

    @Test func anUploadInADirectoryThatIsGoneIsUnreachableNotNotFound() async throws {
        try await ServerFixture().run { api in
            let upload = try await api.create(file)
            try await withoutDataDirectory(api) {
                let problem = try expectProblem(try await api.request(.get, upload.path), .serviceUnavailable, type: "storage-unreachable")
                #expect(problem.detail.contains("retry"))
                #expect(try await api.request(.get, upload.path).headers[.retryAfter] != nil)
                try expectProblem(try await api.put(upload, chunk: 0), .serviceUnavailable, type: "storage-unreachable")
            }
        }
    }

    @Test func aCreationWhileTheDirectoryIsGoneIsUnreachableAndLeavesNothing() async throws {
        try await ServerFixture().run { api in
            try await withoutDataDirectory(api) {
                let response = try await api.request(
                    .post, "/uploads", headers: [HTTPField.Name("Upload-Length")!: "\(file.length)"])
                try expectProblem(response, .serviceUnavailable, type: "storage-unreachable")
                #expect(!FileManager.default.fileExists(atPath: api.dataDirectory))
            }
        }
    }

    @Test func theHealthCheckFailsWhileTheDirectoryIsGoneAndPassesOnceItIsBack() async throws {
        try await ServerFixture().run { api in
            #expect(try await api.request(.get, "/healthz").status == .ok)
            try await withoutDataDirectory(api) {
                try expectProblem(try await api.request(.get, "/healthz"), .serviceUnavailable, type: "storage-unreachable")
            }
            #expect(try await api.request(.get, "/healthz").status == .ok)
        }
    }

    @Test func anUploadCarriesOnOnceTheDirectoryIsBack() async throws {
        try await ServerFixture().run { api in
            let upload = try await api.create(file)
            try await withoutDataDirectory(api) {
                try expectProblem(try await api.put(upload, chunk: 0), .serviceUnavailable, type: "storage-unreachable")
            }
            try await api.putAll(upload)
            #expect(try await api.complete(upload, reprDigest: file.reprDigest).status == .ok)
        }
    }
}
