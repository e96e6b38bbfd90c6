import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import SystemPackage
import Testing
import UploadKit

/// `HEAD /uploads/{id}` (the handshake), `GET /uploads/{id}` (status) and
/// `GET /uploads/{id}/chunks` (the chunk map): what a client resumes from.
@Suite struct HandshakeTests {
    /// Eleven chunks, so the bitmap spans two bytes.
    let file = SampleFile(length: 10 * kib64 + 5)

    @Test func theHandshakeOfANewUploadShowsItsGeometryAndNothingReceived() async throws {
        try await ServerFixture().run { api in
            let upload = try await api.create(file)
            let response = try await api.head(upload)
            #expect(response.status == .ok)
            #expect(response.headers[.uploadLength] == String(file.length))
            #expect(response.headers[.uploadChunkSize] == "65536")
            #expect(response.headers[.uploadOffset] == "0")
            #expect(response.headers[.uploadReceived] == "0")
            #expect(response.headers[.uploadChunks] == ":AAA=:")
            #expect(response.headers[.uploadComplete] == "?0")
            #expect(response.headers[.reprDigest] == nil)
            #expect(response.headers[.cacheControl] == "no-store")
        }
    }

    @Test func theBitmapHasChunkZeroInTheMostSignificantBitOfByteZero() async throws {
        try await ServerFixture().run { api in
            let upload = try await api.create(file)
            for index in [0, 2, 8, 10] { #expect(try await api.put(upload, chunk: index).status == .ok) }
            let response = try await api.head(upload)
            // 1010 0000, 1010 0000: chunks 0, 2, then 8, 10.
            #expect(response.headers[.uploadChunks] == ":" + Data([0b1010_0000, 0b1010_0000]).base64EncodedString() + ":")
            #expect(
                decodeBitmap(response.headers[.uploadChunks], chunkCount: 11)
                    == [true, false, true, false, false, false, false, false, true, false, true])
        }
    }

    @Test func uploadOffsetIsTheVerifiedPrefixAndUploadReceivedEveryVerifiedByte() async throws {
        try await ServerFixture().run { api in
            let upload = try await api.create(file)
            for index in [0, 1, 3, 10] { #expect(try await api.put(upload, chunk: index).status == .ok) }
            let response = try await api.head(upload)
            #expect(response.headers[.uploadOffset] == String(2 * kib64))
            #expect(response.headers[.uploadReceived] == String(3 * kib64 + 5))
            #expect(response.headers[.uploadComplete] == "?0")
        }
    }

    @Test func aCompleteUploadsHandshakeSaysSoAndCarriesItsReprDigest() async throws {
        try await ServerFixture().run { api in
            let upload = try await api.uploadWhole(file)
            let response = try await api.head(upload)
            #expect(response.headers[.uploadComplete] == "?1")
            #expect(response.headers[.uploadOffset] == String(file.length))
            #expect(response.headers[.uploadReceived] == String(file.length))
            #expect(response.headers[.reprDigest] == file.reprDigest)
            #expect(try DigestField.parse(try #require(response.headers[.reprDigest])).sha256 == file.sha256)
            #expect(decodeBitmap(response.headers[.uploadChunks], chunkCount: 11) == Array(repeating: true, count: 11))
        }
    }

    @Test func theHandshakeOfAnUnknownUploadIs404() async throws {
        try await ServerFixture().run { api in
            let response = try await api.request(.head, "/uploads/0123456789abcdef0123456789abcdef")
            #expect(response.status == .notFound)
        }
    }

    @Test func theStatusCountsWhatWasReceived() async throws {
        try await ServerFixture().run { api in
            let upload = try await api.create(file)
            for index in [1, 10] { #expect(try await api.put(upload, chunk: index).status == .ok) }
            let status = try await api.status(upload)
            #expect(status.id == upload.id)
            #expect(status.size == Int64(file.length))
            #expect(status.chunkCount == 11)
            #expect(status.receivedChunks == 2)
            #expect(status.receivedBytes == Int64(kib64 + 5))
            #expect(status.missing == [0, 2, 3, 4, 5, 6, 7, 8, 9])
            #expect(status.state == "receiving")
            #expect(status.sha256 == nil)
            #expect(!status.createdAt.isEmpty && !status.updatedAt.isEmpty)
        }
    }

    @Test func theStatusOfAnUnknownUploadIsAProblem() async throws {
        try await ServerFixture().run { api in
            try expectProblem(try await api.request(.get, "/uploads/0123456789abcdef0123456789abcdef"), .notFound, type: "upload-not-found")
        }
    }

    @Test func theChunkMapJSONListsEveryChunkWithItsRangeStateAndDigest() async throws {
        try await ServerFixture().run { api in
            let upload = try await api.create(file)
            #expect(try await api.put(upload, chunk: 10).status == .ok)
            let map = try await api.chunkMap(upload)
            #expect(map.size == Int64(file.length))
            #expect(map.chunkSize == 65_536)
            #expect(map.algorithm == "xxh3-64")
            #expect(map.sha256 == nil)
            #expect(map.chunks.count == 11)
            #expect(map.chunks.map(\.index) == Array(0..<11))
            #expect(map.chunks[3].offset == Int64(3 * kib64))
            #expect(map.chunks[3].length == 65_536)
            #expect(map.chunks[3].state == "missing")
            #expect(map.chunks[3].xxh3 == nil)
            #expect(map.chunks[10].length == 5)
            #expect(map.chunks[10].state == "verified")
            #expect(map.chunks[10].xxh3 == XXH3Hasher.hash(file.chunk(10)).description)
        }
    }

    @Test func theChunkMapInItsBinaryFormatDecodesToTheSameStates() async throws {
        try await ServerFixture().run { api in
            let upload = try await api.create(file, headers: [.uploadMetadata: "filename aGVsbG8udHh0"])
            for index in [0, 4, 10] { #expect(try await api.put(upload, chunk: index).status == .ok) }
            let json = try await api.chunkMap(upload)
            let response = try await api.request(.get, upload.path + "/chunks", headers: [.accept: chunkMapMediaType])
            #expect(response.status == .ok)
            #expect(response.headers[.contentType] == chunkMapMediaType)
            let map = try ChunkMapCodec.decode(Array(buffer: response.body))
            #expect(map.layout.fileSize.bytes == json.size)
            #expect(map.layout.chunkSize.bytes == json.chunkSize)
            #expect(map.chunks.map(\.name) == json.chunks.map(\.state))
            #expect(map.chunks.map { $0.digest?.description } == json.chunks.map(\.xxh3))
            #expect(map.header.metadata == "filename aGVsbG8udHh0")
            #expect(Array(buffer: response.body) == (try readFile(api.mapPath(upload.id))))
        }
    }
}
