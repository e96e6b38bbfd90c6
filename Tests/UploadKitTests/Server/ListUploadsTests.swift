import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import SystemPackage
import Testing
import UploadKit

/// `GET /uploads`: the uploads of the data directory, by id, a page at a time.
@Suite struct ListUploadsTests {
    let file = SampleFile.standard

    /// The answer of the contract, decoded independently of the server's types.
    struct ListJSON: Decodable {
        struct Entry: Decodable {
            var id: String
            var url: String
            var state: String
            var size: Int64?
            var chunkSize: Int64?
            var chunkCount: Int?
            var receivedChunks: Int?
            var receivedBytes: Int64?
            var sha256: String?
            var expectedSHA256: String?
            var filename: String?
            var createdAt: String?
            var updatedAt: String?
            var reason: String?
        }
        var uploads: [Entry]
        var next: String?
    }

    static let link = HTTPField.Name("Link")!

    func list(_ api: UploadAPI, _ query: String = "") async throws -> (ListJSON, TestResponse) {
        let response = try await api.request(.get, "/uploads" + query)
        try #require(response.status == .ok, "GET /uploads\(query) answered \(response.status): \(String(buffer: response.body))")
        return (try decode(ListJSON.self, response), response)
    }

    @Test func anEmptyDirectoryListsNothingAndNoNextPage() async throws {
        try await ServerFixture().run { api in
            let (page, response) = try await list(api)
            #expect(page.uploads.isEmpty)
            #expect(page.next == nil)
            #expect(response.headers[Self.link] == nil)
            #expect(response.headers[.contentType] == "application/json")
            #expect(String(buffer: response.body) == #"{"next":null,"uploads":[]}"#)
        }
    }

    @Test func createdUploadsAreListedByIDWithTheirGeometryProgressAndFilename() async throws {
        try await ServerFixture().run { api in
            let named = try await api.create(file, headers: [.uploadMetadata: "filename aGVsbG8udHh0", .reprDigest: file.reprDigest])
            let plain = try await api.create(file)
            #expect(try await api.put(named, chunk: 0).status == .ok)
            let (page, _) = try await list(api)
            #expect(page.uploads.map(\.id) == [named.id, plain.id].sorted())
            let entry = try #require(page.uploads.first { $0.id == named.id })
            #expect(entry.url == named.path)
            #expect(entry.state == "receiving")
            #expect(entry.size == Int64(file.length))
            #expect(entry.chunkSize == Int64(kib64))
            #expect(entry.chunkCount == 4)
            #expect(entry.receivedChunks == 1)
            #expect(entry.receivedBytes == Int64(kib64))
            #expect(entry.sha256 == nil)
            #expect(entry.expectedSHA256 == file.sha256.description)
            #expect(entry.filename == "hello.txt")
            #expect(entry.createdAt != nil && entry.updatedAt != nil)
            #expect(entry.reason == nil)
            #expect(page.uploads.first { $0.id == plain.id }?.filename == nil)
        }
    }

    @Test func aCompleteUploadIsListedWithItsConfirmedSHA256() async throws {
        try await ServerFixture().run { api in
            let upload = try await api.uploadWhole(file)
            let (page, _) = try await list(api)
            let entry = try #require(page.uploads.first)
            #expect(entry.id == upload.id)
            #expect(entry.state == "complete")
            #expect(entry.sha256 == file.sha256.description)
            #expect(entry.receivedChunks == 4)
        }
    }

    @Test func theStateFilterListsOnlyUploadsInThatState() async throws {
        try await ServerFixture().run { api in
            let receiving = try await api.create(file)
            let complete = try await api.uploadWhole(file)
            let damaged = try await api.uploadWhole(file)
            try flipByte(api.dataPath(damaged.id), at: 10)
            #expect(try await api.audit(damaged).status == .ok)
            #expect(try await list(api, "?state=receiving").0.uploads.map(\.id) == [receiving.id])
            #expect(try await list(api, "?state=complete").0.uploads.map(\.id) == [complete.id])
            #expect(try await list(api, "?state=damaged").0.uploads.map(\.id) == [damaged.id])
            #expect(try await list(api, "?state=unreadable").0.uploads.isEmpty)
        }
    }

    @Test func pagesFollowTheCursorAndTheLinkHeaderToTheLastPage() async throws {
        try await ServerFixture().run { api in
            var created = [String]()
            for _ in 0..<5 { created.append(try await api.create(file).id) }
            created.sort()
            var seen = [String]()
            var query = "?limit=2"
            var pages = 0
            while true {
                let (page, response) = try await list(api, query)
                pages += 1
                seen += page.uploads.map(\.id)
                guard let next = page.next else {
                    #expect(response.headers[Self.link] == nil)
                    break
                }
                #expect(next == page.uploads.last?.id)
                let link = try #require(response.headers[Self.link])
                #expect(link == "</uploads?limit=2&cursor=\(next)>; rel=\"next\"")
                let target = try #require(link.split(separator: ">").first?.dropFirst())
                query = String(target.dropFirst("/uploads".count))
                try #require(pages < 10, "the pages never end")
            }
            #expect(seen == created)
            #expect(pages == 3)
        }
    }

    @Test func aFullLastPageHasNoNextPage() async throws {
        try await ServerFixture().run { api in
            for _ in 0..<2 { _ = try await api.create(file) }
            let (page, response) = try await list(api, "?limit=2")
            #expect(page.uploads.count == 2)
            #expect(page.next == nil)
            #expect(response.headers[Self.link] == nil)
        }
    }

    @Test func theLinkKeepsTheStateFilter() async throws {
        try await ServerFixture().run { api in
            for _ in 0..<3 { _ = try await api.create(file) }
            let (page, response) = try await list(api, "?state=receiving&limit=1")
            let next = try #require(page.next)
            #expect(response.headers[Self.link] == "</uploads?limit=1&state=receiving&cursor=\(next)>; rel=\"next\"")
        }
    }

    @Test func filesThatAreNotUploadsAreNotListed() async throws {
        try await ServerFixture().run { api in
            let upload = try await api.create(file)
            let directory = api.dataDirectory
            try Data("notes".utf8).write(to: URL(fileURLWithPath: directory + "/notes.txt"))
            try Data().write(to: URL(fileURLWithPath: directory + "/0123456789abcdef0123456789abcdef"))
            try Data(try readFile(api.mapPath(upload.id))).write(to: URL(fileURLWithPath: api.mapPath(upload.id) + ".tmp-7"))
            try Data(try readFile(api.mapPath(upload.id))).write(to: URL(fileURLWithPath: directory + "/0123456789ABCDEF0123456789ABCDEF.chunkmap"))
            #expect(try await list(api).0.uploads.map(\.id) == [upload.id])
        }
    }

    @Test func aMapThatCannotBeReadIsListedAsUnreadableBesideTheOthers() async throws {
        try await ServerFixture().run { api in
            let broken = try await api.create(file)
            let intact = try await api.create(file)
            // The file size field of the header: its check no longer matches.
            try flipByte(api.mapPath(broken.id), at: 30)
            let (page, _) = try await list(api)
            #expect(page.uploads.map(\.id) == [broken.id, intact.id].sorted())
            let entry = try #require(page.uploads.first { $0.id == broken.id })
            #expect(entry.state == "unreadable")
            #expect(entry.url == broken.path)
            #expect(entry.size == nil && entry.chunkCount == nil && entry.receivedChunks == nil && entry.createdAt == nil)
            let reason = try #require(entry.reason)
            #expect(reason.contains("chunk map"), "\(reason)")
            #expect(!reason.contains(api.dataDirectory), "the server's paths stay out of answers: \(reason)")
            #expect(page.uploads.first { $0.id == intact.id }?.state == "receiving")
            #expect(try await list(api, "?state=unreadable").0.uploads.map(\.id) == [broken.id])
        }
    }

    @Test func withATokenListingNeedsIt() async throws {
        try await ServerFixture({ $0.token = "s3cret" }).run { api in
            try expectProblem(try await api.request(.get, "/uploads"), .unauthorized, type: "unauthorized")
            var authorized = api
            authorized.headers[.authorization] = "Bearer s3cret"
            #expect(try await authorized.request(.get, "/uploads").status == .ok)
        }
    }

    @Test(arguments: [
        "?limit=0", "?limit=1001", "?limit=abc", "?limit=-1", "?limit=", "?limit=99999999999999999999", "?state=lost", "?state=",
        "?cursor=xyz", "?cursor=", "?colour=red", "?limit=1&limit=2",
    ])
    func aBadQueryIs400NamingTheParameter(_ query: String) async throws {
        try await ServerFixture().run { api in
            let problem = try expectProblem(try await api.request(.get, "/uploads" + query), .badRequest, type: "invalid-query")
            let parameter = String(query.dropFirst().prefix { $0 != "=" })
            #expect(problem.detail.contains(parameter), "\(problem.detail)")
        }
    }
}
