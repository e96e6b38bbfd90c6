import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import SystemPackage
import Testing
import UploadKit

/// `GET /uploads/{id}/chunks/{index}/blocks` and `PATCH /uploads/{id}/chunks/{index}`:
/// block-level repair over HTTP, in the contract's words and problems.
@Suite struct BlockRoutesTests {
    let file = SampleFile.standard

    struct BlockDigestsJSON: Decodable {
        var chunk: Int
        var offset: Int64
        var length: Int64
        var blockSize: Int64
        var xxh3: [String]
    }

    struct BlockWriteJSON: Decodable {
        var chunk: Int
        var state: String
        var xxh3: String
        var expected: String
    }

    /// A complete upload whose chunk 1 had a byte of its second 16 KiB block changed at rest, found by an audit.
    func damagedUpload(_ api: UploadAPI) async throws -> Upload {
        let upload = try await api.uploadWhole(file)
        try flipByte(api.dataPath(upload.id), at: Int64(kib64 + 16_384 + 3))
        #expect(try await api.audit(upload).status == .ok)
        return upload
    }

    /// Bytes `start..<end` of the source, as a block write sends them.
    func patch(_ api: UploadAPI, _ upload: Upload, chunk: Int, _ start: Int, _ end: Int, digest: String? = nil) async throws -> TestResponse {
        let bytes = Array(file.bytes[start..<end])
        return try await api.request(
            .patch, upload.path + "/chunks/\(chunk)",
            headers: [.contentRange: "bytes \(start)-\(end - 1)/\(file.length)", .contentDigest: digest ?? xxh3Field(bytes)], body: bytes)
    }

    @Test func theBlocksOfAChunkAreItsXXH3sAsOnDisk() async throws {
        try await ServerFixture().run { api in
            let upload = try await damagedUpload(api)
            let response = try await api.request(.get, upload.path + "/chunks/1/blocks?size=16384")
            #expect(response.status == .ok)
            #expect(response.headers[.contentType] == "application/json")
            let document = try decode(BlockDigestsJSON.self, response)
            #expect(document.chunk == 1 && document.offset == Int64(kib64) && document.length == Int64(kib64) && document.blockSize == 16_384)
            let onDisk = try readFile(api.dataPath(upload.id))
            let expected = (0..<4).map { block in
                XXH3Hasher.hash(Array(onDisk[(kib64 + block * 16_384)..<(kib64 + (block + 1) * 16_384)])).description
            }
            #expect(document.xxh3 == expected)
        }
    }

    @Test func withoutASizeTheBlocksAre64KiB() async throws {
        try await ServerFixture().run { api in
            let upload = try await api.uploadWhole(file)
            let document = try decode(BlockDigestsJSON.self, try await api.request(.get, upload.path + "/chunks/0/blocks"))
            #expect(document.blockSize == 65_536 && document.xxh3 == [XXH3Hasher.hash(file.chunk(0)).description])
        }
    }

    @Test(arguments: ["size=1000", "size=2048", "size=131072", "size=", "size=+4096", "blocks=4096", "size=4096&size=4096"])
    func aBlockQueryOutsideTheContractIs400InvalidQuery(_ query: String) async throws {
        try await ServerFixture().run { api in
            let upload = try await api.uploadWhole(file)
            try expectProblem(try await api.request(.get, upload.path + "/chunks/0/blocks?" + query), .badRequest, type: "invalid-query")
        }
    }

    @Test(arguments: ["4", "99", "abc", "-1", "01x"])
    func aChunkIndexThatNamesNoChunkIs404(_ index: String) async throws {
        try await ServerFixture().run { api in
            let upload = try await api.uploadWhole(file)
            try expectProblem(try await api.request(.get, upload.path + "/chunks/\(index)/blocks"), .notFound, type: "chunk-not-found")
        }
    }

    @Test func aBlockWriteThatMakesTheChunkWholeAnswersVerifiedAndTheUploadCompletesAgain() async throws {
        try await ServerFixture().run { api in
            let upload = try await damagedUpload(api)
            let response = try await patch(api, upload, chunk: 1, kib64 + 16_384, kib64 + 32_768)
            #expect(response.status == .ok)
            let receipt = try decode(BlockWriteJSON.self, response)
            let recorded = XXH3Hasher.hash(file.chunk(1)).description
            #expect(receipt.chunk == 1 && receipt.state == "verified" && receipt.xxh3 == recorded && receipt.expected == recorded)
            #expect(try await api.complete(upload, reprDigest: file.reprDigest).status == .ok)
            #expect(try readFile(api.dataPath(upload.id)) == file.bytes)
        }
    }

    @Test func aBlockWriteOfTheWrongBlockAnswersCorruptWithTheChunksDigestNow() async throws {
        try await ServerFixture().run { api in
            let upload = try await damagedUpload(api)
            let response = try await patch(api, upload, chunk: 1, kib64, kib64 + 16_384)
            #expect(response.status == .ok)
            let receipt = try decode(BlockWriteJSON.self, response)
            #expect(receipt.state == "corrupt")
            #expect(receipt.xxh3 == XXH3Hasher.hash(Array(try readFile(api.dataPath(upload.id))[file.range(1)])).description)
            #expect(try await api.status(upload).corrupt == [1])
        }
    }

    @Test func aBlockWriteIntoAVerifiedChunkIs409ChunkVerified() async throws {
        try await ServerFixture().run { api in
            let upload = try await damagedUpload(api)
            let problem = try expectProblem(try await patch(api, upload, chunk: 0, 0, 16_384), .conflict, type: "chunk-verified")
            #expect(problem.index == 0)
        }
    }

    @Test func aBlockWriteIntoAMissingChunkIs409ChunkMissing() async throws {
        try await ServerFixture().run { api in
            let upload = try await api.create(file)
            let problem = try expectProblem(try await patch(api, upload, chunk: 2, 2 * kib64, 2 * kib64 + 100), .conflict, type: "chunk-missing")
            #expect(problem.index == 2)
            #expect(try readFile(api.dataPath(upload.id)).allSatisfy { $0 == 0 })
        }
    }

    @Test func aBlockWriteWhoseBodyDiffersFromItsDigestIs422AndWritesNothing() async throws {
        try await ServerFixture().run { api in
            let upload = try await damagedUpload(api)
            let before = try readFile(api.dataPath(upload.id))
            let wrong = xxh3Field(Array(file.bytes[0..<16_384]))
            try expectProblem(
                try await patch(api, upload, chunk: 1, kib64 + 16_384, kib64 + 32_768, digest: wrong), .unprocessableContent, type: "digest-mismatch")
            #expect(try readFile(api.dataPath(upload.id)) == before)
        }
    }

    @Test func aBlockWriteWithoutContentDigestIs400() async throws {
        try await ServerFixture().run { api in
            let upload = try await damagedUpload(api)
            let response = try await api.request(
                .patch, upload.path + "/chunks/1", headers: [.contentRange: "bytes \(kib64)-\(kib64 + 99)/\(file.length)"],
                body: Array(file.bytes[kib64..<(kib64 + 100)]))
            try expectProblem(response, .badRequest, type: "invalid-header")
        }
    }

    @Test(arguments: [(1, 2 * 65_536 - 10, 2 * 65_536 + 10), (2, 65_536, 65_600)])
    func aBlockWriteOutsideItsChunkIs416WithTheUploadsLength(_ chunk: Int, _ start: Int, _ end: Int) async throws {
        try await ServerFixture().run { api in
            let upload = try await damagedUpload(api)
            let response = try await patch(api, upload, chunk: chunk, start, end)
            let problem = try expectProblem(response, .rangeNotSatisfiable, type: "range-outside-chunk")
            #expect(problem.index == chunk)
            #expect(response.headers[.contentRange] == "bytes */\(file.length)")
        }
    }
}
