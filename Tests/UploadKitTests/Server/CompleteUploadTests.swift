import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import SystemPackage
import Testing
import UploadKit

/// `POST /uploads/{id}/complete`: every chunk verified, then the file re-read
/// from disk once, computing its SHA-256 and re-checking every chunk.
@Suite struct CompleteUploadTests {
    let file = SampleFile.standard

    @Test func completingWithMissingChunksIs409NamingThem() async throws {
        try await ServerFixture().run { api in
            let upload = try await api.create(file)
            #expect(try await api.put(upload, chunk: 1).status == .ok)
            let problem = try expectProblem(try await api.complete(upload, reprDigest: file.reprDigest), .conflict, type: "upload-incomplete")
            #expect(problem.missing == [0, 2, 3])
            #expect(try await api.status(upload).state == "receiving")
        }
    }

    @Test func aWrongSHA256Is422WithExpectedAndActual() async throws {
        try await ServerFixture().run { api in
            let upload = try await api.create(file)
            try await api.putAll(upload)
            let wrong = SHA256Hasher.hash([UInt8]("something else".utf8))
            let response = try await api.complete(upload, reprDigest: DigestField(sha256: wrong).headerValue)
            let problem = try expectProblem(response, .unprocessableContent, type: "sha256-mismatch")
            #expect(problem.expected == wrong.description)
            #expect(problem.actual == file.sha256.description)
            #expect(try await api.status(upload).state == "receiving")
            #expect(try await api.status(upload).sha256 == nil)
        }
    }

    @Test func theRightSHA256Completes() async throws {
        try await ServerFixture().run { api in
            let upload = try await api.create(file)
            try await api.putAll(upload)
            let response = try await api.complete(upload, reprDigest: file.reprDigest)
            #expect(response.status == .ok)
            #expect(response.headers[.reprDigest] == file.reprDigest)
            let status = try decode(StatusJSON.self, response)
            #expect(status.state == "complete")
            #expect(status.sha256 == file.sha256.description)
            #expect(try await api.status(upload).state == "complete")
            let map = try ChunkMapCodec.decode(readFile(api.mapPath(upload.id)))
            #expect(map.status.state == .complete)
            #expect(map.status.sha256 == file.sha256)
        }
    }

    @Test func completingACompleteUploadAgainAnswers200() async throws {
        try await ServerFixture().run { api in
            let upload = try await api.uploadWhole(file)
            let again = try await api.complete(upload, reprDigest: file.reprDigest)
            #expect(again.status == .ok)
            #expect(again.headers[.reprDigest] == file.reprDigest)
            #expect(try decode(StatusJSON.self, again).state == "complete")
            #expect(try await api.complete(upload).status == .ok, "without a digest too")
        }
    }

    @Test func completingAgainWithAnotherSHA256IsRefused() async throws {
        try await ServerFixture().run { api in
            let upload = try await api.uploadWhole(file)
            let wrong = DigestField(sha256: SHA256Hasher.hash([UInt8]())).headerValue
            try expectProblem(try await api.complete(upload, reprDigest: wrong), .unprocessableContent)
            #expect(try await api.status(upload).state == "complete")
        }
    }

    @Test func aChunkChangedOnDiskAfterItWasVerifiedIs422AndNowCorrupt() async throws {
        try await ServerFixture().run { api in
            let upload = try await api.create(file)
            try await api.putAll(upload)
            try flipByte(api.dataPath(upload.id), at: Int64(2 * kib64 + 100))
            let problem = try expectProblem(try await api.complete(upload, reprDigest: file.reprDigest), .unprocessableContent, type: "chunks-corrupt")
            #expect(problem.corrupt == [2])
            let map = try await api.chunkMap(upload)
            #expect(map.chunks.map(\.state) == ["verified", "verified", "corrupt", "verified"])
            #expect(map.chunks[2].xxh3 == XXH3Hasher.hash(file.chunk(2)).description, "a corrupt chunk keeps the digest it should have")
            let status = try await api.status(upload)
            #expect(status.corrupt == [2])
            #expect(status.state == "receiving")
            #expect(decodeBitmap(try await api.head(upload).headers[.uploadChunks], chunkCount: 4) == [true, true, false, true])
        }
    }

    @Test func completingAgainWhileAChunkIsCorruptIs409NamingIt() async throws {
        try await ServerFixture().run { api in
            let upload = try await api.create(file)
            try await api.putAll(upload)
            try flipByte(api.dataPath(upload.id), at: Int64(2 * kib64 + 100))
            #expect(try await api.complete(upload, reprDigest: file.reprDigest).status == .unprocessableContent)
            let problem = try expectProblem(try await api.complete(upload, reprDigest: file.reprDigest), .conflict, type: "upload-incomplete")
            #expect(problem.missing == [])
            #expect(problem.corrupt == [2])
        }
    }

    @Test func aWholeUploadCompletesWithFsyncOn() async throws {
        try await ServerFixture({ $0.fsync = true }).run { api in
            let upload = try await api.uploadWhole(file)
            #expect(try await api.status(upload).state == "complete")
            #expect(try readFile(api.dataPath(upload.id)) == file.bytes)
        }
    }

    @Test func aCorruptChunkSentAgainLetsTheUploadComplete() async throws {
        try await ServerFixture().run { api in
            let upload = try await api.create(file)
            try await api.putAll(upload)
            try flipByte(api.dataPath(upload.id), at: Int64(2 * kib64 + 100))
            #expect(try await api.complete(upload, reprDigest: file.reprDigest).status == .unprocessableContent)
            #expect(try await api.put(upload, chunk: 2).status == .ok)
            #expect(try await api.complete(upload, reprDigest: file.reprDigest).status == .ok)
            #expect(try readFile(api.dataPath(upload.id)) == file.bytes)
        }
    }

    @Test func theReprDigestGivenAtCreationIsUsedWhenCompleteHasNone() async throws {
        try await ServerFixture().run { api in
            let upload = try await api.create(file, headers: [.reprDigest: file.reprDigest])
            try await api.putAll(upload)
            let response = try await api.complete(upload)
            #expect(response.status == .ok)
            #expect(response.headers[.reprDigest] == file.reprDigest)
        }
    }

    @Test func aWrongReprDigestGivenAtCreationFailsTheCompletion() async throws {
        try await ServerFixture().run { api in
            let wrong = SHA256Hasher.hash([UInt8]("other".utf8))
            let upload = try await api.create(file, headers: [.reprDigest: DigestField(sha256: wrong).headerValue])
            try await api.putAll(upload)
            let problem = try expectProblem(try await api.complete(upload), .unprocessableContent, type: "sha256-mismatch")
            #expect(problem.expected == wrong.description)
            #expect(problem.actual == file.sha256.description)
        }
    }

    @Test func aDigestAtCompletionDisagreeingWithTheOneAtCreationIsRefused() async throws {
        try await ServerFixture().run { api in
            let upload = try await api.create(file, headers: [.reprDigest: file.reprDigest])
            try await api.putAll(upload)
            let other = SHA256Hasher.hash([UInt8]("other".utf8))
            let problem = try expectProblem(try await api.complete(upload, reprDigest: DigestField(sha256: other).headerValue), .badRequest)
            #expect(problem.expected == file.sha256.description)
            #expect(problem.actual == other.description)
            #expect(try await api.status(upload).state == "receiving")
        }
    }

    @Test func completingWithoutAnySHA256IsABadRequest() async throws {
        try await ServerFixture().run { api in
            let upload = try await api.create(file)
            try await api.putAll(upload)
            try expectProblem(try await api.complete(upload), .badRequest, type: "sha256-required")
            try expectProblem(try await api.complete(upload, reprDigest: xxh3Field(file.bytes)), .badRequest, type: "sha256-required")
        }
    }

    @Test func aMalformedReprDigestAtCompletionIsABadRequest() async throws {
        try await ServerFixture().run { api in
            let upload = try await api.create(file)
            try await api.putAll(upload)
            try expectProblem(try await api.complete(upload, reprDigest: "sha-256=:AAAA:"), .badRequest)
        }
    }

    @Test func completingAnUnknownUploadIs404() async throws {
        try await ServerFixture().run { api in
            let response = try await api.request(.post, "/uploads/0123456789abcdef0123456789abcdef/complete", headers: [.reprDigest: file.reprDigest])
            try expectProblem(response, .notFound)
        }
    }

    @Test func aDataFileOfTheWrongSizeOnDiskFailsTheCompletion() async throws {
        try await ServerFixture().run { api in
            let upload = try await api.create(file)
            try await api.putAll(upload)
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: api.dataPath(upload.id)))
            try handle.truncate(atOffset: UInt64(file.length + 10))
            try handle.close()
            let response = try await api.complete(upload, reprDigest: file.reprDigest)
            try expectProblem(response, .unprocessableContent, type: "data-size-mismatch")
            #expect(try await api.status(upload).state == "receiving")
        }
    }
}
