import Foundation
import Testing
import UploadKit

/// A real tus client against the built server: tuspy 1.1.0 (PyPI `tuspy`,
/// module `tusclient`; `scripts/install-deps.sh --browser` installs it), each
/// run in a python3 process of its own, so that a resume starts from nothing
/// but the upload's URL, as it does after a crash. What tuspy sent is then
/// checked where it landed: the data file, the native API's status and the
/// native command-line tools.
@Suite(.serialized) struct TusClientTests {
    /// The PATCH size tuspy is told: half the server's 8 MiB chunk.
    static let patchSize = 4 << 20
    static let tus = ["Tus-Resumable": "1.0.0"]

    func server(_ workspace: Workspace) throws -> ServerProcess {
        try ServerProcess(dataDirectory: workspace.url.appendingPathComponent("uploads"), arguments: ["--no-fsync"])
    }

    // MARK: Stop, then resume from another process

    @Test func tuspyStopsPartWayAndANewProcessResumesFromTheUploadURL() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        let server = try server(workspace)
        defer { withExtendedLifetime(server) {} }
        // ~20 MiB: 3 chunks of the server's (8, 8 and 4 MiB + 4321 bytes), 6 PATCHes of tuspy's.
        let size = 20 << 20 + 4321
        let source = workspace.path("source.bin")
        try Subprocess.writeRandomFile(source, count: size)
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: source)))
        let digest = SHA256Hasher.hash(bytes)

        // Three PATCHes with Upload-Checksum (sha1, tuspy's), then the process ends:
        // chunk 0 whole, chunk 1 half sent.
        let stopAt = 3 * Self.patchSize
        let first = try tuspy(
            Self.start,
            [
                "base": server.base, "source": source, "chunk": Self.patchSize, "stopAt": stopAt,
                "metadata": ["filename": "source.bin", "sha256": digest.description],
            ])
        let url = try #require(first["url"] as? String, "tuspy created no upload: \(first)")
        let id = String(url.split(separator: "/").last ?? "")
        #expect(url == "\(server.base)/files/\(id)", "tuspy's upload URL: \(url)")
        #expect(first["offset"] as? Int == stopAt, "\(first)")

        // Between the two processes: the offset is what was sent, chunk 0 verified as it filled.
        let between = try Curl.request("HEAD", url, headers: Self.tus)
        #expect(between.status == 200 && between.headers["upload-offset"] == String(stopAt), "HEAD between the runs: \(between.status) \(between.headers)")
        #expect(between.headers["upload-length"] == String(size))
        #expect(between.headers["repr-digest"] == nil, "an unfinished upload has no Repr-Digest: \(between.headers)")
        let partial = try status(server, id)
        #expect(partial["state"] as? String == "receiving" && partial["receivedChunks"] as? Int == 1, "GET /uploads/\(id) between the runs: \(partial)")

        // A new process, with nothing but the URL: tuspy asks the server (HEAD) where to go on.
        let second = try tuspy(Self.resume, ["base": server.base, "source": source, "chunk": Self.patchSize, "url": url])
        #expect(second["raised"] as? Bool == false, "the resumed upload failed: \(second)")
        #expect(second["resumedFrom"] as? Int == stopAt, "tuspy resumed from \(Self.show(second["resumedFrom"])), not the stored offset")
        #expect(second["offset"] as? Int == size, "\(second)")

        let stored = try Data(contentsOf: workspace.url.appendingPathComponent("uploads").appendingPathComponent(id))
        #expect(stored.count == size && [UInt8](stored) == bytes, "the file on disk is not the source, byte for byte")
        let done = try status(server, id)
        #expect(done["state"] as? String == "complete", "GET /uploads/\(id): \(done)")
        #expect(done["sha256"] as? String == digest.description, "GET /uploads/\(id): \(done)")
        #expect(done["receivedChunks"] as? Int == 3 && done["chunkCount"] as? Int == 3, "\(done)")
        #expect((done["metadata"] as? [String: Any])?["filename"] as? String == "source.bin", "\(done)")
        let head = try Curl.request("HEAD", url, headers: Self.tus)
        #expect(head.status == 200, "HEAD after the upload: \(head.status)")
        #expect(head.headers["repr-digest"] == "sha-256=:\(Data(digest.bytes).base64EncodedString()):", "HEAD after the upload: \(head.headers)")
        #expect(head.headers["upload-offset"] == String(size) && head.headers["upload-length"] == String(size), "\(head.headers)")
        #expect(head.headers["tus-resumable"] == "1.0.0")
        // Every byte crossed the wire once: the resume started at the stored offset, not before it.
        #expect(try metric(server, "uploadverify_bytes_received_total") == size)
    }

    // MARK: The SHA-256 announced at creation

    @Test func aWrongSHA256InTheMetadataKeepsTheUploadFromCompletingAndTheLastPatchSaysWhy() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        let server = try server(workspace)
        defer { withExtendedLifetime(server) {} }
        let size = 9 << 20 + 77
        let source = workspace.path("source.bin")
        try Subprocess.writeRandomFile(source, count: size)
        let actual = SHA256Hasher.hash([UInt8](try Data(contentsOf: URL(fileURLWithPath: source)))).description
        // Well formed (64 hex digits, base64-encoded by tuspy as every metadata value), not the file's.
        let announced = SHA256Hasher.hash(Array("not the source".utf8)).description

        let outcome = try tuspy(Self.whole, ["base": server.base, "source": source, "chunk": Self.patchSize, "metadata": ["sha256": announced]])
        let url = try #require(outcome["url"] as? String, "\(outcome)")
        let id = String(url.split(separator: "/").last ?? "")
        // The last PATCH (the one with the last byte, when the server hashes the file) is refused, and says why.
        #expect(outcome["raised"] as? Bool == true, "tuspy was told the upload succeeded: \(outcome)")
        #expect(outcome["status"] as? Int == 422 && outcome["lastStatus"] as? Int == 422, "the last PATCH answered \(Self.show(outcome["status"]))")
        let problem = try json(try #require(outcome["body"] as? String, "\(outcome)"))
        #expect((problem["type"] as? String)?.hasSuffix("/sha256-mismatch") == true, "\(problem)")
        #expect(problem["status"] as? Int == 422)
        #expect(problem["expected"] as? String == announced && problem["actual"] as? String == actual, "the problem names both digests: \(problem)")
        #expect((problem["detail"] as? String)?.contains(announced) == true, "\(problem)")
        #expect((outcome["lastHeaders"] as? [String: Any])?["tus-resumable"] as? String == "1.0.0", "\(outcome)")

        // Not complete, in the native API either; the digest it is held to is the announced one.
        let state = try status(server, id)
        #expect(state["state"] as? String != "complete", "GET /uploads/\(id): \(state)")
        #expect(state["sha256"] is NSNull, "no SHA-256 is recorded for an upload that failed it: \(state)")
        #expect((state["metadata"] as? [String: Any])?["sha256"] as? String == announced, "\(state)")
        let head = try Curl.request("HEAD", url, headers: Self.tus)
        #expect(head.headers["repr-digest"] == nil, "HEAD gives a Repr-Digest for an upload that failed its SHA-256: \(head.headers)")
        #expect(try metric(server, "uploadverify_uploads_failed_total") == 1)
        #expect(try metric(server, "uploadverify_uploads_completed_total") == 0)

        // What a tuspy that resumes it is told (reported: HEAD's offset is the length by now).
        let resumed = try tuspy(Self.resume, ["base": server.base, "source": source, "chunk": Self.patchSize, "url": url])
        #expect(try status(server, id)["state"] as? String != "complete")
        let told = resumed["raised"] as? Bool == true ? "failed: \(resumed)" : "was told it was done: \(resumed)"
        print(
            "TusClientTests, wrong SHA-256: HEAD afterwards says offset \(Self.show(head.headers["upload-offset"])) of \(size); GET /uploads/\(id) says \(Self.show(state["state"])); a resuming tuspy \(told)"
        )
    }

    // MARK: The native tools on a tus upload

    @Test func theNativeStatusAndVerifyCommandsWorkOnATusUpload() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        let server = try server(workspace)
        defer { withExtendedLifetime(server) {} }
        // 3 chunks: 8, 8 and 1 MiB + 99 bytes.
        let size = 17 << 20 + 99
        let source = workspace.path("source.bin")
        try Subprocess.writeRandomFile(source, count: size)
        let digest = SHA256Hasher.hash([UInt8](try Data(contentsOf: URL(fileURLWithPath: source)))).description

        let first = try tuspy(Self.start, ["base": server.base, "source": source, "chunk": Self.patchSize, "stopAt": 3 * Self.patchSize])
        let url = try #require(first["url"] as? String, "\(first)")
        let id = String(url.split(separator: "/").last ?? "")
        let native = "\(server.base)/uploads/\(id)"

        // Part-way: chunk 0 verified, chunk 1 half there.
        let partial = try cli(workspace, "status", native)
        #expect(partial.status == 0, "status \(native): \(partial.stderr)")
        #expect(partial.stdout.contains("received  1 of 3 chunks"), "\(partial.stdout)")
        #expect(partial.stdout.contains("state     receiving"), "\(partial.stdout)")
        let partialJSON = try json(try cli(workspace, "status", "--json", native).stdout)
        #expect(partialJSON["receivedChunks"] as? Int == 1 && partialJSON["chunkCount"] as? Int == 3, "\(partialJSON)")
        #expect(partialJSON["complete"] as? Bool == false && partialJSON["size"] as? Int == size, "\(partialJSON)")

        let second = try tuspy(Self.resume, ["base": server.base, "source": source, "chunk": Self.patchSize, "url": url])
        #expect(second["raised"] as? Bool == false && second["offset"] as? Int == size, "\(second)")

        let done = try cli(workspace, "status", native)
        #expect(done.status == 0, "status \(native): \(done.stderr)")
        #expect(done.stdout.contains("received  3 of 3 chunks"), "\(done.stdout)")
        #expect(done.stdout.contains("state     complete, sha256 \(digest)"), "\(done.stdout)")
        let verify = try cli(workspace, "verify", native)
        #expect(verify.status == 0, "verify \(native) exited \(verify.status): \(verify.stdout) \(verify.stderr)")
        #expect(verify.stdout.contains("3 verified chunks re-hashed by the server"), "\(verify.stdout)")
        let report = try json(try cli(workspace, "verify", native, "--json").stdout)
        #expect(report["ok"] as? Bool == true && (report["corrupt"] as? [Any])?.isEmpty == true && (report["missing"] as? [Any])?.isEmpty == true, "\(report)")
        #expect(report["checkedChunks"] as? Int == 3, "\(report)")
        #expect(try cli(workspace, "verify", native, "--sha256", digest).status == 0)
        let wrong = try cli(workspace, "verify", native, "--sha256", String(repeating: "0", count: 64))
        #expect(wrong.status == 1, "verify --sha256 with another digest exited \(wrong.status): \(wrong.stdout)")
    }

    // MARK: Helpers

    /// Runs a tuspy client after the prelude in a python3 process of its own; what it printed, as JSON.
    func tuspy(_ code: String, _ parameters: [String: Any]) throws -> [String: Any] {
        let environment = ["TUS_CLIENT_TEST": String(decoding: try JSONSerialization.data(withJSONObject: parameters), as: UTF8.self)]
        let result = try Subprocess.run("python3", ["-c", Self.prelude + "\n" + code], environment: environment)
        guard result.status == 0 else { throw SubprocessFailure(program: "python3 (tuspy)", result: result) }
        return try json(result.stdout)
    }

    /// The native API's status document (`GET /uploads/{id}`).
    func status(_ server: ServerProcess, _ id: String) throws -> [String: Any] {
        try json(String(decoding: try Curl.request("GET", "\(server.base)/uploads/\(id)").body, as: UTF8.self))
    }

    func metric(_ server: ServerProcess, _ name: String) throws -> Int {
        let text = String(decoding: try Curl.request("GET", server.base + "/metrics").body, as: UTF8.self)
        let line = text.split(separator: "\n").first { $0.hasPrefix(name + " ") }
        return line.flatMap { Double($0.split(separator: " ").last ?? "") }.map { Int($0) } ?? -1
    }

    /// A value for a message: what it is, or "nothing".
    static func show(_ value: Any?) -> String {
        guard let value else { return "nothing" }
        return "\(value)"
    }

    func cli(_ workspace: Workspace, _ arguments: String...) throws -> CommandResult {
        try UploadVerifyBinary.run(arguments, in: workspace.url, environment: ["XDG_CACHE_HOME": workspace.path("cache")])
    }
}

// MARK: The tuspy clients

extension TusClientTests {
    /// Parameters come as JSON in `TUS_CLIENT_TEST`: base (the server), source, chunk (tuspy's
    /// chunk_size), and per script stopAt, url, metadata. Every uploader sends Upload-Checksum.
    static let prelude = #"""
        import json, os, sys
        from tusclient import client
        from tusclient.exceptions import TusCommunicationError

        P = json.loads(os.environ["TUS_CLIENT_TEST"])
        CREATION = P["base"] + "/files/"


        def failure(error):
            content = error.response_content or b""
            return {"message": str(error), "status": error.status_code,
                    "body": content.decode("utf-8", "replace") if isinstance(content, bytes) else str(content)}


        def uploader(**options):
            return client.TusClient(CREATION).uploader(P["source"], chunk_size=P["chunk"], upload_checksum=True, **options)
        """#

    /// Creates the upload and sends it up to `stopAt`; then the process ends.
    static let start = #"""
        up = uploader(metadata=P.get("metadata") or {})
        up.upload(stop_at=P["stopAt"])
        print(json.dumps({"url": up.url, "offset": up.offset}))
        """#

    /// A new process with nothing but the upload's URL: tuspy asks the server (HEAD) where to go on.
    static let resume = #"""
        up = uploader(url=P["url"])
        outcome = {"resumedFrom": up.offset, "raised": False}
        try:
            up.upload()
        except TusCommunicationError as error:
            outcome.update(raised=True, **failure(error))
        outcome["offset"] = up.offset
        print(json.dumps(outcome))
        """#

    /// The whole file in one process; the last PATCH's answer as tuspy saw it.
    static let whole = #"""
        up = uploader(metadata=P.get("metadata") or {})
        outcome = {"raised": False}
        try:
            up.upload()
        except TusCommunicationError as error:
            outcome.update(raised=True, **failure(error))
        last = up.request
        outcome.update(url=up.url, offset=up.offset, lastStatus=last.status_code if last else None,
                       lastHeaders=dict(last.response_headers) if last else {})
        print(json.dumps(outcome))
        """#
}
