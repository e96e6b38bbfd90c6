import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Testing
import UploadKit

/// The IETF draft "Resumable Uploads for HTTP", interop versions 6, 7 and
/// 8, over real sockets (a `104` is only seen there). Each test names the
/// rule it checks; docs/ietf-resumable-upload-notes.md quotes the draft.
@Suite struct ResumableUploadTests {
    let file = SampleFile(length: 3 * kib64 + 1000)

    func base64SHA256(_ bytes: [UInt8]) -> String { Data(SHA256Hasher.hash(bytes).bytes).base64EncodedString() }

    /// A creation request's head for interop `version`.
    func creation(_ version: Int?, complete: Bool, contentLength: Int, extra: [(String, String)] = []) -> String {
        var headers: [(String, String)] = [("Upload-Complete", complete ? "?1" : "?0"), ("Content-Length", "\(contentLength)")]
        if let version { headers.append(("Upload-Draft-Interop-Version", "\(version)")) }
        return requestHead("POST", "/files/", headers + extra)
    }

    @Test(arguments: [6, 7, 8])
    func aCreationIsAnnouncedByA104NamingTheUploadBeforeTheContentIsRead(_ version: Int) async throws {
        try await ServerFixture().run(.live) { api in
            let connection = try await RawHTTPConnection.open(port: try #require(api.client.port))
            await connection.send(
                creation(version, complete: true, contentLength: file.length, extra: [("Repr-Digest", "sha-256=:\(base64SHA256(file.bytes)):")]))
            await connection.send(Array(file.bytes[..<1000]))
            let interim = try await connection.readResponse()
            #expect(interim.status == 104)
            let location = try #require(interim.header("Location"))
            #expect(location.hasPrefix("/files/"))
            #expect(interim.header("Upload-Draft-Interop-Version") == "\(version)")
            #expect(interim.header("Upload-Limit")?.contains("max-size=") == true)
            await connection.send(Array(file.bytes[1000...]))
            let final = try await connection.readResponse()
            #expect(final.status == 201)
            #expect(final.header("Location") == location)
            #expect(final.header("Upload-Complete") == "?1")
            #expect(final.header("Upload-Offset") == "\(file.length)")
            let id = String(location.dropFirst("/files/".count))
            let status = try await api.status(Upload(id: id, file: file))
            #expect(status.state == "complete" && status.sha256 == file.sha256.description)
        }
    }

    @Test(arguments: [nil, 5, 9])
    func aClientWithoutAVersionThisServerSpeaksGetsNo104(_ version: Int?) async throws {
        try await ServerFixture().run(.live) { api in
            let connection = try await RawHTTPConnection.open(port: try #require(api.client.port))
            await connection.send(creation(version, complete: true, contentLength: file.length))
            await connection.send(file.bytes)
            let answer = try await connection.readResponse()
            #expect(answer.status == 201, "the final answer comes first: no interim response")
            #expect(answer.header("Upload-Complete") == "?1")
        }
    }

    /// RFC 9110, 15.2: a server must not send a 1xx response to an HTTP/1.0 client.
    @Test func anHTTP10ClientGetsNo104() async throws {
        try await ServerFixture().run(.live) { api in
            let connection = try await RawHTTPConnection.open(port: try #require(api.client.port))
            let head = creation(8, complete: true, contentLength: file.length).replacingOccurrences(of: " HTTP/1.1\r\n", with: " HTTP/1.0\r\n")
            await connection.send(head)
            await connection.send(file.bytes)
            let answer = try await connection.readResponse()
            #expect(answer.status == 201, "the final answer comes first: no interim response")
            #expect(answer.header("Upload-Complete") == "?1")
        }
    }

    @Test func anHTTP10ClientThatExpects100ContinueGetsNoInterimAnswer() async throws {
        try await ServerFixture().run(.live) { api in
            let connection = try await RawHTTPConnection.open(port: try #require(api.client.port))
            let head = creation(nil, complete: true, contentLength: file.length, extra: [("Expect", "100-continue")])
                .replacingOccurrences(of: " HTTP/1.1\r\n", with: " HTTP/1.0\r\n")
            await connection.send(head)
            await connection.send(file.bytes)
            let answer = try await connection.readResponse()
            #expect(answer.status == 201, "no 100 Continue before the final answer")
        }
    }

    @Test func anInterruptedCreationIsResumedFromTheOffsetHeadGives() async throws {
        try await ServerFixture().run(.live) { api in
            let connection = try await RawHTTPConnection.open(port: try #require(api.client.port))
            await connection.send(creation(6, complete: true, contentLength: file.length))
            let cut = kib64 + 5000
            await connection.send(Array(file.bytes[..<cut]))
            let location = try #require(try await connection.readResponse().header("Location"))
            connection.reset()
            let head = try await headUntilSettled(api, location)
            #expect(head.status == .noContent || head.status == .ok)
            let offset = try #require(head.headers[HTTPField.Name("Upload-Offset")!].flatMap(Int.init))
            #expect(offset > 0 && offset <= cut, "what arrived is kept, up to its last durable point")
            #expect(head.headers[HTTPField.Name("Upload-Complete")!] == "?0")
            #expect(head.headers[HTTPField.Name("Upload-Length")!] == "\(file.length)")
            #expect(head.headers[.cacheControl] == "no-store")
            let append = try await api.request(
                .patch, location,
                headers: [
                    HTTPField.Name("Upload-Draft-Interop-Version")!: "6", .contentType: "application/partial-upload",
                    HTTPField.Name("Upload-Offset")!: "\(offset)", HTTPField.Name("Upload-Complete")!: "?1",
                ], body: Array(file.bytes[offset...]))
            #expect(append.status == .created, "interop 6 answers an append 201")
            #expect(append.headers[HTTPField.Name("Upload-Complete")!] == "?1")
            let id = String(location.dropFirst("/files/".count))
            let status = try await api.status(Upload(id: id, file: file))
            #expect(status.state == "complete" && status.sha256 == file.sha256.description)
        }
    }

    @Test(arguments: [6, 7, 8])
    func anAppendAtAnotherOffsetIs409WithTheOffsetAndTheDraftsProblemType(_ version: Int) async throws {
        try await ServerFixture().run(.live) { api in
            let location = try await createIncomplete(api, version: version, firstBytes: 1000)
            let answer = try await api.request(
                .patch, location,
                headers: [
                    HTTPField.Name("Upload-Draft-Interop-Version")!: "\(version)", .contentType: "application/partial-upload",
                    HTTPField.Name("Upload-Offset")!: "7", HTTPField.Name("Upload-Complete")!: "?0",
                ], body: Array(file.bytes[7..<100]))
            #expect(answer.status == .conflict)
            #expect(answer.headers[HTTPField.Name("Upload-Offset")!] == "1000")
            let problem = try JSONSerialization.jsonObject(with: Data(answer.body.readableBytesView)) as? [String: Any]
            #expect(problem?["type"] as? String == "https://iana.org/assignments/http-problem-types#mismatching-upload-offset")
            #expect(problem?["expected-offset"] as? Int == 1000 && problem?["provided-offset"] as? Int == 7)
        }
    }

    @Test(arguments: [7, 8])
    func anIncompleteAppendIs204WithTheNewOffset(_ version: Int) async throws {
        try await ServerFixture().run(.live) { api in
            let location = try await createIncomplete(api, version: version, firstBytes: 1000)
            let answer = try await api.request(
                .patch, location,
                headers: [
                    HTTPField.Name("Upload-Draft-Interop-Version")!: "\(version)", .contentType: "application/partial-upload",
                    HTTPField.Name("Upload-Offset")!: "1000", HTTPField.Name("Upload-Complete")!: "?0",
                ], body: Array(file.bytes[1000..<5000]))
            #expect(answer.status == .noContent)
            #expect(answer.headers[HTTPField.Name("Upload-Offset")!] == "5000" && answer.headers[HTTPField.Name("Upload-Complete")!] == "?0")
        }
    }

    @Test func anAppendToACompleteUploadIsRefusedWithTheCompletedUploadProblem() async throws {
        try await ServerFixture().run(.live) { api in
            let connection = try await RawHTTPConnection.open(port: try #require(api.client.port))
            await connection.send(creation(8, complete: true, contentLength: file.length))
            await connection.send(file.bytes)
            var answer = try await connection.readResponse()
            if answer.status == 104 { answer = try await connection.readResponse() }
            let location = try #require(answer.header("Location"))
            let refused = try await api.request(
                .patch, location,
                headers: [
                    HTTPField.Name("Upload-Draft-Interop-Version")!: "8", .contentType: "application/partial-upload",
                    HTTPField.Name("Upload-Offset")!: "\(file.length)", HTTPField.Name("Upload-Complete")!: "?1",
                ], body: [1])
            #expect(refused.status == .badRequest)
            let problem = try JSONSerialization.jsonObject(with: Data(refused.body.readableBytesView)) as? [String: Any]
            #expect(problem?["type"] as? String == "https://iana.org/assignments/http-problem-types#completed-upload")
        }
    }

    @Test func lengthsThatDisagreeAreRefusedWithTheInconsistentLengthProblem() async throws {
        try await ServerFixture().run(.live) { api in
            let answer = try await api.request(
                .post, "/files/",
                headers: [
                    HTTPField.Name("Upload-Draft-Interop-Version")!: "8", HTTPField.Name("Upload-Complete")!: "?1",
                    HTTPField.Name("Upload-Length")!: "5000",
                ], body: Array(file.bytes[..<4000]))
            #expect(answer.status == .badRequest)
            let problem = try JSONSerialization.jsonObject(with: Data(answer.body.readableBytesView)) as? [String: Any]
            #expect(problem?["type"] as? String == "https://iana.org/assignments/http-problem-types#inconsistent-upload-length")
            #expect(try FileManager.default.contentsOfDirectory(atPath: api.dataDirectory).isEmpty, "nothing was created")
        }
    }

    @Test func anOffsetRetrievalCarryingUploadFieldsIsABadRequest() async throws {
        try await ServerFixture().run(.live) { api in
            let location = try await createIncomplete(api, version: 6, firstBytes: 10)
            let answer = try await api.request(
                .head, location, headers: [HTTPField.Name("Upload-Draft-Interop-Version")!: "6", HTTPField.Name("Upload-Offset")!: "10"])
            #expect(answer.status == .badRequest)
        }
    }

    @Test func aWrongContentDigestDiscardsTheAppend() async throws {
        try await ServerFixture().run(.live) { api in
            let location = try await createIncomplete(api, version: 8, firstBytes: 1000)
            let answer = try await api.request(
                .patch, location,
                headers: [
                    HTTPField.Name("Upload-Draft-Interop-Version")!: "8", .contentType: "application/partial-upload",
                    HTTPField.Name("Upload-Offset")!: "1000", HTTPField.Name("Upload-Complete")!: "?0",
                    HTTPField.Name("Content-Digest")!: "sha-256=:\(base64SHA256([1, 2, 3])):",
                ], body: Array(file.bytes[1000..<5000]))
            #expect(answer.status == .badRequest)
            let head = try await api.request(.head, location, headers: [HTTPField.Name("Upload-Draft-Interop-Version")!: "8"])
            #expect(head.headers[HTTPField.Name("Upload-Offset")!] == "1000", "the offset does not move")
        }
    }

    /// Version 6: `Upload-Offset` in every answer about an upload still taking appends, failures included.
    @Test func underVersion6AFailedAppendStillSaysTheOffset() async throws {
        try await ServerFixture().run(.live) { api in
            let location = try await createIncomplete(api, version: 6, firstBytes: 1000)
            let answer = try await api.request(
                .patch, location,
                headers: [
                    HTTPField.Name("Upload-Draft-Interop-Version")!: "6", .contentType: "application/partial-upload",
                    HTTPField.Name("Upload-Offset")!: "1000", HTTPField.Name("Upload-Complete")!: "?0",
                    HTTPField.Name("Content-Digest")!: "sha-256=:\(base64SHA256([1, 2, 3])):",
                ], body: Array(file.bytes[1000..<5000]))
            #expect(answer.status == .badRequest)
            #expect(answer.headers[HTTPField.Name("Upload-Offset")!] == "1000")
        }
    }

    @Test func aNewAppendEndsAnOlderOneStillRunning() async throws {
        try await ServerFixture().run(.live) { api in
            let location = try await createIncomplete(api, version: 8, firstBytes: 1000)
            let older = try await RawHTTPConnection.open(port: try #require(api.client.port))
            await older.send(
                requestHead(
                    "PATCH", location,
                    [
                        ("Upload-Draft-Interop-Version", "8"), ("Content-Type", "application/partial-upload"), ("Upload-Offset", "1000"),
                        ("Upload-Complete", "?1"), ("Content-Length", "\(file.length - 1000)"),
                    ]))
            await older.send(Array(file.bytes[1000..<3000]))
            try await Task.sleep(for: .milliseconds(300))
            // The client gave up on the older one: it asks where to resume, then appends the rest.
            let head = try await api.request(.head, location, headers: [HTTPField.Name("Upload-Draft-Interop-Version")!: "8"])
            let offset = try #require(head.headers[HTTPField.Name("Upload-Offset")!].flatMap(Int.init))
            #expect(await older.waitForClose(), "the older append's connection was ended")
            let newer = try await api.request(
                .patch, location,
                headers: [
                    HTTPField.Name("Upload-Draft-Interop-Version")!: "8", .contentType: "application/partial-upload",
                    HTTPField.Name("Upload-Offset")!: "\(offset)", HTTPField.Name("Upload-Complete")!: "?1",
                ], body: Array(file.bytes[offset...]))
            #expect(newer.status == .ok)
            let id = String(location.dropFirst("/files/".count))
            #expect(try await api.status(Upload(id: id, file: file)).sha256 == file.sha256.description)
        }
    }

    @Test func optionsAnnouncesTheLimitsAndThePatchMediaType() async throws {
        try await ServerFixture().run(.live) { api in
            let answer = try await api.request(.options, "/files/")
            #expect(answer.headers[HTTPField.Name("Upload-Limit")!]?.contains("max-size=") == true)
            #expect(answer.headers[HTTPField.Name("Accept-Patch")!] == "application/partial-upload")
        }
    }

    @Test func aCancelledUploadIsGone() async throws {
        try await ServerFixture().run(.live) { api in
            let location = try await createIncomplete(api, version: 7, firstBytes: 10)
            let deleted = try await api.request(.delete, location, headers: [HTTPField.Name("Upload-Draft-Interop-Version")!: "7"])
            #expect(deleted.status == .noContent)
            let head = try await api.request(.head, location, headers: [HTTPField.Name("Upload-Draft-Interop-Version")!: "7"])
            #expect(head.status == .notFound)
        }
    }

    /// Creates an upload of `file` whose first `firstBytes` are sent, incomplete.
    private func createIncomplete(_ api: UploadAPI, version: Int, firstBytes: Int) async throws -> String {
        let answer = try await api.request(
            .post, "/files/",
            headers: [
                HTTPField.Name("Upload-Draft-Interop-Version")!: "\(version)", HTTPField.Name("Upload-Complete")!: "?0",
                HTTPField.Name("Upload-Length")!: "\(file.length)",
            ], body: Array(file.bytes[..<firstBytes]))
        #expect(answer.status == .created)
        #expect(answer.headers[HTTPField.Name("Upload-Complete")!] == "?0")
        return try #require(answer.headers[.location])
    }

    /// HEAD, once the server has let go of a connection that was cut (its append keeps what arrived).
    private func headUntilSettled(_ api: UploadAPI, _ location: String) async throws -> TestResponse {
        var last: TestResponse?
        for _ in 0..<100 {
            let head = try await api.request(.head, location, headers: [HTTPField.Name("Upload-Draft-Interop-Version")!: "6"])
            if let previous = last, previous.headers[HTTPField.Name("Upload-Offset")!] == head.headers[HTTPField.Name("Upload-Offset")!] {
                return head
            }
            last = head
            try await Task.sleep(for: .milliseconds(50))
        }
        return try #require(last)
    }
}
