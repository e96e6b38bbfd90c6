import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import SystemPackage
import Testing
import UploadKit

/// `POST /uploads`: 201 + Location + status JSON; the data file sparse at full
/// length with its chunk map beside it.
@Suite struct CreateUploadTests {
    @Test func creatingAnswers201WithLocationAndTheStatus() async throws {
        try await ServerFixture().run { api in
            let response = try await api.create([.uploadLength: "200000", .uploadChunkSize: "65536"])
            #expect(response.status == .created)
            #expect(response.headers[.contentType] == "application/json")
            let status = try decode(StatusJSON.self, response)
            #expect(UploadID(status.id) != nil)
            #expect(response.headers[.location] == "/uploads/\(status.id)")
            #expect(status.size == 200_000)
            #expect(status.chunkSize == 65_536)
            #expect(status.chunkCount == 4)
            #expect(status.receivedChunks == 0)
            #expect(status.receivedBytes == 0)
            #expect(status.missing == [0, 1, 2, 3])
            #expect(status.corrupt == [])
            #expect(status.state == "receiving")
            #expect(status.sha256 == nil)
        }
    }

    @Test func withoutAChunkSizeTheDefaultIsEightMebibytes() async throws {
        try await ServerFixture().run { api in
            let response = try await api.create([.uploadLength: "20000000"])
            #expect(response.status == .created)
            #expect(response.headers[.uploadChunkSize] == "8388608")
            let status = try decode(StatusJSON.self, response)
            #expect(status.chunkSize == 8_388_608)
            #expect(status.chunkCount == 3)
        }
    }

    @Test func theDataFileExistsAtFullLengthAndIsSparse() async throws {
        try await ServerFixture().run { api in
            let length: Int64 = 256 * 1024 * 1024
            let response = try await api.create([.uploadLength: String(length)])
            let id = try decode(StatusJSON.self, response).id
            let data = try fileStatus(api.dataPath(id))
            #expect(data.size == length)
            #expect(data.allocatedBytes < 1024 * 1024, "a new upload allocates no data blocks")
        }
    }

    @Test func theChunkMapSidecarIsNextToTheDataFile() async throws {
        try await ServerFixture().run { api in
            let upload = try await api.create(SampleFile.standard)
            #expect(fileExists(api.mapPath(upload.id)))
            let map = try ChunkMapCodec.decode(readFile(api.mapPath(upload.id)))
            #expect(map.layout.fileSize.bytes == Int64(SampleFile.standard.length))
            #expect(map.layout.chunkSize.bytes == Int64(kib64))
            #expect(map.chunks == Array(repeating: ChunkState.missing, count: 4))
            #expect(map.status.state == .receiving)
            let names = try FileManager.default.contentsOfDirectory(atPath: api.dataDirectory).sorted()
            #expect(names == [upload.id, upload.id + ".chunkmap"])
        }
    }

    @Test func aMissingUploadLengthIsABadRequest() async throws {
        try await ServerFixture().run { api in
            try expectProblem(try await api.create([:]), .badRequest)
            #expect(try FileManager.default.contentsOfDirectory(atPath: api.dataDirectory).isEmpty)
        }
    }

    @Test(arguments: ["", "abc", "-1", "+100", "1e6", "0x100", "8MiB", "１００", "1 00", "99999999999999999999"])
    func aGarbageUploadLengthIsABadRequest(_ value: String) async throws {
        try await ServerFixture().run { api in
            try expectProblem(try await api.create([.uploadLength: value]), .badRequest)
            #expect(try FileManager.default.contentsOfDirectory(atPath: api.dataDirectory).isEmpty)
        }
    }

    @Test func anUploadOverTheMaximumSizeIsContentTooLarge() async throws {
        try await ServerFixture({ $0.maxUploadSize = ByteCount(1_000_000) }).run { api in
            try expectProblem(try await api.create([.uploadLength: "1000001"]), .contentTooLarge, type: "upload-too-large")
            #expect(try await api.create([.uploadLength: "1000000"]).status == .created)
        }
    }

    @Test func aChunkSizeGivingMoreThan32768ChunksIsRefusedNamingTheSmallestAllowed() async throws {
        try await ServerFixture().run { api in
            // 32,768 chunks of 64 KiB are 2 GiB; one byte more needs 65,537-byte chunks.
            let length: Int64 = 32_768 * 65_536 + 1
            let response = try await api.create([.uploadLength: String(length), .uploadChunkSize: "65536"])
            let problem = try expectProblem(response, .badRequest, type: "invalid-chunk-size")
            #expect(problem.smallestChunkSize == 65_537)
            #expect(problem.detail.contains("65537"))
            #expect(try await api.create([.uploadLength: String(length), .uploadChunkSize: "65537"]).status == .created)
        }
    }

    @Test(arguments: ["65535", "268435457", "0", "64KiB", "abc", "9223372036854775807", "99999999999999999999"])
    func aChunkSizeOutOfBoundsOrNotDecimalIsABadRequest(_ value: String) async throws {
        try await ServerFixture().run { api in
            try expectProblem(try await api.create([.uploadLength: "1000000", .uploadChunkSize: value]), .badRequest)
        }
    }

    @Test func anUploadLargerThanTheFreeDiskIsRefusedWith507() async throws {
        try await ServerFixture().run { api in
            let attributes = try FileManager.default.attributesOfFileSystem(forPath: api.dataDirectory)
            let free = try #require((attributes[.systemFreeSize] as? NSNumber)?.int64Value)
            let length = Int64(8) << 40  // the largest upload there is
            guard free < length else { return }  // a machine with 8 TiB free cannot show this
            let response = try await api.create([.uploadLength: String(length)])
            try expectProblem(response, .init(code: 507), type: "insufficient-storage")
            #expect(try FileManager.default.contentsOfDirectory(atPath: api.dataDirectory).isEmpty)
        }
    }

    @Test func metadataIsKeptAndShownDecoded() async throws {
        try await ServerFixture().run { api in
            let upload = try await api.create(SampleFile.standard, headers: [.uploadMetadata: "filename aGVsbG8udHh0,is_confidential"])
            let status = try await api.status(upload)
            #expect(status.metadata == ["filename": "hello.txt", "is_confidential": ""])
            let map = try ChunkMapCodec.decode(readFile(api.mapPath(upload.id)))
            #expect(map.header.metadata == "filename aGVsbG8udHh0,is_confidential")
        }
    }

    @Test func malformedMetadataIsABadRequest() async throws {
        try await ServerFixture().run { api in
            try expectProblem(try await api.create([.uploadLength: "100", .uploadMetadata: "filename ../../x y"]), .badRequest)
            #expect(try FileManager.default.contentsOfDirectory(atPath: api.dataDirectory).isEmpty)
        }
    }

    @Test func aMalformedReprDigestAtCreationIsABadRequest() async throws {
        try await ServerFixture().run { api in
            try expectProblem(try await api.create([.uploadLength: "100", .reprDigest: "sha-256=:AAAA:"]), .badRequest)
        }
    }

    @Test func eachUploadGetsItsOwnID() async throws {
        try await ServerFixture().run { api in
            let first = try await api.create(SampleFile.standard)
            let second = try await api.create(SampleFile.standard)
            #expect(first.id != second.id)
        }
    }

    @Test func anEmptyUploadCanBeCreatedAndCompletedAtOnce() async throws {
        try await ServerFixture().run { api in
            let empty = SampleFile(length: 0)
            let upload = try await api.create(empty)
            #expect(try await api.status(upload).chunkCount == 0)
            let response = try await api.complete(upload, reprDigest: empty.reprDigest)
            #expect(response.status == .ok)
            #expect(try await api.status(upload).state == "complete")
            #expect(try await api.data(upload).body.readableBytes == 0)
        }
    }
}
