import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Testing
import UploadKit

/// tus's concatenation extension at `/files/`, as tus-js-client's
/// `parallelUploads` uses it: partial uploads created with `Upload-Concat:
/// partial` and sent by `PATCH`, then one `POST` with `Upload-Concat:
/// final;URL URL …` that makes the final upload, complete at once.
@Suite struct TusConcatenationTests {
    static let tusResumable = HTTPField.Name("Tus-Resumable")!
    static let tusExtension = HTTPField.Name("Tus-Extension")!
    static let tusMaxSize = HTTPField.Name("Tus-Max-Size")!
    static let uploadConcat = HTTPField.Name("Upload-Concat")!
    static let tus: HTTPFields = [tusResumable: "1.0.0"]

    /// Three parts, none a multiple of the default 8 MiB chunk: the final's
    /// first chunk holds all of part 0 and the start of part 1, its second
    /// the rest of part 1 and all of part 2.
    static let partSizes = [3 << 20 + 7, 6 << 20 - 13, 2 << 20 + 1001]

    static func parts(_ sizes: [Int] = TusConcatenationTests.partSizes) -> [[UInt8]] {
        sizes.enumerated().map { index, size in pseudoRandomBytes(size, seed: 0xC0CA + UInt64(index)) }
    }

    func headers(_ extra: HTTPFields) -> HTTPFields {
        var all = Self.tus
        for field in extra { all[field.name] = field.value }
        return all
    }

    /// Creates an upload at `/files/` (a partial one unless `partial` is
    /// false) and returns its path, or fails the test.
    func create(_ api: UploadAPI, length: Int, partial: Bool = true) async throws -> String {
        var extra: HTTPFields = [.uploadLength: String(length)]
        if partial { extra[Self.uploadConcat] = "partial" }
        let response = try await api.request(.post, "/files/", headers: headers(extra))
        try #require(response.status == .created, "creation answered \(response.status): \(String(buffer: response.body))")
        return try #require(response.headers[.location])
    }

    func patch(_ api: UploadAPI, _ location: String, at offset: Int, _ bytes: [UInt8]) async throws -> TestResponse {
        try await api.request(
            .patch, location, headers: headers([.contentType: "application/offset+octet-stream", .uploadOffset: String(offset)]), body: bytes)
    }

    /// A partial upload of `bytes`, sent whole.
    func sendPartial(_ api: UploadAPI, _ bytes: [UInt8]) async throws -> String {
        let location = try await create(api, length: bytes.count)
        let answer = try await patch(api, location, at: 0, bytes)
        try #require(answer.status == .noContent, "PATCH answered \(answer.status): \(String(buffer: answer.body))")
        return location
    }

    func concatenate(_ api: UploadAPI, _ value: String, extra: HTTPFields = [:]) async throws -> TestResponse {
        var fields = extra
        fields[Self.uploadConcat] = value
        return try await api.request(.post, "/files/", headers: headers(fields))
    }

    func id(_ location: String) -> String { String(location.dropFirst("/files/".count)) }

    func upload(_ location: String) -> Upload { Upload(id: id(location), file: SampleFile(length: 0)) }

    func filesInDataDirectory(_ api: UploadAPI) throws -> Int { try FileManager.default.contentsOfDirectory(atPath: api.dataDirectory).count }

    @Test func optionsListsConcatenationButNotConcatenationUnfinished() async throws {
        try await ServerFixture().run { api in
            let response = try await api.request(.options, "/files/")
            #expect(response.status == .noContent)
            let offered = (response.headers[Self.tusExtension] ?? "").split(separator: ",").map(String.init)
            #expect(offered.contains("concatenation"))
            #expect(!offered.contains("concatenation-unfinished"))
        }
    }

    @Test func partialsThenAFinalGiveTheConcatenationCompleteWithItsSHA256() async throws {
        try await ServerFixture().run { api in
            let parts = Self.parts()
            let whole = Array(parts.joined())
            var locations = [String]()
            for part in parts { locations.append(try await sendPartial(api, part)) }

            // A partial's HEAD: Upload-Concat as created, and its offset.
            let partialHead = try await api.request(.head, locations[1], headers: Self.tus)
            #expect(partialHead.status == .ok)
            #expect(partialHead.headers[Self.uploadConcat] == "partial")
            #expect(partialHead.headers[.uploadOffset] == String(parts[1].count))
            #expect(try await api.status(upload(locations[1])).state == "complete", "a partial completes as any upload, without a SHA-256 given")

            // Absolute URLs and paths alike, as tus-js-client resolves Location against its endpoint.
            let named = ["http://localhost:8080" + locations[0], locations[1], "https://proxy.example/tus" + locations[2]]
            let sha256 = SHA256Hasher.hash(whole).description
            let metadata = "filename YmlnLmlzbw==,sha256 \(Data(sha256.utf8).base64EncodedString())"
            let created = try await concatenate(api, "final;" + named.joined(separator: " "), extra: [.uploadMetadata: metadata])
            #expect(created.status == .created, "\(String(buffer: created.body))")
            let location = try #require(created.headers[.location])
            #expect(location.hasPrefix("/files/") && !locations.contains(location))

            let head = try await api.request(.head, location, headers: Self.tus)
            #expect(head.status == .ok)
            #expect(head.headers[Self.uploadConcat] == "final;" + locations.joined(separator: " "))
            #expect(head.headers[.uploadLength] == String(whole.count))
            #expect(head.headers[.uploadOffset] == String(whole.count), "a finished final's offset is its length")
            #expect(head.headers[.uploadMetadata] == metadata, "the client's metadata, as sent, and nothing of the server's")
            #expect(head.headers[.reprDigest] == DigestField(sha256: SHA256Hasher.hash(whole)).headerValue)

            // Natively: complete, confirmed, its bytes the parts' in order.
            let status = try await api.status(upload(location))
            #expect(status.state == "complete" && status.sha256 == sha256)
            #expect(status.size == Int64(whole.count) && status.chunkSize == 8 << 20 && status.chunkCount == 2)
            #expect(status.missing.isEmpty && status.receivedChunks == 2)
            #expect(status.metadata["filename"] == "big.iso")
            let chunks = try await api.chunkMap(upload(location))
            for entry in chunks.chunks {
                let bytes = Array(whole[Int(entry.offset)..<Int(entry.offset + entry.length)])
                #expect(entry.state == "verified" && entry.xxh3 == XXH3Hasher.hash(bytes).description, "chunk \(entry.index)")
            }
            let data = try await api.data(upload(location))
            #expect(data.status == .ok)
            #expect(Array(buffer: data.body) == whole)

            // Termination of the partials leaves the final as it is.
            for partial in locations { #expect(try await api.request(.delete, partial, headers: Self.tus).status == .noContent) }
            #expect(Array(buffer: try await api.data(upload(location)).body) == whole)
            #expect(try await api.status(upload(location)).state == "complete")
        }
    }

    @Test func aNormalUploadsHeadHasNoUploadConcat() async throws {
        try await ServerFixture().run { api in
            let location = try await create(api, length: 10, partial: false)
            let head = try await api.request(.head, location, headers: Self.tus)
            #expect(head.status == .ok && head.headers[Self.uploadConcat] == nil)
        }
    }

    @Test func aFinalNamingAnUnknownUploadIs404AndMakesNothing() async throws {
        try await ServerFixture().run { api in
            let a = try await sendPartial(api, Self.parts([1000])[0])
            let before = try filesInDataDirectory(api)
            for value in ["final;\(a) /files/0123456789abcdef0123456789abcdef", "final;\(a) /files/abc"] {
                let answer = try await concatenate(api, value)
                try expectProblem(answer, .notFound, type: "upload-not-found")
            }
            #expect(try filesInDataDirectory(api) == before)
        }
    }

    @Test func aFinalOfAnUnfinishedPartialIs400NamingIt() async throws {
        try await ServerFixture().run { api in
            let a = try await sendPartial(api, Self.parts([1000])[0])
            let unfinished = try await create(api, length: 5000)
            #expect(try await patch(api, unfinished, at: 0, Array(repeating: 1, count: 1200)).status == .noContent)
            let before = try filesInDataDirectory(api)
            let problem = try expectProblem(try await concatenate(api, "final;\(a) \(unfinished)"), .badRequest, type: "partial-upload-incomplete")
            #expect(problem.detail.contains(id(unfinished)) && problem.detail.contains("1200 of 5000"))
            #expect(try filesInDataDirectory(api) == before)
        }
    }

    @Test func aFinalOfAnUploadNotCreatedPartialIs400() async throws {
        try await ServerFixture().run { api in
            let a = try await sendPartial(api, Self.parts([1000])[0])
            let plain = try await create(api, length: 10, partial: false)
            #expect(try await patch(api, plain, at: 0, Array(repeating: 2, count: 10)).status == .noContent)
            let problem = try expectProblem(try await concatenate(api, "final;\(a) \(plain)"), .badRequest, type: "not-a-partial-upload")
            #expect(problem.detail.contains(id(plain)))
        }
    }

    @Test func aPatchToAFinalIs403AndChangesNothing() async throws {
        try await ServerFixture().run { api in
            let parts = Self.parts([1000, 2000])
            let a = try await sendPartial(api, parts[0])
            let b = try await sendPartial(api, parts[1])
            let created = try await concatenate(api, "final;\(a) \(b)")
            let location = try #require(created.headers[.location])
            for offset in [0, 3000] {
                try expectProblem(try await patch(api, location, at: offset, [1, 2, 3]), .forbidden, type: "final-upload")
            }
            #expect(Array(buffer: try await api.data(upload(location)).body) == parts[0] + parts[1])
        }
    }

    /// A final a crash left `receiving` (its parts' bytes copied, never
    /// checked) takes no bytes by any route: a native chunk `PUT`, a tus
    /// `PATCH` and an IETF `PATCH` are each `403 final-upload`, its files are
    /// as the crash left them, and a tus `HEAD` does not complete it.
    @Test func aWriteToAFinalLeftByACrashIs403ByEveryRouteAndChangesNothing() async throws {
        try await ServerFixture({ $0.crashProbe = StopAtCrashPoint(.afterConcatenateCopy, occurrence: 1) }).run { api in
            let parts = Self.parts([1000, 2000])
            let a = try await sendPartial(api, parts[0])
            let b = try await sendPartial(api, parts[1])
            #expect(try await concatenate(api, "final;\(a) \(b)").status != .created, "the crash is not a creation")
            let names = try FileManager.default.contentsOfDirectory(atPath: api.dataDirectory)
            let final = try #require(
                names.filter { $0.hasSuffix(".chunkmap") }.map { String($0.dropLast(".chunkmap".count)) }.first { ![id(a), id(b)].contains($0) })
            let data = try Data(contentsOf: URL(fileURLWithPath: api.dataPath(final)))
            let map = try Data(contentsOf: URL(fileURLWithPath: api.mapPath(final)))
            let other = Array(parts[0] + parts[1]).map { $0 ^ 0xFF }

            let put = try await api.request(.put, "/uploads/\(final)", headers: [.contentRange: "bytes 0-2999/3000"], body: other)
            try expectProblem(put, .forbidden, type: "final-upload")
            try expectProblem(try await patch(api, "/files/\(final)", at: 0, other), .forbidden, type: "final-upload")
            let ietf = try await api.request(
                .patch, "/files/\(final)",
                headers: [.contentType: "application/partial-upload", .uploadOffset: "0", .uploadComplete: "?0"], body: other)
            try expectProblem(ietf, .forbidden, type: "final-upload")

            let head = try await api.request(.head, "/files/\(final)", headers: Self.tus)
            #expect(head.status == .ok && head.headers[.uploadOffset] == nil, "not completed by a HEAD")
            #expect(try Data(contentsOf: URL(fileURLWithPath: api.dataPath(final))) == data)
            #expect(try Data(contentsOf: URL(fileURLWithPath: api.mapPath(final))) == map)
        }
    }

    @Test func aFinalOverTheMaximumSizeIs413WithTusMaxSize() async throws {
        try await ServerFixture({ $0.maxUploadSize = ByteCount(150_000) }).run { api in
            let parts = Self.parts([100_000, 60_000])
            let a = try await sendPartial(api, parts[0])
            let b = try await sendPartial(api, parts[1])
            let before = try filesInDataDirectory(api)
            let answer = try await concatenate(api, "final;\(a) \(b)")
            try expectProblem(answer, .contentTooLarge, type: "upload-too-large")
            #expect(answer.headers[Self.tusMaxSize] == "150000")
            #expect(try filesInDataDirectory(api) == before)
        }
    }

    @Test func aFinalWhoseSHA256IsNotTheAnnouncedOneIs422AndMakesNothing() async throws {
        try await ServerFixture().run { api in
            let parts = Self.parts([1000, 2000])
            let a = try await sendPartial(api, parts[0])
            let b = try await sendPartial(api, parts[1])
            let before = try filesInDataDirectory(api)
            let wrong = SHA256Hasher.hash(parts[1] + parts[0]).description
            let answer = try await concatenate(api, "final;\(a) \(b)", extra: [.uploadMetadata: "sha256 \(Data(wrong.utf8).base64EncodedString())"])
            let problem = try expectProblem(answer, .unprocessableContent, type: "sha256-mismatch")
            #expect(problem.expected == wrong && problem.actual == SHA256Hasher.hash(parts[0] + parts[1]).description)
            #expect(try filesInDataDirectory(api) == before)
        }
    }

    @Test func malformedConcatenationRequestsAre400() async throws {
        try await ServerFixture().run { api in
            let a = try await sendPartial(api, Self.parts([1000])[0])
            let before = try filesInDataDirectory(api)
            for value in ["whole", "final", "final;", "final; ", "Partial", "final;\(a)?x=1", "final;/uploads/\(id(a))", "final;http://host"] {
                let problem = try expectProblem(
                    try await concatenate(api, value, extra: value.hasPrefix("final") ? [:] : [.uploadLength: "10"]), .badRequest,
                    type: "invalid-header")
                #expect(problem.title.contains("Upload-Concat"), "\(value): \(problem.title)")
            }
            // A final's length is its parts': Upload-Length is refused, and so is a body.
            try expectProblem(try await concatenate(api, "final;\(a)", extra: [.uploadLength: "1000"]), .badRequest, type: "invalid-header")
            try expectProblem(
                try await concatenate(api, "final;\(a)", extra: [.contentType: "application/offset+octet-stream"]), .badRequest, type: "invalid-header")
            #expect(try filesInDataDirectory(api) == before)
        }
    }

    @Test func theServersMetadataKeyIsRefusedToClients() async throws {
        try await ServerFixture().run { api in
            let forged = "uploadverify-concat \(Data("final;".utf8).base64EncodedString())"
            let answer = try await api.request(.post, "/files/", headers: headers([.uploadLength: "10", .uploadMetadata: forged]))
            try expectProblem(answer, .badRequest, type: "invalid-header")
            #expect(try filesInDataDirectory(api) == 0)
        }
    }

    @Test func aPartialMayBeUsedInSeveralFinals() async throws {
        try await ServerFixture().run { api in
            let parts = Self.parts([70_000, 1])
            let a = try await sendPartial(api, parts[0])
            let b = try await sendPartial(api, parts[1])
            let first = try #require(try await concatenate(api, "final;\(a) \(b)").headers[.location])
            let second = try #require(try await concatenate(api, "final;\(b) \(a) \(b)").headers[.location])
            #expect(Array(buffer: try await api.data(upload(first)).body) == parts[0] + parts[1])
            #expect(Array(buffer: try await api.data(upload(second)).body) == parts[1] + parts[0] + parts[1])
        }
    }
}
