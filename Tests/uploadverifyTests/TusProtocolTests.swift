import Foundation
import SystemPackage
import Testing
import UploadKit

/// tus 1.0.0 at `/files/` (https://tus.io/protocols/resumable-upload), held to
/// the protocol's MUSTs for the core and each extension the server offers
/// (creation, creation-with-upload, termination, expiration, checksum), over
/// raw sockets: each request is written byte for byte by a Python client, so
/// that a header can be sent twice, a body cut or a PATCH left in flight.
/// Then a table of bad input, each answered with the protocol's status while
/// the server serves on and a witness upload keeps its offset and its
/// verified chunks; a PATCH cut mid-body; a second PATCH while one is in
/// flight; and bodies that run past the upload's end.
@Suite(.serialized) struct TusProtocolTests {
    static let mebibyte = 1 << 20
    /// The server's chunk size for an upload that names none (tus uploads never do).
    static let chunkSize = 8 << 20
    static let maxUploadSize = 32 << 20
    static let piece = 65_536
    static let smallSize = 100_000
    static let smallPart = 30_000
    static let tinySize = 1_000
    static let token = "s3cret"
    static let offered = ["creation", "creation-with-upload", "termination", "expiration", "checksum", "concatenation"]
    /// The protocol's own example.
    static let metadata = "filename d29ybGRfZG9taW5hdGlvbl9wbGFuLnBkZg==,is_confidential"
    /// The bad-input table's witness: 20 MiB, 9 MiB of it appended (chunk 0 verified, chunk 1 begun).
    static let witnessLength = 20 << 20
    static let witnessOffset = 9 << 20

    // MARK: The MUSTs

    @Test func everyMUSTOfTheCoreProtocolAndTheOfferedExtensionsHolds() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        let data = workspace.url.appendingPathComponent("uploads")
        let server = try ServerProcess(dataDirectory: data, arguments: ["--no-fsync", "--expire-after", "1h", "--max-upload-size", "32MiB"])
        defer { withExtendedLifetime(server) {} }
        let size = 20 << 20
        let source = workspace.path("source")
        try Subprocess.writeRandomFile(source, count: size)
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: source)))
        let parameters: [String: Any] = [
            "source": source, "piece": Self.piece, "first": Self.mebibyte, "chunkSize": Self.chunkSize, "smallSize": Self.smallSize,
            "smallPart": Self.smallPart, "tinySize": Self.tinySize, "maxUploadSize": Self.maxUploadSize, "metadata": Self.metadata,
        ]
        let report = try runPython(Self.mustScenario, [server], data: [data], parameters)
        let steps = try #require(report["steps"] as? [String: Any]).mapValues { Reply($0) }
        let musts = Self.musts(size: size, sha256: SHA256Hasher.hash(bytes), tinySHA256: SHA256Hasher.hash(Array(bytes[0..<Self.tinySize])))
        for must in musts {
            guard let reply = steps[must.step] else {
                Issue.record("\(must.step) was not sent")
                continue
            }
            let failure = Self.failure(of: must.expected, in: reply)
            #expect(failure == nil, "\(must.step): \(must.clause): \(Self.show(failure))\n    the answer: \(reply)")
        }
        // Tus-Resumable MUST be in every answer (the native GET /uploads/{id} is not tus).
        for (name, reply) in steps.sorted(by: { $0.key < $1.key }) where !reply.isPseudo && !reply.isNative {
            #expect(reply.header("tus-resumable") == "1.0.0", "\(name): Tus-Resumable MUST be in every answer: \(reply)")
        }
    }

    /// Each clause of the protocol, held against the answer to one step of `mustScenario`.
    static func musts(size: Int, sha256: SHA256Digest, tinySHA256: SHA256Digest) -> [Must] {
        let first = Self.mebibyte
        let checked = first + 4 * Self.piece
        let expiry = 3600.0 + 5
        let reprDigest = "sha-256=:\(Data(sha256.bytes).base64EncodedString()):"
        let emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        let everyPatch = "expiration: Upload-Expires MUST be in every PATCH answer while the upload is going to expire"
        return [
            // OPTIONS
            Must("options", "OPTIONS answers 204 No Content", .status(204)),
            Must("options", "Tus-Version MUST list the versions supported, the preferred first", .listsFirst("tus-version", "1.0.0")),
            Must("options", "each extension offered MUST be in Tus-Extension", .lists("tus-extension", Self.offered)),
            Must(
                "options", "Tus-Extension names no extension that is not offered",
                .listsNone("tus-extension", ["creation-defer-length", "concatenation-unfinished", "checksum-trailer"])),
            Must("options", "Tus-Max-Size is the hard limit, --max-upload-size", .header("tus-max-size", String(Self.maxUploadSize))),
            Must(
                "options", "Tus-Checksum-Algorithm MUST be in the OPTIONS answer, and sha1 MUST be supported",
                .lists("tus-checksum-algorithm", ["sha1", "md5", "sha256", "sha512"])),
            Must("options", "checksum algorithm names are ASCII without uppercase", .lowercaseNames("tus-checksum-algorithm")),
            Must("optionsOtherVersion", "the server MUST ignore Tus-Resumable in an OPTIONS request", .status(204)),
            Must("optionsOtherVersion", "an OPTIONS answer MUST carry Tus-Version", .listsFirst("tus-version", "1.0.0")),
            // Tus-Resumable: 412 with Tus-Version, and the request not processed
            Must("headWithoutVersion", "a HEAD of no version (no Tus-Resumable): 412 Precondition Failed", .status(412)),
            Must("headWithoutVersion", "a 412 MUST carry Tus-Version", .listsFirst("tus-version", "1.0.0")),
            Must("patchWithoutVersion", "a PATCH without Tus-Resumable: 412", .status(412)),
            Must("patchWithoutVersion", "a 412 MUST carry Tus-Version", .listsFirst("tus-version", "1.0.0")),
            Must("patchOtherVersion", "a PATCH of tus 0.2.2: 412", .status(412)),
            Must("patchOtherVersion", "a 412 MUST carry Tus-Version", .listsFirst("tus-version", "1.0.0")),
            Must(
                "headAfter412", "the server MUST NOT process a request of a version it does not speak: the offset is unchanged",
                .header("upload-offset", "0")),
            Must("createWithoutVersion", "a POST without Tus-Resumable: 412", .status(412)),
            Must("createWithoutVersion", "a 412 MUST carry Tus-Version", .listsFirst("tus-version", "1.0.0")),
            Must("createOtherVersion", "a POST of tus 2.0.0: 412", .status(412)),
            Must("createOtherVersion", "a 412 MUST carry Tus-Version", .listsFirst("tus-version", "1.0.0")),
            Must("deleteWithoutVersion", "a DELETE without Tus-Resumable: 412", .status(412)),
            Must("deleteWithoutVersion", "a 412 MUST carry Tus-Version", .listsFirst("tus-version", "1.0.0")),
            Must("headAfterDelete412", "... and the upload MUST NOT be terminated", .statusIn([200, 204])),
            Must("filesAroundRefusedCreations", "creations refused (412, 413) leave nothing in the data directory", .sameFields("before", "after")),
            // Creation
            Must("create", "a creation: 201 Created", .status(201)),
            Must("create", "201 MUST set Location to the upload's URL", .present("location")),
            Must(
                "create", "expiration: Upload-Expires MUST be in the POST's answer when the expiry is known at creation",
                .httpDateAhead("upload-expires", atMost: expiry)),
            Must("createTooLarge", "a length over the maximum (Tus-Max-Size): 413", .status(413)),
            // HEAD
            Must("headNew", "HEAD answers 200 OK or 204 No Content", .statusIn([200, 204])),
            Must("headNew", "HEAD MUST carry Upload-Offset, even when it is 0", .header("upload-offset", "0")),
            Must("headNew", "HEAD MUST carry Upload-Length when the length is known", .header("upload-length", String(size))),
            Must("headNew", "HEAD MUST carry Cache-Control: no-store", .header("cache-control", "no-store")),
            Must("headNew", "HEAD MUST carry Upload-Metadata as the client sent it at creation", .header("upload-metadata", Self.metadata)),
            // PATCH
            Must("patch", "a PATCH: 204 No Content", .status(204)),
            Must("patch", "204 MUST carry Upload-Offset, the old offset plus the bytes stored", .header("upload-offset", String(first))),
            Must("patch", everyPatch + " (an RFC 9110 date, in the future)", .httpDateAhead("upload-expires", atMost: expiry)),
            Must("patchBehind", "an Upload-Offset behind the upload's: 409 Conflict", .status(409)),
            Must("patchBehind", everyPatch, .present("upload-expires")),
            Must("patchAhead", "an Upload-Offset ahead of the upload's: 409 Conflict", .status(409)),
            Must("headAfter409", "a 409 MUST leave the upload unmodified", .header("upload-offset", String(first))),
            Must("patchWrongType", "a PATCH not of Content-Type application/offset+octet-stream: 415", .status(415)),
            Must("headAfter415", "... and none of it is stored", .header("upload-offset", String(first))),
            // Checksum
            Must("patch-sha1", "Upload-Checksum sha1 (which MUST be supported): 204", .status(204)),
            Must("patch-sha1", "... with the new offset", .header("upload-offset", String(first + Self.piece))),
            Must("patch-md5", "Upload-Checksum md5: 204 with the new offset", .header("upload-offset", String(first + 2 * Self.piece))),
            Must("patch-sha256", "Upload-Checksum sha256: 204 with the new offset", .header("upload-offset", String(first + 3 * Self.piece))),
            Must("patch-sha512", "Upload-Checksum sha512: 204 with the new offset", .header("upload-offset", String(checked))),
            Must("patchChecksumMismatch", "a checksum mismatch: 460 Checksum Mismatch", .status(460)),
            Must("patchChecksumMismatch", everyPatch, .present("upload-expires")),
            Must("headAfter460", "after a mismatch the offset MUST NOT be updated", .header("upload-offset", String(checked))),
            Must("patchUnknownAlgorithm", "a checksum algorithm the server does not support: 400 Bad Request", .status(400)),
            Must("headAfterUnknownAlgorithm", "... and the offset MUST NOT be updated", .header("upload-offset", String(checked))),
            Must("patchChunkMismatch", "a mismatching body that fills a chunk: 460", .status(460)),
            Must("headAfterChunkMismatch", "... its bytes MUST be discarded: the offset is unchanged", .header("upload-offset", String(checked))),
            Must("statusAfterChunkMismatch", "... and the chunk it filled is not verified", .field("receivedChunks", "0")),
            Must("patchRest", "the last bytes: 204 with Upload-Offset the length", .header("upload-offset", String(size))),
            Must("headComplete", "HEAD of a complete upload MUST carry Upload-Offset", .header("upload-offset", String(size))),
            Must("headComplete", "... and Upload-Length", .header("upload-length", String(size))),
            Must("headComplete", "... and Cache-Control: no-store", .header("cache-control", "no-store")),
            Must("headComplete", "a complete upload's HEAD carries the SHA-256 confirmed from disk", .header("repr-digest", reprDigest)),
            Must("statusComplete", "the native API sees the upload complete", .field("state", "complete")),
            Must("statusComplete", "... with the file's SHA-256", .field("sha256", sha256.description)),
            // Creation with upload, and an empty upload
            Must("createWithUpload", "creation-with-upload: 201 Created", .status(201)),
            Must("createWithUpload", "creation-with-upload: 201 MUST set Location", .present("location")),
            Must(
                "createWithUpload", "creation-with-upload MUST carry Upload-Offset, the offset after the bytes accepted",
                .header("upload-offset", String(Self.smallPart))),
            Must("headWithUpload", "... and those bytes are stored", .header("upload-offset", String(Self.smallPart))),
            Must(
                "createWithUploadWhole", "creation-with-upload of a whole file: 201 with Upload-Offset its length",
                .header("upload-offset", String(Self.tinySize))),
            Must("statusWithUploadWhole", "... and the upload is complete", .field("state", "complete")),
            Must("statusWithUploadWhole", "... with its SHA-256", .field("sha256", tinySHA256.description)),
            Must("createEmpty", "Upload-Length 0: 201 Created", .status(201)),
            Must("headEmpty", "an empty upload: Upload-Offset 0", .header("upload-offset", "0")),
            Must("headEmpty", "an empty upload: Upload-Length 0", .header("upload-length", "0")),
            Must("statusEmpty", "an empty upload is complete at its creation", .field("state", "complete")),
            Must("statusEmpty", "... with the SHA-256 of nothing", .field("sha256", emptySHA256)),
            // Termination
            Must("delete", "termination: a DELETE of an unfinished upload MUST answer 204 No Content", .status(204)),
            Must("headDeleted", "after termination, HEAD: 404", .status(404)),
            Must("headDeleted", "a HEAD of no upload carries no Upload-Offset", .absent("upload-offset")),
            Must("patchDeleted", "after termination, PATCH: 404", .status(404)),
            Must("deleteDeleted", "after termination, DELETE: 404", .status(404)),
            Must("filesOfDeleted", "termination frees the data file", .field("data", "gone")),
            Must("filesOfDeleted", "... and the chunk map", .field("map", "gone")),
            Must("deleteComplete", "termination of a complete upload: 204", .status(204)),
            Must("headDeletedComplete", "... then HEAD: 404", .status(404)),
            // X-HTTP-Method-Override
            Must("overridePatch", "a POST with X-HTTP-Method-Override: PATCH is a PATCH: 204", .status(204)),
            Must("overridePatch", "... with the new offset", .header("upload-offset", String(Self.piece))),
            Must("overrideHead", "a POST with X-HTTP-Method-Override: HEAD is a HEAD: its Upload-Offset", .header("upload-offset", String(Self.piece))),
            Must("overrideHead", "... and its Upload-Length", .header("upload-length", String(Self.smallSize))),
            Must("overrideDelete", "a POST with X-HTTP-Method-Override: DELETE is a DELETE: 204", .status(204)),
            Must("headOverridden", "... and the upload is gone: 404", .status(404)),
        ]
    }

    // MARK: Bad input

    @Test func badInputGetsTheProtocolsAnswerTheServerServesOnAndNothingVerifiedIsLost() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        let data = [workspace.url.appendingPathComponent("uploads"), workspace.url.appendingPathComponent("uploads-with-token")]
        let main = try ServerProcess(dataDirectory: data[0], arguments: ["--no-fsync", "--max-upload-size", "32MiB"])
        let guarded = try ServerProcess(dataDirectory: data[1], arguments: ["--no-fsync", "--token", Self.token])
        defer { withExtendedLifetime((main, guarded)) {} }
        let source = workspace.path("witness")
        try Subprocess.writeRandomFile(source, count: Self.witnessLength)
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: source)))
        let cases = Self.badInputs
        #expect(cases.count >= 40)
        #expect(Set(cases.map(\.name)).count == cases.count, "two cases of one name")

        let report = try runPython(
            Self.badInputRun, [main, guarded], data: data,
            [
                "source": source, "witnessOffset": Self.witnessOffset, "tokens": [NSNull(), Self.token] as [Any], "cases": cases.map(\.json),
            ])
        let results = try #require(report["results"] as? [[String: Any]])
        try #require(results.count == cases.count, "\(results.count) results for \(cases.count) cases")
        for (badInput, result) in zip(cases, results) {
            let label = badInput.description
            let answer = Reply(result["answer"])
            #expect(answer.status == badInput.status, "\(label): answered \(answer), expected \(badInput.status)")
            #expect(answer.header("tus-resumable") == "1.0.0", "\(label): Tus-Resumable MUST be in every answer, errors included: \(answer)")
            if badInput.status == 412 {
                #expect(Self.list(answer.header("tus-version")).contains("1.0.0"), "\(label): a 412 MUST carry Tus-Version: \(answer)")
            }
            if badInput.method == "HEAD" {
                if badInput.status == 404 {
                    #expect(answer.header("upload-offset") == nil, "\(label): a HEAD of no upload carries no Upload-Offset: \(answer)")
                }
            } else {
                #expect(
                    answer.header("content-type") == "application/problem+json" && answer.doc["status"] as? Int == answer.status,
                    "\(label): the answer is not a problem+json of its status: \(answer)")
                if let problem = badInput.problem {
                    #expect(answer.problemType == problem, "\(label): problem \(Self.show(answer.problemType)), expected \(problem)")
                }
            }

            // The server serves on, and the witness has all it had.
            let after = result["after"] as? [String: Any] ?? [:]
            #expect(after["healthz"] as? Int == 200, "\(label): /healthz afterwards answered \(Self.show(after["healthz"]))")
            let head = Reply(after["head"])
            #expect(
                head.status == 200 && head.offset == Self.witnessOffset && head.header("upload-length") == String(Self.witnessLength),
                "\(label): afterwards, the witness's HEAD: \(head)")
            let status = Reply(after["status"]).doc
            #expect(
                status["state"] as? String == "receiving" && status["receivedChunks"] as? Int == 1 && status["missing"] as? [Int] == [1, 2],
                "\(label): afterwards, GET /uploads/{witness}: \(status)")
            #expect(after["prefixIntact"] as? Bool == true, "\(label): the witness's first \(Self.witnessOffset) bytes on disk changed")
            #expect(
                after["created"] as? Int == (badInput.createsUpload ? 2 : 0),
                "\(label): the request left \(Self.show(after["created"])) files in the data directory")
        }

        // Each witness, finished after all that: complete, its bytes the source's.
        let witnesses = try #require(report["witnesses"] as? [String])
        let finals = try #require(report["finals"] as? [[String: Any]])
        try #require(witnesses.count == 2 && finals.count == 2)
        let digest = SHA256Hasher.hash(bytes).description
        for (server, witness) in witnesses.enumerated() {
            let label = "the witness on server \(server) (\(witness))"
            let finished = Reply(finals[server]["patch"])
            #expect(finished.status == 204 && finished.offset == Self.witnessLength, "\(label): the last PATCH: \(finished)")
            let status = Reply(finals[server]["status"]).doc
            #expect(status["state"] as? String == "complete" && status["sha256"] as? String == digest, "\(label): \(status)")
            let disk = try onDisk(data[server], witness)
            #expect(disk.bytes == bytes, "\(label): the data file is not the source")
            #expect(expectVerifiedChunksHoldTheSource(disk, bytes, label) == 3, "\(label): \(disk.entries.map(\.name))")
        }
    }

    /// The table. `{w}` in a path is the witness's id (`{W}` in uppercase, `{w31}` its
    /// first 31 digits); PATCHes carry 64 KiB of the witness's own next bytes unless said.
    static var badInputs: [BadInput] {
        let stream = ("Content-Type", "application/offset+octet-stream")
        let atOffset = [stream, ("Upload-Offset", String(Self.witnessOffset))]
        let sha1OfNothing = "sha1 2jmj7l5rSw0yVb/vlWAYkK/YBwk="
        let unknown = "/files/0123456789abcdef0123456789abcdef"
        let encodedTraversal = "/files/..%2F..%2Fetc%2Fpasswd"
        let length10 = ("Upload-Length", "10")
        var cases: [BadInput] = [
            // Creation: Upload-Length
            post("Upload-Length negative", [("Upload-Length", "-1")], 400, "invalid-header"),
            post("Upload-Length non-numeric", [("Upload-Length", "ten")], 400, "invalid-header"),
            post("Upload-Length hexadecimal", [("Upload-Length", "0x10")], 400, "invalid-header"),
            post("Upload-Length fractional", [("Upload-Length", "1.5")], 400, "invalid-header"),
            post("Upload-Length with a plus sign", [("Upload-Length", "+10")], 400, "invalid-header"),
            post("Upload-Length empty", [("Upload-Length", "")], 400, "invalid-header"),
            // Not a 64-bit number: unparsable, as tusd (ParseInt) takes it; not a length over Tus-Max-Size.
            post("Upload-Length overflowing Int64", [("Upload-Length", "99999999999999999999")], 400, "invalid-header"),
            post("Upload-Length over --max-upload-size", [("Upload-Length", String(Self.maxUploadSize + 1))], 413, "upload-too-large"),
            post("Upload-Length missing", [], 400, "invalid-header"),
            post("Upload-Length twice, differing", [("Upload-Length", "10"), ("Upload-Length", "20")], 400, "invalid-header"),
            // creation-defer-length is not offered
            post("Upload-Defer-Length instead of Upload-Length", [("Upload-Defer-Length", "1")], 400, "invalid-header"),
            post("Upload-Defer-Length other than 1", [("Upload-Defer-Length", "2")], 400, "invalid-header"),
            // The spec: "If the length of an upload is not deferred, this header MUST be omitted" (tusd: 400).
            post("Upload-Defer-Length beside Upload-Length", [length10, ("Upload-Defer-Length", "1")], 400, "invalid-header"),
            // Upload-Metadata, Repr-Digest
            post("Upload-Metadata value with a character outside base64", [length10, ("Upload-Metadata", "filename d29y!!==")], 400, "invalid-header"),
            post("Upload-Metadata with a key twice", [length10, ("Upload-Metadata", "a YQ==,a Yg==")], 400, "invalid-header"),
            post("Upload-Metadata with an empty key first", [length10, ("Upload-Metadata", ",a YQ==")], 400, "invalid-header"),
            post("Upload-Metadata with an empty key last", [length10, ("Upload-Metadata", "a YQ==,")], 400, "invalid-header"),
            post("Upload-Metadata member of three parts", [length10, ("Upload-Metadata", "a YQ== Yg==")], 400, "invalid-header"),
            post("Upload-Metadata sha256 that is no digest", [length10, ("Upload-Metadata", "sha256 bm90IGEgZGlnZXN0")], 400, "invalid-header"),
            post("Repr-Digest malformed", [length10, ("Repr-Digest", "sha-256=notbase64")], 400, "invalid-header"),
            // concatenation (tests of its own in TusConcatenationTests): what is refused from the head
            post("Upload-Concat neither partial nor final", [length10, ("Upload-Concat", "whole")], 400, "invalid-header"),
            post("Upload-Concat final of no URL", [("Upload-Concat", "final;")], 400, "invalid-header"),
            post("Upload-Concat final of ids that are no uploads", [("Upload-Concat", "final;/files/a /files/b")], 404, "upload-not-found"),
            post("Upload-Concat final of unknown uploads", [("Upload-Concat", "final;\(unknown) \(unknown)")], 404, "upload-not-found"),
            post("Upload-Concat final with Upload-Length", [length10, ("Upload-Concat", "final;\(unknown)")], 400, "invalid-header"),
            // creation-with-upload: refused once the upload exists (its Location is in the answer)
            post(
                "creation-with-upload, body longer than Upload-Length", [("Upload-Length", "1000"), stream],
                body: .zeros(2_000), 413, "past-the-end", createsUpload: true),
            post(
                "creation-with-upload, Upload-Checksum mismatch", [("Upload-Length", "1000"), stream, ("Upload-Checksum", sha1OfNothing)],
                body: .zeros(1_000), 460, "checksum-mismatch", createsUpload: true),
            post(
                "creation-with-upload, unknown checksum algorithm", [("Upload-Length", "1000"), stream, ("Upload-Checksum", "crc32 AAAAAA==")],
                body: .zeros(1_000), 400, "invalid-header"),
            post("POST without Tus-Resumable", [length10], version: nil, 412, "tus-version-unsupported"),
            post("POST of tus 0.2.2", [length10], version: "0.2.2", 412, "tus-version-unsupported"),

            // PATCH of the witness: Upload-Offset
            patch("Upload-Offset negative", [stream, ("Upload-Offset", "-1")], 400, "invalid-header"),
            patch("Upload-Offset non-numeric", [stream, ("Upload-Offset", "nine")], 400, "invalid-header"),
            patch("Upload-Offset with a plus sign", [stream, ("Upload-Offset", "+\(Self.witnessOffset)")], 400, "invalid-header"),
            // Not a 64-bit number: unparsable (tusd: 400), rather than an offset that does not match.
            patch("Upload-Offset overflowing Int64", [stream, ("Upload-Offset", "99999999999999999999")], 400, "invalid-header"),
            patch("Upload-Offset past the length", [stream, ("Upload-Offset", String(Self.witnessLength + 1))], 409, "mismatching-upload-offset"),
            patch("Upload-Offset at the length", [stream, ("Upload-Offset", String(Self.witnessLength))], 409, "mismatching-upload-offset"),
            patch("Upload-Offset behind the upload's", [stream, ("Upload-Offset", "0")], 409, "mismatching-upload-offset"),
            patch(
                "Upload-Offset ahead of the upload's", [stream, ("Upload-Offset", String(Self.witnessOffset + Self.piece))], 409,
                "mismatching-upload-offset"),
            patch("Upload-Offset missing", [stream], 400, "invalid-header"),
            patch("Upload-Offset twice", atOffset + [("Upload-Offset", String(Self.witnessOffset))], 400, "invalid-header"),
            // Content-Type
            patch("Content-Type missing", [("Upload-Offset", String(Self.witnessOffset))], 415, "unsupported-media-type"),
            patch(
                "Content-Type application/octet-stream", [("Content-Type", "application/octet-stream"), ("Upload-Offset", String(Self.witnessOffset))],
                415, "unsupported-media-type"),
            patch(
                "Content-Type with a suffix", [("Content-Type", "application/offset+octet-streamx"), ("Upload-Offset", String(Self.witnessOffset))],
                415, "unsupported-media-type"),
            // A Content-Length past the upload's end: refused from the head, so only 64 KiB of it is sent.
            patch(
                "body longer than the rest of the upload", atOffset,
                body: .declared(Self.witnessLength - Self.witnessOffset + 1, sending: Self.piece), 413, "past-the-end"),
            // Upload-Checksum
            patch("Upload-Checksum without a space", atOffset + [("Upload-Checksum", "sha1")], 400, "invalid-header"),
            patch("Upload-Checksum digest not base64", atOffset + [("Upload-Checksum", "sha1 ***")], 400, "invalid-header"),
            patch(
                "Upload-Checksum digest of the wrong length", atOffset + [("Upload-Checksum", "sha256 2jmj7l5rSw0yVb/vlWAYkK/YBwk=")], 400,
                "invalid-header"),
            patch("Upload-Checksum empty", atOffset + [("Upload-Checksum", "")], 400, "invalid-header"),
            patch("Upload-Checksum of three parts", atOffset + [("Upload-Checksum", sha1OfNothing + " x")], 400, "invalid-header"),
            patch("Upload-Checksum unknown algorithm", atOffset + [("Upload-Checksum", "crc32 AAAAAA==")], 400, "invalid-header"),
            patch("Upload-Checksum mismatch", atOffset + [("Upload-Checksum", sha1OfNothing)], 460, "checksum-mismatch"),
            patch(
                "Upload-Checksum mismatch on a body that fills a chunk", atOffset + [("Upload-Checksum", sha1OfNothing)],
                body: .source(2 * Self.chunkSize - Self.witnessOffset), 460, "checksum-mismatch"),
            // Tus-Resumable
            patch("PATCH without Tus-Resumable", atOffset, version: nil, 412, "tus-version-unsupported"),
            patch("PATCH of tus 2.0.0", atOffset, version: "2.0.0", 412, "tus-version-unsupported"),
            request("HEAD without Tus-Resumable", "HEAD", "/files/{w}", version: nil, 412, nil),
            request("DELETE without Tus-Resumable", "DELETE", "/files/{w}", version: nil, 412, "tus-version-unsupported"),
            request(
                "X-HTTP-Method-Override DELETE without Tus-Resumable", "POST", "/files/{w}", headers: [("X-HTTP-Method-Override", "DELETE")],
                version: nil, 412, "tus-version-unsupported"),
            request(
                "X-HTTP-Method-Override PATCH at the wrong offset", "POST", "/files/{w}",
                headers: [("X-HTTP-Method-Override", "PATCH"), stream, ("Upload-Offset", "0")], body: .source(Self.piece), 409, "mismatching-upload-offset"),

            // Ids: unknown, path traversal, wrong length, wrong case
            patch("PATCH of an unknown id", atOffset, path: unknown, 404, "upload-not-found"),
            request("HEAD of an unknown id", "HEAD", unknown, 404, nil),
            request("DELETE of an unknown id", "DELETE", unknown, 404, "upload-not-found"),
            patch("PATCH of a percent-encoded path traversal", atOffset, path: encodedTraversal, 404, "upload-not-found"),
            request("HEAD of a percent-encoded path traversal", "HEAD", encodedTraversal, 404, nil),
            request("DELETE of a percent-encoded path traversal", "DELETE", encodedTraversal, 404, "upload-not-found"),
            patch("PATCH of a dot-segment path traversal", atOffset, path: "/files/../../etc/passwd", 404, nil),
            patch("PATCH of an id too short", atOffset, path: "/files/abc", 404, "upload-not-found"),
            request("HEAD of an id one digit too long", "HEAD", "/files/{w}0", 404, nil),
            request("HEAD of an id one digit short", "HEAD", "/files/{w31}", 404, nil),
            request("DELETE of an id one digit too long", "DELETE", "/files/{w}0", 404, "upload-not-found"),
            request("DELETE of the witness's id in uppercase", "DELETE", "/files/{W}", 404, "upload-not-found"),
        ]
        // --token: 401 on every tus route, without the token or with another.
        let routes: [(String, String, [(String, String)], BadInput.Body)] = [
            ("OPTIONS", "/files/", [], .none), ("POST", "/files/", [length10], .none), ("HEAD", "/files/{w}", [], .none),
            ("PATCH", "/files/{w}", atOffset, .source(Self.piece)), ("DELETE", "/files/{w}", [], .none),
        ]
        for (method, path, headers, body) in routes {
            for auth in ["missing", "wrong"] {
                cases.append(
                    request(
                        "\(method) \(auth == "missing" ? "without the token" : "with a wrong token")", method, path, headers: headers, body: body,
                        onTokenServer: true, auth: auth, 401, method == "HEAD" ? nil : "unauthorized"))
            }
        }
        return cases
    }

    static func request(
        _ name: String, _ method: String, _ path: String, headers: [(String, String)] = [], body: BadInput.Body = .none,
        version: String? = "1.0.0", onTokenServer: Bool = false, auth: String = "token", _ status: Int, _ problem: String?,
        createsUpload: Bool = false
    ) -> BadInput {
        BadInput(
            name: name, method: method, path: path, headers: headers, body: body, version: version, onTokenServer: onTokenServer, auth: auth,
            status: status, problem: problem, createsUpload: createsUpload)
    }

    static func post(
        _ name: String, _ headers: [(String, String)], body: BadInput.Body = .none, version: String? = "1.0.0", _ status: Int, _ problem: String?,
        createsUpload: Bool = false
    ) -> BadInput {
        request(name, "POST", "/files/", headers: headers, body: body, version: version, status, problem, createsUpload: createsUpload)
    }

    static func patch(
        _ name: String, _ headers: [(String, String)], body: BadInput.Body = .source(TusProtocolTests.piece), path: String = "/files/{w}",
        version: String? = "1.0.0", _ status: Int, _ problem: String?
    ) -> BadInput {
        request(name, "PATCH", path, headers: headers, body: body, version: version, status, problem)
    }

    // MARK: A PATCH cut mid-body

    @Test func aPatchCutMidBodyKeepsWhatArrivedAndAPatchFromHEADsOffsetCompletesTheUpload() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        let data = workspace.url.appendingPathComponent("uploads")
        let server = try ServerProcess(dataDirectory: data, arguments: ["--no-fsync"])
        defer { withExtendedLifetime(server) {} }
        let size = 20 << 20 + 777
        let first = 3 * Self.mebibyte
        let source = workspace.path("source")
        try Subprocess.writeRandomFile(source, count: size)
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: source)))
        let digest = SHA256Hasher.hash(bytes)

        let record = try runPython(Self.cutMidBody, [server], data: [data], ["source": source, "first": first])
        let id = try #require(record["id"] as? String, "\(record)")
        let sent = try #require(record["sent"] as? Int, "\(record)")
        let opening = Reply(record["first"])
        #expect(opening.status == 204 && opening.offset == first, "the first PATCH: \(opening)")
        // With Upload-Checksum, a body cut short cannot be checked: none of it may count.
        #expect(record["checkedReleased"] as? Bool == true, "the server still held the upload 15 s after a PATCH with Upload-Checksum was cut")
        let afterChecked = Reply(record["afterChecked"])
        #expect(afterChecked.offset == first, "HEAD after a PATCH with Upload-Checksum was cut after \(sent) bytes: \(afterChecked)")
        // Without: the bytes that arrived are kept, and no more.
        #expect(record["plainReleased"] as? Bool == true, "the server still held the upload 15 s after a PATCH was cut")
        let afterPlain = Reply(record["afterPlain"])
        let kept = try #require(afterPlain.offset, "HEAD after the cut PATCH: \(afterPlain)")
        #expect(kept > first && kept <= first + sent, "HEAD's offset after a PATCH from \(first) cut after \(sent) bytes: \(kept)")
        #expect(record["keptIsSource"] as? Bool == true, "the \(kept) bytes HEAD counts are not the source's on disk")
        let partial = Reply(record["statusAfterPlain"]).doc
        #expect(partial["receivedChunks"] as? Int == kept / Self.chunkSize, "the chunks the kept bytes fill are verified: \(partial)")
        // The next PATCH, from HEAD's offset, completes the upload.
        let resumed = Reply(record["resume"])
        #expect(resumed.status == 204 && resumed.offset == size, "the PATCH from HEAD's offset \(kept): \(resumed)")
        let done = Reply(record["final"]).doc
        #expect(done["state"] as? String == "complete" && done["sha256"] as? String == digest.description, "GET /uploads/\(id): \(done)")
        #expect(Reply(record["headFinal"]).header("repr-digest") == "sha-256=:\(Data(digest.bytes).base64EncodedString()):")
        let disk = try onDisk(data, id)
        #expect(disk.bytes == bytes, "the data file is not the source")
        #expect(expectVerifiedChunksHoldTheSource(disk, bytes, "after the cut and the resume") == 3)
    }

    // MARK: A second PATCH while one is in flight

    @Test func aSecondPatchWhileOneIsInFlightGets409ThroughEitherServerAndChangesNothing() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        let data = workspace.url.appendingPathComponent("uploads")
        // Two servers on one directory: the append lock is the chunk map's, shared by both.
        let servers = try [
            ServerProcess(dataDirectory: data, arguments: ["--no-fsync"]), ServerProcess(dataDirectory: data, arguments: ["--no-fsync"]),
        ]
        defer { withExtendedLifetime(servers) {} }
        let size = 20 << 20
        let (first, part) = (10 << 20, 1 << 20)
        let source = workspace.path("source")
        try Subprocess.writeRandomFile(source, count: size)
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: source)))

        let record = try runPython(Self.secondPatch, servers, data: [data, data], ["source": source, "first": first, "part": part, "piece": Self.piece])
        let id = try #require(record["id"] as? String, "\(record)")
        #expect(record["held"] as? Bool == true, "the first PATCH was never seen holding the upload's append lock")
        let second = (record["second"] as? [Any] ?? []).map { Reply($0) }
        #expect(second.count == 2)
        for (server, answer) in second.enumerated() {
            #expect(
                answer.status == 409 && answer.problemType == "append-busy",
                "a second PATCH at the same offset through server \(server), while the first is in flight: \(answer)")
            #expect(answer.header("tus-resumable") == "1.0.0", "\(answer)")
        }
        let during = Reply(record["headWhileInFlight"])
        #expect(during.status == 200 && (during.offset ?? Int.max) <= part, "HEAD while the first PATCH is in flight after \(part) bytes: \(during)")
        let opening = Reply(record["first"])
        #expect(opening.status == 204 && opening.offset == first, "the first PATCH, finished: \(opening)")
        let rest = Reply(record["rest"])
        #expect(rest.status == 204 && rest.offset == size, "the rest: \(rest)")
        let done = Reply(record["final"]).doc
        #expect(done["state"] as? String == "complete" && done["sha256"] as? String == SHA256Hasher.hash(bytes).description, "\(done)")
        // The second PATCHes' bytes (zeros) never landed.
        let disk = try onDisk(data, id)
        #expect(disk.bytes == bytes, "the data file is not the source")
        #expect(expectVerifiedChunksHoldTheSource(disk, bytes, "after the PATCH in flight") == 3)
    }

    // MARK: Bodies past the end

    @Test func aBodyRunningPastTheEndLeavesNoUploadAtItsLengthThatIsNotComplete() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        let data = workspace.url.appendingPathComponent("uploads")
        let server = try ServerProcess(dataDirectory: data, arguments: ["--no-fsync"])
        defer { withExtendedLifetime(server) {} }
        let (size, over) = (100_000, 5_000)
        let source = workspace.path("source")
        try Subprocess.writeRandomFile(source, count: size)
        let digest = SHA256Hasher.hash([UInt8](try Data(contentsOf: URL(fileURLWithPath: source)))).description

        let record = try runPython(Self.overrun, [server], data: [data], ["source": source, "size": size, "over": over])
        let ways = [("a chunked PATCH", "patch"), ("a creation-with-upload with Content-Length over Upload-Length", "create")]
        for (label, key) in ways {
            let refused = Reply(record[key])
            #expect(refused.status == 413 && refused.problemType == "past-the-end", "\(label), \(over) bytes past the end: \(refused)")
            let head = Reply(record[key + "Head"])
            #expect(head.status == 200 && head.header("upload-length") == String(size), "\(label): HEAD afterwards: \(head)")
            // A tus client takes Upload-Offset == Upload-Length for done: the upload must then be complete.
            let offset = head.offset ?? -1
            let status = Reply(record[key + "Status"]).doc
            #expect(
                offset < size || (status["state"] as? String == "complete" && status["sha256"] as? String == digest),
                "\(label): HEAD says Upload-Offset \(offset) of Upload-Length \(size), which a tus client takes for done, but GET /uploads/{id} says \(Self.show(status["state"])), sha256 \(Self.show(status["sha256"]))"
            )
        }
    }

    // MARK: Helpers

    /// Runs a client after the prelude, its parameters (with the servers' ports and data
    /// directories) as JSON in `TUS_PROTOCOL_TEST`; what it printed, as JSON.
    func runPython(_ code: String, _ servers: [ServerProcess], data: [URL], _ parameters: [String: Any]) throws -> [String: Any] {
        var values = parameters
        values["ports"] = servers.map { $0.port }
        values["data"] = data.map(\.path)
        let environment = ["TUS_PROTOCOL_TEST": String(decoding: try JSONSerialization.data(withJSONObject: values), as: UTF8.self)]
        let result = try Subprocess.run("python3", ["-c", Self.prelude + "\n" + code], environment: environment)
        guard result.status == 0 else { throw SubprocessFailure(program: "python3", result: result) }
        return try json(result.stdout)
    }

    /// An upload as it is on disk: its chunk map's status and entries, its data file's bytes.
    struct OnDisk {
        let status: ChunkMapStatus
        let entries: [ChunkState]
        let bytes: [UInt8]
    }

    func onDisk(_ data: URL, _ id: String) throws -> OnDisk {
        let map = try ChunkMapFile.open(FilePath(data.appendingPathComponent(id + ".chunkmap").path))
        defer { try? map.close() }
        let status = try map.readStatus()
        let entries = try map.readEntries()
        return OnDisk(status: status, entries: entries, bytes: [UInt8](try Data(contentsOf: data.appendingPathComponent(id))))
    }

    /// Every chunk the map calls verified holds the source's bytes, and its entry is their
    /// XXH3; none is marked corrupt. Returns how many are verified.
    @discardableResult
    func expectVerifiedChunksHoldTheSource(
        _ disk: OnDisk, _ source: [UInt8], _ label: String, sourceLocation: SourceLocation = #_sourceLocation
    ) -> Int {
        var count = 0
        for (index, state) in disk.entries.enumerated() {
            let start = min(index * Self.chunkSize, source.count)
            let end = min(start + Self.chunkSize, source.count)
            switch state {
            case .verified(let digest):
                count += 1
                let stored = Array(disk.bytes[min(start, disk.bytes.count)..<min(end, disk.bytes.count)])
                #expect(XXH3Hasher.hash(stored) == digest, "\(label): chunk \(index) is verified, its bytes hash otherwise", sourceLocation: sourceLocation)
                #expect(
                    stored == Array(source[start..<end]), "\(label): chunk \(index) is verified, its bytes are not the source's",
                    sourceLocation: sourceLocation)
            case .corrupt:
                Issue.record("\(label): chunk \(index) is marked corrupt", sourceLocation: sourceLocation)
            case .missing:
                break
            }
        }
        return count
    }

    /// A value for a message: what it is, or "nothing".
    static func show(_ value: Any?) -> String {
        guard let value else { return "nothing" }
        return "\(value)"
    }

    /// A comma-separated header value's members.
    static func list(_ value: String?) -> [String] {
        (value ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    /// An RFC 9110 IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), exactly: formatted back, it is the same text.
    static func httpDate(_ text: String) -> Date? {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        guard let date = formatter.date(from: text), formatter.string(from: date) == text else { return nil }
        return date
    }

    /// A JSON value as text, for comparison.
    static func text(_ value: Any?) -> String {
        switch value {
        case nil: return "absent"
        case let string as String: return string
        case let number as Int: return String(number)
        case is NSNull: return "null"
        case let some?: return "\(some)"
        }
    }

    /// Why the answer breaks the expectation; nil when it holds.
    static func failure(of expected: Expected, in reply: Reply) -> String? {
        func shown(_ name: String) -> String { "\(name): \(reply.header(name) ?? "absent")" }
        switch expected {
        case .status(let code):
            return reply.status == code ? nil : "status \(reply.status), expected \(code)"
        case .statusIn(let codes):
            return codes.contains(reply.status) ? nil : "status \(reply.status), expected one of \(codes)"
        case .header(let name, let value):
            return reply.header(name) == value ? nil : "\(shown(name)), expected \(value)"
        case .present(let name):
            return reply.header(name) != nil ? nil : "no \(name)"
        case .absent(let name):
            return reply.header(name) == nil ? nil : "\(shown(name)), expected none"
        case .lists(let name, let items):
            let missing = items.filter { !list(reply.header(name)).contains($0) }
            return missing.isEmpty ? nil : "\(shown(name)), lacking \(missing.joined(separator: ", "))"
        case .listsNone(let name, let items):
            let listed = items.filter { list(reply.header(name)).contains($0) }
            return listed.isEmpty ? nil : "\(shown(name)), naming \(listed.joined(separator: ", "))"
        case .listsFirst(let name, let item):
            return list(reply.header(name)).first == item ? nil : "\(shown(name)), expected \(item) first"
        case .lowercaseNames(let name):
            let names = list(reply.header(name))
            let bad = names.filter { item in item != item.lowercased() || !item.allSatisfy(\.isASCII) }
            return !names.isEmpty && bad.isEmpty ? nil : shown(name)
        case .httpDateAhead(let name, let atMost):
            guard let value = reply.header(name) else { return "no \(name)" }
            guard let date = httpDate(value) else { return "\(name): '\(value)' is not an RFC 9110 date (IMF-fixdate)" }
            let ahead = date.timeIntervalSince1970 - reply.at
            return ahead > 0 && ahead <= atMost ? nil : "\(name): \(value), \(Int(ahead)) s after the request, expected 0 to \(Int(atMost))"
        case .field(let key, let value):
            return text(reply.doc[key]) == value ? nil : "\(key): \(text(reply.doc[key])), expected \(value)"
        case .sameFields(let first, let second):
            return text(reply.doc[first]) == text(reply.doc[second]) ? nil : "\(first) \(text(reply.doc[first])), \(second) \(text(reply.doc[second]))"
        }
    }

    /// One clause of the protocol, held against the answer to one step.
    struct Must {
        let step: String
        let clause: String
        let expected: Expected

        init(_ step: String, _ clause: String, _ expected: Expected) {
            self.step = step
            self.clause = clause
            self.expected = expected
        }
    }

    enum Expected {
        case status(Int)
        case statusIn([Int])
        /// The header (its name lowercase) has exactly this value.
        case header(String, String)
        case present(String)
        case absent(String)
        /// The comma-separated header names each of these.
        case lists(String, [String])
        case listsNone(String, [String])
        case listsFirst(String, String)
        case lowercaseNames(String)
        /// An RFC 9110 date after the request was sent, at most this many seconds after.
        case httpDateAhead(String, atMost: Double)
        /// A field of the answer's JSON body (the native status, or what the client counted), as text.
        case field(String, String)
        case sameFields(String, String)
    }

    /// One bad request of the table, and the answer the protocol has for it.
    struct BadInput: CustomStringConvertible {
        enum Body {
            case none
            /// This many bytes of the witness's source from its offset on: what would belong there.
            case source(Int)
            case zeros(Int)
            /// Content-Length `declared`, of which `sending` bytes of the source are sent before the answer is read.
            case declared(Int, sending: Int)
        }

        let name: String
        let method: String
        let path: String
        let headers: [(String, String)]
        let body: Body
        /// Tus-Resumable's value; nil leaves the header out.
        let version: String?
        /// The second server, started with --token.
        let onTokenServer: Bool
        /// "token" (whatever the server needs), "missing" or "wrong".
        let auth: String
        let status: Int
        /// The problem's type; nil when any problem+json will do (and for a HEAD, which has no body).
        let problem: String?
        /// A creation refused only once the upload exists (its first bytes failed): its two files stay.
        let createsUpload: Bool

        var description: String { "\(name) (\(method) \(path))" }

        /// As the Python client takes it.
        var json: [String: Any] {
            var bodySpec: [String: Any] = ["kind": "none"]
            switch body {
            case .none: break
            case .source(let length): bodySpec = ["kind": "source", "length": length]
            case .zeros(let length): bodySpec = ["kind": "zeros", "length": length]
            case .declared(let declared, let sending): bodySpec = ["kind": "source", "length": sending, "declared": declared, "send": sending]
            }
            let versionValue: Any = version.map { $0 as Any } ?? NSNull()
            return [
                "name": name, "method": method, "path": path, "headers": headers.map { [$0.0, $0.1] }, "body": bodySpec,
                "version": versionValue, "server": onTokenServer ? 1 : 0, "auth": auth,
            ]
        }
    }

    /// One answer, as the Python client reported it.
    struct Reply: CustomStringConvertible {
        let fields: [String: Any]

        init(_ object: Any?) { fields = object as? [String: Any] ?? [:] }

        var status: Int { fields["status"] as? Int ?? -1 }
        var headers: [String: String] { fields["headers"] as? [String: String] ?? [:] }
        func header(_ name: String) -> String? { headers[name.lowercased()] }
        var offset: Int? { header("upload-offset").flatMap { Int($0) } }
        /// The JSON body: a problem, the native status, or what the client counted.
        var doc: [String: Any] { fields["doc"] as? [String: Any] ?? [:] }
        /// The problem's type, its last path segment (`mismatching-upload-offset`).
        var problemType: String? { (doc["type"] as? String).map { String($0.split(separator: "/").last ?? "") } }
        /// When the request was sent, in seconds since 1970.
        var at: Double { (fields["at"] as? NSNumber)?.doubleValue ?? 0 }
        var isPseudo: Bool { fields["pseudo"] as? Bool == true }
        var isNative: Bool { fields["native"] as? Bool == true }

        var description: String {
            var text = "\(status)"
            if let error = fields["error"] as? String { text += " (\(error))" }
            if let type = problemType { text += " \(type)" }
            let shown = headers.filter { !["date", "server"].contains($0.key) }.sorted { $0.key < $1.key }
            text += " [" + shown.map { "\($0.key): \($0.value)" }.joined(separator: "; ") + "]"
            if let detail = doc["detail"] as? String { text += " \(detail)" }
            return text
        }
    }
}

// MARK: The Python clients

extension TusProtocolTests {
    /// Raw HTTP/1.1 over sockets, one connection per request, and the lock probe.
    static let prelude = #"""
        import base64, fcntl, hashlib, json, os, socket, struct, threading, time
        from urllib.parse import urlsplit

        P = json.loads(os.environ["TUS_PROTOCOL_TEST"])
        PORTS = P["ports"]
        DATA = P["data"]
        TOKENS = P.get("tokens") or [None] * len(PORTS)
        SOURCE = open(P["source"], "rb").read() if P.get("source") else b""
        VERSION = "1.0.0"
        OFFSET_STREAM = "application/offset+octet-stream"


        def send_all(s, head, body, chunked):
            try:
                s.sendall(head)
                if chunked:
                    for i in range(0, len(body), 16384):
                        piece = body[i:i + 16384]
                        s.sendall(b"%x\r\n" % len(piece) + piece + b"\r\n")
                    s.sendall(b"0\r\n\r\n")
                else:
                    for i in range(0, len(body), 1 << 20):
                        s.sendall(body[i:i + (1 << 20)])
            except OSError:
                pass  # the server answered (and closed) before it took the whole body


        def failed(error, at, status=0):
            return {"status": status, "error": error, "headers": {}, "doc": {}, "at": at}


        def receive_more(s, data):
            piece = s.recv(65536)
            if not piece:
                raise EOFError("the connection closed mid-answer")
            return data + piece


        def read_chunked(s, data):
            body = b""
            while True:
                while b"\r\n" not in data:
                    data = receive_more(s, data)
                size_line, _, data = data.partition(b"\r\n")
                size = int(size_line.split(b";")[0], 16)
                if size == 0:
                    return body
                while len(data) < size + 2:
                    data = receive_more(s, data)
                body, data = body + data[:size], data[size + 2:]


        # One HTTP answer: {status, headers (names lowercased, repeated ones joined with ", "),
        # doc (the JSON body, if any), text, at (when the request was sent)}; status 0 when the
        # connection ended first, -2 when no answer came in time.
        def read_answer(s, method, at):
            data = b""
            try:
                while True:
                    while b"\r\n\r\n" not in data:
                        data = receive_more(s, data)
                    head, _, data = data.partition(b"\r\n\r\n")
                    lines = head.decode("latin-1").split("\r\n")
                    status = int(lines[0].split(" ")[1])
                    if status >= 200:  # a 100 Continue is followed by the answer
                        break
                headers = {}
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    name, value = name.strip().lower(), value.strip()
                    headers[name] = headers[name] + ", " + value if name in headers else value
                body = data
                if method == "HEAD" or status in (204, 304):
                    body = b""
                elif headers.get("transfer-encoding", "").lower() == "chunked":
                    body = read_chunked(s, data)
                elif "content-length" in headers:
                    length = int(headers["content-length"])
                    while len(body) < length:
                        body = receive_more(s, body)
                    body = body[:length]
                else:
                    try:
                        while True:
                            body = receive_more(s, body)
                    except EOFError:
                        pass
            except socket.timeout:
                return failed("no answer in time", at, status=-2)
            except (OSError, EOFError, ValueError, IndexError) as error:
                return failed(f"{type(error).__name__}: {error}", at)
            doc = {}
            if "json" in headers.get("content-type", "") and body:
                try:
                    doc = json.loads(body)
                except ValueError:
                    doc = {"unparsed": body.decode("utf-8", "replace")}
            return {"status": status, "headers": headers, "doc": doc, "text": body[:2000].decode("utf-8", "replace"), "at": at}


        # One request on a connection of its own, written byte for byte: `headers` are (name, value)
        # pairs, sent as given (a name twice too). Content-Length is `declared` when given, else the
        # body's length (left out for a request without a body other than POST and PATCH); only the
        # first `send` bytes of the body go out; with `close`, the connection is closed once they
        # are sent, with no answer awaited; with `chunked`, the body goes in chunked coding.
        def exchange(method, path, headers=(), body=b"", server=0, declared=None, send=None, close=False, chunked=False, timeout=30):
            port = PORTS[server]
            lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close"]
            lines += [f"{name}: {value}" for name, value in headers]
            if chunked:
                lines.append("Transfer-Encoding: chunked")
            else:
                if declared is None and (body or method in ("POST", "PATCH")):
                    declared = len(body)
                if declared is not None:
                    lines.append(f"Content-Length: {declared}")
            payload = body if send is None else body[:send]
            at = time.time()
            try:
                s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
            except OSError as error:
                return failed(f"connect: {error}", at)
            head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
            sender = threading.Thread(target=send_all, args=(s, head, payload, chunked))
            sender.start()
            if close:
                sender.join()
                s.close()
                return failed("closed by the client once the part was sent", at, status=-1)
            answer = read_answer(s, method, at)
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sender.join()
            s.close()
            return answer


        # The request's tus headers: Tus-Resumable (unless `version` is None), the server's bearer
        # token (`auth` "token"; "missing" sends none, "wrong" another), then `pairs`.
        def tus(*pairs, server=0, version=VERSION, auth="token"):
            headers = [] if version is None else [("Tus-Resumable", version)]
            if auth == "token" and TOKENS[server]:
                headers.append(("Authorization", f"Bearer {TOKENS[server]}"))
            elif auth == "wrong":
                headers.append(("Authorization", "Bearer not-the-token"))
            return headers + list(pairs)


        def location_id(answer):
            path = urlsplit(answer["headers"].get("location", "")).path
            return path.rsplit("/", 1)[1] if path.startswith("/files/") else "no-location"


        def create(length, server=0, pairs=()):
            answer = exchange("POST", "/files/", tus(("Upload-Length", str(length)), *pairs, server=server), server=server)
            assert answer["status"] == 201, answer
            return location_id(answer)


        def patch(upload, offset, data, server=0, pairs=(), **options):
            headers = tus(("Content-Type", OFFSET_STREAM), ("Upload-Offset", str(offset)), *pairs, server=server)
            return exchange("PATCH", f"/files/{upload}", headers, data, server=server, **options)


        def head(upload, server=0):
            return exchange("HEAD", f"/files/{upload}", tus(server=server), server=server)


        def offset_of(answer):
            try:
                return int(answer["headers"].get("upload-offset", "-1"))
            except ValueError:
                return -1


        # The native API's view of an upload (GET /uploads/{id}).
        def status(upload, server=0):
            answer = exchange("GET", f"/uploads/{upload}", tus(server=server, version=None), server=server)
            answer["native"] = True
            return answer


        def healthz(server=0):
            return exchange("GET", "/healthz", server=server)["status"]


        def data_path(upload, server=0):
            return os.path.join(DATA[server], upload)


        def on_disk(upload, start, length, server=0):
            with open(data_path(upload, server), "rb") as file:
                file.seek(start)
                return file.read(length)


        def files(server=0):
            return len(os.listdir(DATA[server])) if os.path.isdir(DATA[server]) else 0


        # Whether an append holds the upload's `.append` lock (byte 0 of its chunk map, exclusive
        # for the whole body: see ChunkMapLocks.swift), asked with F_OFD_GETLK.
        def append_held(upload, server=0):
            fd = os.open(data_path(upload, server) + ".chunkmap", os.O_RDONLY)
            try:
                query = struct.pack("hhxxxxqqixxxx", fcntl.F_WRLCK, os.SEEK_SET, 0, 1, 0)
                return struct.unpack("hhxxxxqqixxxx", fcntl.fcntl(fd, fcntl.F_OFD_GETLK, query))[0] != fcntl.F_UNLCK
            finally:
                os.close(fd)


        def wait_for(condition, timeout=15):
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if condition():
                    return True
                time.sleep(0.005)
            return False


        def b64(data):
            return base64.b64encode(data).decode()


        def checksum(algorithm, data):
            return f"{algorithm} {b64(hashlib.new(algorithm, data).digest())}"


        def lean(answer):
            return {key: value for key, value in answer.items() if key != "text"}
        """#

    /// Every MUST, in one pass over one server: each step's answer under its name.
    static let mustScenario = #"""
        # Every MUST, in one pass over one server: each step's answer under its name; the
        # test holds each to the clauses of its table. Sizes come from the test.
        R = {}
        SIZE = len(SOURCE)
        PIECE = P["piece"]
        FIRST = P["first"]


        def step(name, answer):
            R[name] = lean(answer)
            return answer


        # OPTIONS: what the server speaks; Tus-Resumable in the request is to be ignored.
        step("options", exchange("OPTIONS", "/files/"))
        step("optionsOtherVersion", exchange("OPTIONS", "/files/", [("Tus-Resumable", "0.0.1")]))

        # Creation, and HEAD of the new upload.
        created = step("create", exchange("POST", "/files/", tus(("Upload-Length", str(SIZE)), ("Upload-Metadata", P["metadata"]))))
        upload = location_id(created)
        path = f"/files/{upload}"
        step("headNew", head(upload))

        # Another version, or none: 412, and nothing processed.
        step("headWithoutVersion", exchange("HEAD", path, []))
        step("patchWithoutVersion", exchange("PATCH", path, [("Content-Type", OFFSET_STREAM), ("Upload-Offset", "0")], SOURCE[:PIECE]))
        step("patchOtherVersion", exchange(
            "PATCH", path, tus(("Content-Type", OFFSET_STREAM), ("Upload-Offset", "0"), version="0.2.2"), SOURCE[:PIECE]))
        step("headAfter412", head(upload))

        # PATCH: the offset must match; the answer names the new one.
        step("patch", patch(upload, 0, SOURCE[:FIRST]))
        offset = FIRST
        step("patchBehind", patch(upload, 0, SOURCE[:PIECE]))
        step("patchAhead", patch(upload, offset + PIECE, SOURCE[offset + PIECE:offset + 2 * PIECE]))
        step("headAfter409", head(upload))
        step("patchWrongType", exchange("PATCH", path, tus(("Content-Type", "application/octet-stream"), ("Upload-Offset", str(offset))),
                                        SOURCE[offset:offset + PIECE]))
        step("headAfter415", head(upload))

        # Checksum: each offered algorithm; a mismatch and an unknown algorithm change nothing.
        for algorithm in ("sha1", "md5", "sha256", "sha512"):
            piece = SOURCE[offset:offset + PIECE]
            step("patch-" + algorithm, patch(upload, offset, piece, pairs=[("Upload-Checksum", checksum(algorithm, piece))]))
            offset += PIECE
        piece = SOURCE[offset:offset + PIECE]
        step("patchChecksumMismatch", patch(upload, offset, piece, pairs=[("Upload-Checksum", checksum("sha1", b"other bytes"))]))
        step("headAfter460", head(upload))
        step("patchUnknownAlgorithm", patch(upload, offset, piece, pairs=[("Upload-Checksum", "crc32 AAAAAA==")]))
        step("headAfterUnknownAlgorithm", head(upload))
        # A body that fills the first chunk, with a checksum it fails: the chunk must not become verified.
        step("patchChunkMismatch", patch(upload, offset, SOURCE[offset:P["chunkSize"]],
                                         pairs=[("Upload-Checksum", checksum("sha256", b"other bytes"))]))
        step("headAfterChunkMismatch", head(upload))
        step("statusAfterChunkMismatch", status(upload))
        step("patchRest", patch(upload, offset, SOURCE[offset:]))
        step("headComplete", head(upload))
        step("statusComplete", status(upload))

        # Creation with upload: part of the file, then all of a small one; and an empty upload.
        part = step("createWithUpload", exchange("POST", "/files/", tus(("Upload-Length", str(P["smallSize"])), ("Content-Type", OFFSET_STREAM)),
                                                 SOURCE[:P["smallPart"]]))
        step("headWithUpload", head(location_id(part)))
        whole = step("createWithUploadWhole", exchange("POST", "/files/", tus(("Upload-Length", str(P["tinySize"])), ("Content-Type", OFFSET_STREAM)),
                                                       SOURCE[:P["tinySize"]]))
        step("statusWithUploadWhole", status(location_id(whole)))
        empty = location_id(step("createEmpty", exchange("POST", "/files/", tus(("Upload-Length", "0")))))
        step("headEmpty", head(empty))
        step("statusEmpty", status(empty))

        # Refused creations leave nothing behind.
        before = files()
        step("createWithoutVersion", exchange("POST", "/files/", [("Upload-Length", "10")]))
        step("createOtherVersion", exchange("POST", "/files/", tus(("Upload-Length", "10"), version="2.0.0")))
        step("createTooLarge", exchange("POST", "/files/", tus(("Upload-Length", str(P["maxUploadSize"] + 1)))))
        R["filesAroundRefusedCreations"] = {"pseudo": True, "doc": {"before": before, "after": files()}}

        # Termination, of an unfinished upload and of a complete one.
        doomed = create(P["tinySize"])
        step("deleteWithoutVersion", exchange("DELETE", f"/files/{doomed}", []))
        step("headAfterDelete412", head(doomed))
        step("delete", exchange("DELETE", f"/files/{doomed}", tus()))
        step("headDeleted", head(doomed))
        step("patchDeleted", patch(doomed, 0, SOURCE[:10]))
        step("deleteDeleted", exchange("DELETE", f"/files/{doomed}", tus()))
        R["filesOfDeleted"] = {"pseudo": True, "doc": {
            "data": "present" if os.path.exists(data_path(doomed)) else "gone",
            "map": "present" if os.path.exists(data_path(doomed) + ".chunkmap") else "gone"}}
        step("deleteComplete", exchange("DELETE", path, tus()))
        step("headDeletedComplete", head(upload))

        # X-HTTP-Method-Override on a POST: PATCH, HEAD and DELETE.
        overridden = create(P["smallSize"])
        step("overridePatch", exchange("POST", f"/files/{overridden}", tus(("X-HTTP-Method-Override", "PATCH"), ("Content-Type", OFFSET_STREAM),
                                                                             ("Upload-Offset", "0")), SOURCE[:PIECE]))
        step("overrideHead", exchange("POST", f"/files/{overridden}", tus(("X-HTTP-Method-Override", "HEAD"))))
        step("overrideDelete", exchange("POST", f"/files/{overridden}", tus(("X-HTTP-Method-Override", "DELETE"))))
        step("headOverridden", head(overridden))
        print(json.dumps({"steps": R}))
        """#

    static let badInputRun = #"""
        # The bad-input table: one witness upload per server, 9 MiB of it appended (its first
        # chunk verified); each case sent on a connection of its own, then /healthz, HEAD and
        # GET of the witness, its stored bytes, and the files in the data directory.
        W = P["witnessOffset"]
        witnesses = []
        for server in range(len(PORTS)):
            witness = create(len(SOURCE), server)
            answer = patch(witness, 0, SOURCE[:W], server)
            assert answer["status"] == 204 and offset_of(answer) == W, answer
            witnesses.append(witness)


        def body_of(spec):
            if spec["kind"] == "source":
                return SOURCE[W:W + spec["length"]]
            if spec["kind"] == "zeros":
                return bytes(spec["length"])
            return b""


        results = []
        for case in P["cases"]:
            server = case["server"]
            witness = witnesses[server]
            path = case["path"].replace("{w31}", witness[:31]).replace("{w}", witness).replace("{W}", witness.upper())
            headers = tus(*[tuple(pair) for pair in case["headers"]], server=server, version=case["version"], auth=case["auth"])
            before = files(server)
            answer = exchange(case["method"], path, headers, body_of(case["body"]), server=server,
                              declared=case["body"].get("declared"), send=case["body"].get("send"), timeout=10)
            results.append({"name": case["name"], "answer": lean(answer), "after": {
                "healthz": healthz(server),
                "head": lean(head(witness, server)),
                "status": lean(status(witness, server)),
                "prefixIntact": on_disk(witness, 0, W, server) == SOURCE[:W],
                "created": files(server) - before,
            }})

        # Each witness, finished: what was verified before the bad input is still there.
        finals = [{"patch": lean(patch(witness, W, SOURCE[W:], server)), "status": lean(status(witness, server))}
                  for server, witness in enumerate(witnesses)]
        print(json.dumps({"witnesses": witnesses, "results": results, "finals": finals}))
        """#

    static let cutMidBody = #"""
        # A PATCH cut mid-body: the head and half the declared body, then the socket closed; once
        # the server has let go of the upload, HEAD's offset and the stored bytes; then the rest.
        SIZE = len(SOURCE)
        FIRST = P["first"]
        record = {}
        upload = create(SIZE)
        record["id"] = upload
        record["first"] = lean(patch(upload, 0, SOURCE[:FIRST]))
        rest = SOURCE[FIRST:]
        half = len(rest) // 2
        record["sent"] = half
        # With Upload-Checksum, a body cut short cannot be checked: none of it may count.
        patch(upload, FIRST, rest, pairs=[("Upload-Checksum", checksum("sha1", rest))], send=half, close=True)
        record["checkedReleased"] = wait_for(lambda: not append_held(upload))
        record["afterChecked"] = lean(head(upload))
        # Without one, what arrived is kept.
        patch(upload, FIRST, rest, send=half, close=True)
        record["plainReleased"] = wait_for(lambda: not append_held(upload))
        after = record["afterPlain"] = lean(head(upload))
        record["statusAfterPlain"] = lean(status(upload))
        kept = offset_of(after)
        record["keptIsSource"] = 0 <= kept <= SIZE and on_disk(upload, 0, kept) == SOURCE[:kept]
        record["resume"] = lean(patch(upload, kept, SOURCE[kept:])) if 0 <= kept <= SIZE else None
        record["final"] = lean(status(upload))
        record["headFinal"] = lean(head(upload))
        print(json.dumps(record))
        """#

    static let secondPatch = #"""
        # A PATCH in flight (its head and the first part of its body sent, the upload's append
        # lock seen held), then a second PATCH of other bytes at the same offset through each
        # server on the directory; then the first one's body finished, and the rest.
        SIZE = len(SOURCE)
        FIRST, PART = P["first"], P["part"]
        record = {}
        upload = create(SIZE)
        record["id"] = upload
        s = socket.create_connection(("127.0.0.1", PORTS[0]), timeout=30)
        head_bytes = (f"PATCH /files/{upload} HTTP/1.1\r\nHost: 127.0.0.1\r\nTus-Resumable: {VERSION}\r\n"
                      f"Content-Type: {OFFSET_STREAM}\r\nUpload-Offset: 0\r\nContent-Length: {FIRST}\r\nConnection: close\r\n\r\n").encode()
        s.sendall(head_bytes + SOURCE[:PART])
        record["held"] = wait_for(lambda: append_held(upload))
        other = bytes(P["piece"])
        record["second"] = [lean(patch(upload, 0, other, server=server)) for server in range(len(PORTS))]
        record["headWhileInFlight"] = lean(head(upload))
        s.sendall(SOURCE[PART:FIRST])
        record["first"] = lean(read_answer(s, "PATCH", time.time()))
        s.close()
        record["rest"] = lean(patch(upload, FIRST, SOURCE[FIRST:], server=len(PORTS) - 1))
        record["final"] = lean(status(upload))
        print(json.dumps(record))
        """#

    static let overrun = #"""
        # Bodies that run past the upload's end: a chunked PATCH (no Content-Length to refuse it
        # by), and a creation-with-upload whose Content-Length is over its Upload-Length.
        SIZE = P["size"]
        body = SOURCE[:SIZE] + bytes(P["over"])
        record = {}
        upload = create(SIZE)
        record["patch"] = lean(patch(upload, 0, body, chunked=True))
        record["patchHead"] = lean(head(upload))
        record["patchStatus"] = lean(status(upload))
        created = exchange("POST", "/files/", tus(("Upload-Length", str(SIZE)), ("Content-Type", OFFSET_STREAM)), body)
        record["create"] = lean(created)
        record["createHead"] = lean(head(location_id(created)))
        record["createStatus"] = lean(status(location_id(created)))
        print(json.dumps(record))
        """#
}
