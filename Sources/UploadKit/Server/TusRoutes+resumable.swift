import CoreMetrics
import HTTPTypes
import Hummingbird
import NIOCore

/// The IETF draft "Resumable Uploads for HTTP" (interop versions 6, 7 and
/// 8) on the same resources as tus: an upload created at `/files/` is
/// `/files/{id}` for both protocols and `/uploads/{id}` natively. The rules
/// behind each answer, with the draft text, are in
/// docs/ietf-resumable-upload-notes.md.
extension TusRoutes {
    /// The version a request speaks, as far as the answer depends on it.
    struct Interop {
        /// The client's `Upload-Draft-Interop-Version`, when it is one this
        /// server speaks: only then is a `104` sent, and the version echoed.
        let known: Int?

        init(_ request: Request) {
            let version = request.headers[.uploadDraftInteropVersion].flatMap(ResumableUploadFields.integer).map(Int.init)
            known = version.flatMap { ResumableUploadFields.interopVersions.contains($0) ? $0 : nil }
        }

        /// Version 6 answers appends `201` and always names the offset; later
        /// versions follow the newest text this server knows.
        var isVersion6: Bool { known == 6 }
    }

    /// A request of the IETF draft rather than tus: it names an interop
    /// version, says whether its content completes the upload, or carries a
    /// partial upload.
    static func isResumableUploadRequest(_ request: Request) -> Bool {
        request.headers[.uploadDraftInteropVersion] != nil || request.headers[.uploadComplete] != nil
            || request.headers[.contentType].map { mediaType($0) == ResumableUploadFields.partialUploadMediaType } == true
    }

    /// Creation: any `POST` to `/files/` with `Upload-Complete`. A `104`
    /// names the upload as soon as it exists, before the content is read.
    func createResumable(_ request: Request, context: UploadRequestContext) async throws -> Response {
        let interop = Interop(request)
        guard let complete = request.headers[.uploadComplete].flatMap(ResumableUploadFields.boolean) else {
            throw Problem.badHeader("Upload-Complete", "Upload-Complete must be ?1 (this content ends the upload) or ?0").closingConnection()
        }
        guard request.headers[.uploadOffset] == nil else {
            throw Problem.badHeader("Upload-Offset", "a creation request carries no Upload-Offset: the upload starts at 0").closingConnection()
        }
        let length = try declaredLength(request, offset: 0, complete: complete, interop: interop, recorded: nil)
        guard let length else {
            throw Problem(
                .badRequest, "length-required", title: "Upload length required",
                detail: "send Upload-Length (or Upload-Complete: ?1 with Content-Length): a chunk map needs the length up front"
            ).closingConnection()
        }
        guard length <= maxUploadSize.bytes else { throw Problem(UploadError.tooLarge(size: length, limit: maxUploadSize.bytes)).closingConnection() }
        var expected: SHA256Digest?
        if let text = request.headers[.reprDigest] {
            do { expected = try DigestField.parse(text).sha256 } catch { throw Problem.badHeader("Repr-Digest", error.description).closingConnection() }
        }
        let checksum = try contentDigest(request)
        let snapshot = try await store.create(length: ByteCount(length), chunkSize: nil, expectedSHA256: expected, metadata: "")
        metrics.uploadsCreated.increment()
        let location = "/files/\(snapshot.id)"
        if let version = interop.known, let channel = context.channel {
            var interim = HTTPResponse(status: .init(code: 104, reasonPhrase: "Upload Resumption Supported"))
            interim.headerFields[.location] = location
            interim.headerFields[.uploadDraftInteropVersion] = String(version)
            interim.headerFields[.uploadLimit] = uploadLimit(interop)
            try await channel.triggerUserOutboundEvent(InterimResponse(head: interim)).get()
        }
        var headers: HTTPFields = [.location: location]
        do {
            let receipt = try await appendResumable(
                request.body, to: snapshot.id, at: 0, complete: complete, checksum: checksum, bytes: announcedBytes(request, remaining: length),
                context: context)
            headers.append(contentsOf: resumableHeaders(offset: receipt.offset, complete: complete && receipt.isFull, interop: interop))
            return Response(status: .created, headers: headers)
        } catch {
            throw await withVersion6Offset(resumableProblem(error, location: location, interop: interop), id: snapshot.id, interop: interop)
        }
    }

    /// Version 6 asks for `Upload-Offset` in every answer about an upload
    /// still taking appends, failures included: the upload's offset as it
    /// is now, on a failure that does not already say one.
    func withVersion6Offset(_ error: any Error, id: UploadID?, interop: Interop) async -> any Error {
        guard interop.isVersion6, var problem = error as? Problem, problem.headers[.uploadOffset] == nil, let id,
            let map = try? await store.snapshot(id).map, map.status.state != .complete
        else { return error }
        problem.headers[.uploadOffset] = String(map.appendOffset)
        return problem
    }

    /// Offset retrieval: what is stored durably, and whether it is all.
    func headResumable(_ request: Request, context: UploadRequestContext) async throws -> Response {
        let interop = Interop(request)
        for name in [HTTPField.Name.uploadOffset, .uploadComplete, .uploadLength] where request.headers[name] != nil {
            throw Problem.badHeader(name.canonicalName, "an offset retrieval carries no \(name.canonicalName)")
        }
        let id = try context.uploadID()
        await appends.endOthers(id, except: nil)
        let snapshot = try await store.snapshot(id)
        let complete = snapshot.state == .complete
        var headers = resumableHeaders(offset: snapshot.map.appendOffset, complete: complete, interop: interop)
        headers[.uploadLength] = String(snapshot.layout.fileSize.bytes)
        headers[.cacheControl] = "no-store"
        if complete, let sha256 = snapshot.map.status.sha256 { headers[.reprDigest] = DigestField(sha256: sha256).headerValue }
        return Response(status: .noContent, headers: headers)
    }

    /// Upload append: `PATCH` of `application/partial-upload` at the offset.
    func patchResumable(_ request: Request, context: UploadRequestContext) async throws -> Response {
        let interop = Interop(request)
        let id = try context.uploadID()
        do {
            return try await answerAppend(request, id: id, interop: interop, context: context)
        } catch {
            throw await withVersion6Offset(error, id: id, interop: interop)
        }
    }

    /// The append itself, its refusals as the draft words them.
    private func answerAppend(_ request: Request, id: UploadID, interop: Interop, context: UploadRequestContext) async throws -> Response {
        guard request.headers[.contentType].map({ Self.mediaType($0) == ResumableUploadFields.partialUploadMediaType }) == true else {
            throw Problem(
                .unsupportedMediaType, "unsupported-media-type", title: "Unsupported Content-Type",
                detail: "an upload append carries Content-Type: \(ResumableUploadFields.partialUploadMediaType)"
            ).closingConnection()
        }
        guard let offset = request.headers[.uploadOffset].flatMap(ResumableUploadFields.integer) else {
            throw Problem.badHeader("Upload-Offset", "Upload-Offset is required: a non-negative integer, where these bytes start").closingConnection()
        }
        // Version 6 reads a missing Upload-Complete as completing the upload, as URLSession expects; later versions require it.
        let completeText = request.headers[.uploadComplete]
        guard let complete = completeText.map(ResumableUploadFields.boolean) ?? (interop.isVersion6 ? true : nil) else {
            throw Problem.badHeader("Upload-Complete", "Upload-Complete is required: ?1 when this content ends the upload, else ?0").closingConnection()
        }
        let checksum = try contentDigest(request)
        await appends.endOthers(id, except: context.channel)
        let map = try await store.snapshot(id).map
        if map.status.state == .complete {
            throw Problem(.badRequest, "completed-upload", title: "Upload already complete", detail: "this upload is complete; nothing more can be appended")
                .typed(ResumableUploadFields.completedUploadType).closingConnection()
        }
        guard offset == map.appendOffset else {
            // Refused on its head: the body is not read for nothing.
            let problem = resumableProblem(UploadError.offsetMismatch(given: offset, expected: map.appendOffset), location: nil, interop: interop)
            throw (problem as? Problem)?.closingConnection() ?? problem
        }
        _ = try declaredLength(request, offset: offset, complete: complete, interop: interop, recorded: map.layout.fileSize.bytes)
        do {
            let receipt = try await appendResumable(
                request.body, to: id, at: offset, complete: complete, checksum: checksum,
                bytes: announcedBytes(request, remaining: map.layout.fileSize.bytes - offset), context: context)
            let done = complete && receipt.isFull
            var headers = resumableHeaders(offset: receipt.offset, complete: done, interop: interop)
            headers[.cacheControl] = "no-store"
            if done || interop.isVersion6 { return Response(status: done && !interop.isVersion6 ? .ok : .created, headers: headers) }
            return Response(status: .noContent, headers: headers)
        } catch {
            throw resumableProblem(error, location: nil, interop: interop)
        }
    }

    /// Cancellation.
    func deleteResumable(_ request: Request, context: UploadRequestContext) async throws -> Response {
        for name in [HTTPField.Name.uploadOffset, .uploadComplete] where request.headers[name] != nil {
            throw Problem.badHeader(name.canonicalName, "a cancellation carries no \(name.canonicalName)")
        }
        let id = try context.uploadID()
        await appends.endOthers(id, except: nil)
        try await store.delete(id)
        return Response(status: .noContent)
    }

    /// Appends for the draft: completion is the client's word (`Upload-Complete:
    /// ?1`), confirmed from disk once every byte is in; a second append is
    /// retried for a moment while an ended one lets go of the lock.
    private func appendResumable(
        _ body: RequestBody, to id: UploadID, at offset: Int64, complete: Bool, checksum: BodyChecksum?, bytes: Int64,
        context: UploadRequestContext
    ) async throws -> AppendReceipt {
        try await bodyDeadline.closing(context.channel, afterBytes: bytes) {
            try await appendWhenFree(body, to: id, at: offset, complete: complete, checksum: checksum, context: context)
        }
    }

    private func appendWhenFree(
        _ body: RequestBody, to id: UploadID, at offset: Int64, complete: Bool, checksum: BodyChecksum?, context: UploadRequestContext
    ) async throws -> AppendReceipt {
        try await appends.serving(id, on: context.channel) {
            var attempt = 0
            while true {
                do {
                    let receipt = try await store.append(id, at: offset, checksum: checksum, body: body)
                    metrics.bytesReceived.increment(by: max(0, receipt.offset - offset))
                    metrics.chunksVerified.increment(by: receipt.verified.count)
                    if complete && receipt.isFull { try await finish(id) }
                    return receipt
                } catch UploadError.appendBusy where attempt < 100 {
                    // Nothing of the body was read yet: the lock is tried before it.
                    attempt += 1
                    try await Task.sleep(for: .milliseconds(20))
                }
            }
        }
    }

    /// The draft's length rules: `Upload-Length`, and `Content-Length` with
    /// `Upload-Complete: ?1`, must agree with each other and with the length
    /// recorded at creation.
    private func declaredLength(_ request: Request, offset: Int64, complete: Bool, interop: Interop, recorded: Int64?) throws -> Int64? {
        var lengths = [Int64]()
        if let text = request.headers[.uploadLength] {
            guard let length = ResumableUploadFields.integer(text) else {
                throw Problem.badHeader("Upload-Length", "Upload-Length must be a non-negative integer").closingConnection()
            }
            lengths.append(length)
        }
        if complete, let text = request.headers[.contentLength], let length = ASCIIDecimal.parse(text) { lengths.append(offset + length) }
        if let recorded { lengths.append(recorded) }
        guard let first = lengths.first else { return nil }
        guard lengths.allSatisfy({ $0 == first }) else {
            var problem = Problem(
                .badRequest, "inconsistent-upload-length", title: "Inconsistent upload length",
                detail: "the lengths this request and the upload indicate differ (\(lengths.map(String.init).joined(separator: ", ")) bytes)")
            if interop.known != 6 { problem = problem.typed(ResumableUploadFields.inconsistentLengthType) }
            throw problem.closingConnection()
        }
        return first
    }

    /// `Content-Digest: sha-256=:…:` of the request's content, checked as a tus checksum is.
    private func contentDigest(_ request: Request) throws -> BodyChecksum? {
        guard let text = request.headers[.contentDigest] else { return nil }
        do {
            return try DigestField.parse(text).sha256.map { BodyChecksum(.sha256, digest: $0.bytes) }
        } catch {
            throw Problem.badHeader("Content-Digest", error.description).closingConnection()
        }
    }

    private func resumableHeaders(offset: Int64, complete: Bool, interop: Interop) -> HTTPFields {
        var headers: HTTPFields = [.uploadOffset: String(offset), .uploadComplete: complete ? "?1" : "?0"]
        headers[.uploadLimit] = uploadLimit(interop)
        if let version = interop.known { headers[.uploadDraftInteropVersion] = String(version) }
        return headers
    }

    /// The draft's answers for the store's refusals: `409` with the offset
    /// for a mismatch, `400` where tus would say `460`.
    private func resumableProblem(_ error: any Error, location: String?, interop: Interop) -> any Error {
        var problem: Problem
        switch error {
        case UploadError.offsetMismatch(let given, let expected):
            problem = Problem(UploadError.offsetMismatch(given: given, expected: expected)).typed(ResumableUploadFields.mismatchingOffsetType)
            problem.body.expectedOffset = expected
            problem.body.providedOffset = given
            problem.headers[.uploadOffset] = String(expected)
            problem.headers[.uploadComplete] = "?0"
        case UploadError.uploadComplete:
            problem = Problem(.badRequest, "completed-upload", title: "Upload already complete", detail: UploadError.uploadComplete.description)
                .typed(ResumableUploadFields.completedUploadType)
        case UploadError.pastTheEnd(let length):
            // The draft: stop at the length, and refuse with 400.
            problem = Problem(
                .badRequest, "past-the-end", title: "Content runs past the upload's length", detail: UploadError.pastTheEnd(length: length).description)
        case UploadError.checksumMismatch(let algorithm, let expected, let actual):
            let mismatch = Problem(UploadError.checksumMismatch(algorithm: algorithm, expected: expected, actual: actual))
            problem = Problem(.badRequest, "checksum-mismatch", title: mismatch.body.title, detail: mismatch.body.detail)
        case let error as UploadError:
            problem = Problem(error)
        case let given as Problem:
            problem = given
        default:
            return error
        }
        if let location { problem.headers[.location] = location }
        if let version = interop.known { problem.headers[.uploadDraftInteropVersion] = String(version) }
        return problem
    }

    func uploadLimit(_ interop: Interop) -> String {
        ResumableUploadFields.limit(maxSize: maxUploadSize.bytes, lifetime: expireAfter.map { $0.components.seconds }, version6: interop.isVersion6)
    }

    static func mediaType(_ contentType: String) -> String {
        String(contentType.split(separator: ";").first?.trimmingCharacters(" ").lowercased() ?? "")
    }
}
