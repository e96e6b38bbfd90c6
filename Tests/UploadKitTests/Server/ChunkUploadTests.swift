import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import SystemPackage
import Testing
import UploadKit

/// `PUT /uploads/{id}`: one whole chunk, checked as it streams, committed only
/// when its length and every digest match.
@Suite struct ChunkUploadTests {
    let file = SampleFile.standard

    @Test func theSampleIsThreeWholeChunksAndAShortOne() {
        // The literal ranges below are written for this length.
        #expect(file.length == 197_608 && file.chunkCount == 4)
    }

    @Test func aChunkLandsAtItsOffsetInTheDataFile() async throws {
        try await ServerFixture().run { api in
            let upload = try await api.create(file)
            #expect(try await api.put(upload, chunk: 1).status == .ok)
            let data = try readFile(api.dataPath(upload.id))
            #expect(data.count == file.length)
            #expect(Array(data[file.range(1)]) == file.chunk(1))
            #expect(data[file.range(0)].allSatisfy { $0 == 0 }, "the other chunks are still holes")
            #expect(data[file.range(2)].allSatisfy { $0 == 0 })
        }
    }

    @Test func theAnswerNamesTheChunkItsXXH3AndTheProgress() async throws {
        try await ServerFixture().run { api in
            let upload = try await api.create(file)
            let response = try await api.put(upload, chunk: 2)
            #expect(response.status == .ok)
            #expect(response.headers[.contentType] == "application/json")
            let receipt = try decode(ReceiptJSON.self, response)
            #expect(receipt.index == 2)
            #expect(receipt.xxh3 == XXH3Hasher.hash(file.chunk(2)).description)
            #expect(receipt.receivedChunks == 1)
            #expect(receipt.chunkCount == 4)
            #expect(receipt.written == true)
        }
    }

    @Test func chunksCanArriveInAnyOrder() async throws {
        try await ServerFixture().run { api in
            let upload = try await api.create(file)
            for (count, index) in [3, 0, 2, 1].enumerated() {
                let receipt = try decode(ReceiptJSON.self, try await api.put(upload, chunk: index))
                #expect(receipt.receivedChunks == count + 1)
            }
            #expect(try readFile(api.dataPath(upload.id)) == file.bytes)
            #expect(try await api.status(upload).missing == [])
        }
    }

    @Test func theShortLastChunkIsAcceptedAtItsExactLength() async throws {
        try await ServerFixture().run { api in
            let upload = try await api.create(file)
            let response = try await api.put(upload, chunk: 3)
            #expect(response.status == .ok)
            #expect(file.chunk(3).count == 1000)
            #expect(try decode(ReceiptJSON.self, response).index == 3)
        }
    }

    @Test(arguments: [
        "bytes 1-65536/197608",  // misaligned
        "bytes 0-65534/197608",  // part of a chunk
        "bytes 0-131071/197608",  // two chunks
        "bytes 196608-197606/197608",  // the last chunk cut short
        "bytes 65536-131072/197608",  // one byte too many
    ])
    func aRangeThatIsNotOneWholeChunkIs416WithTheUploadsLength(_ range: String) async throws {
        try await ServerFixture().run { api in
            let upload = try await api.create(file)
            let parsed = try ContentRange.parse(range)
            let body = [UInt8](repeating: 7, count: Int(parsed.range.length))
            let response = try await api.request(.put, upload.path, headers: [.contentRange: range], body: body)
            try expectProblem(response, .rangeNotSatisfiable)
            #expect(response.headers[.contentRange] == "bytes */\(file.length)")
            #expect(try await api.status(upload).receivedChunks == 0)
        }
    }

    @Test func aRangeNamingAnotherTotalLengthIs416WithTheUploadsLength() async throws {
        try await ServerFixture().run { api in
            let upload = try await api.create(file)
            let response = try await api.request(
                .put, upload.path, headers: [.contentRange: "bytes 0-65535/300000"], body: file.chunk(0))
            try expectProblem(response, .rangeNotSatisfiable)
            #expect(response.headers[.contentRange] == "bytes */\(file.length)")
            #expect(try await api.status(upload).missing == [0, 1, 2, 3])
        }
    }

    @Test(arguments: ["bytes 5-4/197608", "bytes 197608-197608/197608", "bytes 0-99/50"])
    func anUnsatisfiableRangeIs416AndWritesNothing(_ range: String) async throws {
        try await ServerFixture().run { api in
            let upload = try await api.create(file)
            let response = try await api.request(.put, upload.path, headers: [.contentRange: range], body: [1])
            #expect(response.status == .rangeNotSatisfiable)
            #expect(response.headers[.contentRange]?.hasPrefix("bytes */") == true)
            #expect(try readFile(api.dataPath(upload.id)).allSatisfy { $0 == 0 })
        }
    }

    @Test func anUnsatisfiableRangeAnswersWithTheUploadsOwnLength() async throws {
        try await ServerFixture().run { api in
            let upload = try await api.create(file)
            let response = try await api.request(.put, upload.path, headers: [.contentRange: "bytes 0-99/50"], body: [UInt8](repeating: 1, count: 100))
            #expect(response.status == .rangeNotSatisfiable)
            #expect(response.headers[.contentRange] == "bytes */\(file.length)")
        }
    }

    @Test(arguments: ["bytes +0-65535/197608", "bytes 0x0-0xffff/197608", "items 0-65535/197608", "bytes 0-65535/*", "bytes */197608"])
    func aMalformedRangeIsABadRequestAndWritesNothing(_ range: String) async throws {
        try await ServerFixture().run { api in
            let upload = try await api.create(file)
            try expectProblem(try await api.request(.put, upload.path, headers: [.contentRange: range], body: file.chunk(0)), .badRequest)
            #expect(try readFile(api.dataPath(upload.id)).allSatisfy { $0 == 0 })
        }
    }

    @Test(arguments: [
        ("bytes 0-9223372036854775806/9223372036854775807", 0),
        ("bytes 9223372036854775806-9223372036854775806/9223372036854775807", 1),
        ("bytes 0-0/9223372036854775807", 1),
    ])
    func aRangeNearSixtyFourBitsIsRefusedWithoutTrapping(_ range: String, _ bodyLength: Int) async throws {
        try await ServerFixture().run { api in
            let upload = try await api.create(file)
            let response = try await api.request(.put, upload.path, headers: [.contentRange: range], body: [UInt8](repeating: 1, count: bodyLength))
            #expect([.badRequest, .rangeNotSatisfiable].contains(response.status))
            #expect(response.headers[.contentType] == problemMediaType)
            #expect(try await api.status(upload).receivedChunks == 0)
        }
    }

    @Test func aPutWithoutContentRangeIsABadRequest() async throws {
        try await ServerFixture().run { api in
            let upload = try await api.create(file)
            try expectProblem(try await api.request(.put, upload.path, body: file.chunk(0)), .badRequest)
        }
    }

    @Test func aBodyShorterThanItsRangeIsRefusedAndTheChunkStaysMissing() async throws {
        try await ServerFixture().run { api in
            let upload = try await api.create(file)
            let response = try await api.put(upload, chunk: 0, bytes: Array(file.chunk(0).dropLast()))
            try expectProblem(response, .badRequest)
            let handshake = try await api.head(upload)
            #expect(decodeBitmap(handshake.headers[.uploadChunks], chunkCount: 4) == [false, false, false, false])
            #expect(try await api.status(upload).missing == [0, 1, 2, 3])
        }
    }

    @Test func aBodyLongerThanItsRangeIsRefusedAndTheChunkStaysMissing() async throws {
        try await ServerFixture().run { api in
            let upload = try await api.create(file)
            let response = try await api.put(upload, chunk: 0, bytes: file.chunk(0) + [0])
            try expectProblem(response, .badRequest)
            #expect(try await api.status(upload).missing == [0, 1, 2, 3])
        }
    }

    @Test func aWrongXXH3DigestIs422AndTheChunkIsNotVerified() async throws {
        try await ServerFixture().run { api in
            let upload = try await api.create(file)
            let response = try await api.put(upload, chunk: 1, headers: [.contentDigest: xxh3Field(file.chunk(2))])
            let problem = try expectProblem(response, .unprocessableContent, type: "digest-mismatch")
            #expect(problem.index == 1)
            #expect(problem.expected == XXH3Hasher.hash(file.chunk(2)).description)
            #expect(problem.actual == XXH3Hasher.hash(file.chunk(1)).description)
            #expect(try await api.status(upload).missing == [0, 1, 2, 3])
            #expect(try await api.chunkMap(upload).chunks[1].state == "missing")
        }
    }

    @Test func aWrongSHA256DigestIs422AndTheChunkIsNotVerified() async throws {
        try await ServerFixture().run { api in
            let upload = try await api.create(file)
            let wrong = DigestField(sha256: SHA256Hasher.hash(file.chunk(2))).headerValue
            try expectProblem(try await api.put(upload, chunk: 1, headers: [.contentDigest: wrong]), .unprocessableContent)
            #expect(try await api.status(upload).receivedChunks == 0)
        }
    }

    @Test func correctXXH3AndSHA256DigestsAreAccepted() async throws {
        try await ServerFixture().run { api in
            let upload = try await api.create(file)
            let both = DigestField(sha256: SHA256Hasher.hash(file.chunk(0)), xxh3: XXH3Hasher.hash(file.chunk(0))).headerValue
            #expect(try await api.put(upload, chunk: 0, headers: [.contentDigest: both]).status == .ok)
            #expect(try await api.put(upload, chunk: 1, headers: [.contentDigest: xxh3Field(file.chunk(1))]).status == .ok)
            let sha = DigestField(sha256: SHA256Hasher.hash(file.chunk(2))).headerValue
            #expect(try await api.put(upload, chunk: 2, headers: [.contentDigest: sha]).status == .ok)
            #expect(try await api.status(upload).receivedChunks == 3)
        }
    }

    @Test func unknownDigestKeysAreIgnored() async throws {
        try await ServerFixture().run { api in
            let upload = try await api.create(file)
            let field = "md5=:AAAAAAAAAAAAAAAAAAAAAA==:, " + xxh3Field(file.chunk(0))
            #expect(try await api.put(upload, chunk: 0, headers: [.contentDigest: field]).status == .ok)
        }
    }

    @Test(arguments: ["xxh3=:AAAA:", "xxh3=\"abc\"", "xxh3=:AAAAAAAAAAA=", "XXH3=:AAAAAAAAAAA=:"])
    func aMalformedContentDigestIsABadRequest(_ field: String) async throws {
        try await ServerFixture().run { api in
            let upload = try await api.create(file)
            try expectProblem(try await api.put(upload, chunk: 0, headers: [.contentDigest: field]), .badRequest)
            #expect(try await api.status(upload).receivedChunks == 0)
        }
    }

    @Test func aDuplicateChunkWithTheSameBytesIsAcceptedAndNothingIsWritten() async throws {
        try await ServerFixture().run { api in
            let upload = try await api.create(file)
            #expect(try await api.put(upload, chunk: 1).status == .ok)
            let before = try fileStatus(api.dataPath(upload.id))
            try await Task.sleep(for: .milliseconds(20))
            let response = try await api.put(upload, chunk: 1)
            #expect(response.status == .ok)
            let receipt = try decode(ReceiptJSON.self, response)
            #expect(receipt.written == false)
            #expect(receipt.xxh3 == XXH3Hasher.hash(file.chunk(1)).description)
            #expect(receipt.receivedChunks == 1)
            #expect(try fileStatus(api.dataPath(upload.id)).modified == before.modified)
        }
    }

    @Test func aDuplicateChunkWithOtherBytesIsRefusedAndTheOriginalKept() async throws {
        try await ServerFixture().run { api in
            let upload = try await api.create(file)
            #expect(try await api.put(upload, chunk: 1).status == .ok)
            let other = [UInt8](repeating: 0xAB, count: kib64)
            let problem = try expectProblem(try await api.put(upload, chunk: 1, bytes: other), .conflict, type: "chunk-conflict")
            #expect(problem.index == 1)
            #expect(Array(try readFile(api.dataPath(upload.id))[file.range(1)]) == file.chunk(1))
            #expect(try await api.chunkMap(upload).chunks[1].xxh3 == XXH3Hasher.hash(file.chunk(1)).description)
        }
    }

    @Test func aChunkForAnUnknownUploadIs404() async throws {
        try await ServerFixture().run { api in
            let response = try await api.request(
                .put, "/uploads/0123456789abcdef0123456789abcdef", headers: [.contentRange: file.contentRange(0)], body: file.chunk(0))
            try expectProblem(response, .notFound, type: "upload-not-found")
        }
    }

    @Test(arguments: [
        "/uploads/..%2F..%2Fetc%2Fpasswd",
        "/uploads/%2e%2e%2f%2e%2e%2fescaped",
        "/uploads/abc%00",
        "/uploads/..",
        "/uploads/../escaped",
        "/uploads/ABCDEF0123456789ABCDEF0123456789",
    ])
    func aChunkForAnInvalidIDIs404AndCreatesNothing(_ path: String) async throws {
        try await ServerFixture().run { api in
            let upload = try await api.create(file)
            let response = try await api.request(.put, path, headers: [.contentRange: file.contentRange(0)], body: file.chunk(0))
            try expectProblem(response, .notFound)
            let root = URL(fileURLWithPath: api.dataDirectory).deletingLastPathComponent().path
            #expect(try FileManager.default.contentsOfDirectory(atPath: root) == ["data"])
            #expect(try FileManager.default.contentsOfDirectory(atPath: api.dataDirectory).sorted() == [upload.id, upload.id + ".chunkmap"])
        }
    }

    @Test func aChunkPutNamingTheChunkMapAsItsIDIs404AndLeavesTheMapIntact() async throws {
        try await ServerFixture().run { api in
            let upload = try await api.create(file)
            let mapBefore = try readFile(api.mapPath(upload.id))
            for path in [upload.path + ".chunkmap", upload.path + "%2Echunkmap"] {
                let response = try await api.request(.put, path, headers: [.contentRange: file.contentRange(0)], body: file.chunk(0))
                try expectProblem(response, .notFound)
            }
            #expect(try readFile(api.mapPath(upload.id)) == mapBefore)
        }
    }

    @Test func aLongIDIs404() async throws {
        try await ServerFixture().run { api in
            let response = try await api.request(
                .put, "/uploads/" + String(repeating: "a", count: 4096), headers: [.contentRange: file.contentRange(0)], body: file.chunk(0))
            try expectProblem(response, .notFound)
        }
    }

    @Test func aChunkWithOtherBytesAfterCompletionIsAConflict() async throws {
        try await ServerFixture().run { api in
            let upload = try await api.uploadWhole(file)
            let response = try await api.put(upload, chunk: 0, bytes: [UInt8](repeating: 1, count: kib64))
            try expectProblem(response, .conflict, type: "upload-complete")
            #expect(try readFile(api.dataPath(upload.id)) == file.bytes)
            #expect(try await api.status(upload).state == "complete")
        }
    }

    @Test func aChunkPutAfterCompletionIsAConflictEvenWithTheSameBytes() async throws {
        try await ServerFixture().run { api in
            let upload = try await api.uploadWhole(file)
            try expectProblem(try await api.put(upload, chunk: 0), .conflict, type: "upload-complete")
            #expect(try readFile(api.dataPath(upload.id)) == file.bytes)
            #expect(try await api.status(upload).state == "complete")
        }
    }

    @Test func aMarkMadeInTheChunkMapOnDiskIsSeenAtOnce() async throws {
        try await ServerFixture().run { api in
            let upload = try await api.create(file)
            try await api.putAll(upload)
            // As the offline `audit` would, from another process.
            let map = try ChunkMapFile.open(.init(api.mapPath(upload.id)), writable: true)
            try map.write(.corrupt(expected: XXH3Hasher.hash(file.chunk(2))), at: ChunkIndex(2))
            try map.close()
            #expect(try await api.status(upload).corrupt == [2])
            #expect(decodeBitmap(try await api.head(upload).headers[.uploadChunks], chunkCount: 4) == [true, true, false, true])
        }
    }

    @Test func aDamagedEntryInTheChunkMapReadsAsMissingNeverVerified() async throws {
        try await ServerFixture().run { api in
            let upload = try await api.create(file)
            try await api.putAll(upload)
            let map = try ChunkMapCodec.decode(readFile(api.mapPath(upload.id)))
            let entries = Int64(192 + (map.header.metadata.utf8.count + 15) / 16 * 16)
            try flipByte(api.mapPath(upload.id), at: entries + 16 * 1 + 3)  // inside chunk 1's digest
            #expect(try await api.status(upload).missing == [1])
            #expect(decodeBitmap(try await api.head(upload).headers[.uploadChunks], chunkCount: 4) == [true, false, true, true])
            // And the chunk can be sent again.
            #expect(try await api.put(upload, chunk: 1).status == .ok)
            #expect(try await api.status(upload).missing == [])
        }
    }
}
