import CoreMetrics
import HTTPTypes
import Hummingbird
import NIOCore

extension TusRoutes {
    /// `POST /files/`: creation, and creation-with-upload when the request
    /// carries a body of `application/offset+octet-stream`; with
    /// `Upload-Concat`, of a partial upload, or of a final one
    /// (`TusRoutes+concatenate.swift`).
    @Sendable func create(_ request: Request, context: UploadRequestContext) async throws -> Response {
        if Self.isResumableUploadRequest(request) { return try await createResumable(request, context: context) }
        let concatenation = try request.headers[.uploadConcat].map { text in try parsed { try TusFields.concatenation(text) } }
        if request.headers[.uploadDeferLength] != nil {
            throw Problem.badHeader(
                "Upload-Defer-Length",
                "Upload-Defer-Length is not supported (see Tus-Extension): a chunk map needs the length up front; send Upload-Length alone"
            ).closingConnection()
        }
        if case .final(let parts) = concatenation { return try await createFinal(request, parts: parts) }
        guard let lengthText = request.headers[.uploadLength] else {
            let detail =
                request.headers[.uploadDeferLength] != nil
                ? "Upload-Defer-Length is not supported: a chunk map needs the length up front; send Upload-Length"
                : "Upload-Length is required: the file's size in bytes"
            throw Problem.badHeader("Upload-Length", detail).closingConnection()
        }
        let length = try parsed { try TusFields.byteCount(lengthText, name: "Upload-Length") }
        guard length <= maxUploadSize.bytes else { throw tooLarge(UploadError.tooLarge(size: length, limit: maxUploadSize.bytes)).closingConnection() }
        let (metadata, expected) = try announced(request)
        let withUpload = request.headers[.contentType].map(isOffsetStream) ?? false
        let checksum = withUpload ? try request.headers[.uploadChecksum].map { text in try parsed { try TusFields.checksum(text) } } : nil
        let snapshot: UploadSnapshot
        if concatenation == .partial {
            snapshot = try await store.createPartial(length: ByteCount(length), chunkSize: nil, expectedSHA256: expected, metadata: metadata)
        } else {
            snapshot = try await store.create(length: ByteCount(length), chunkSize: nil, expectedSHA256: expected, metadata: metadata)
        }
        metrics.uploadsCreated.increment()
        let location = "/files/\(snapshot.id)"
        do {
            var headers: HTTPFields = [.location: location]
            if withUpload {
                let receipt = try await append(
                    request.body, to: snapshot.id, at: 0, checksum: checksum, bytes: announcedBytes(request, remaining: length),
                    context: context)
                headers[.uploadOffset] = String(receipt.offset)
            } else if length == 0 {
                try await finish(snapshot.id)
            }
            for field in uploadHeaders(try await store.snapshot(snapshot.id)) where headers[field.name] == nil { headers.append(field) }
            return Response(status: .created, headers: headers)
        } catch let error as UploadError {
            throw Self.naming(location, Problem(error))
        } catch let problem as Problem {
            throw Self.naming(location, problem)
        }
    }

    /// `Upload-Metadata`, checked, and the SHA-256 announced by its `sha256`
    /// or by `Repr-Digest` (the two must agree).
    func announced(_ request: Request) throws -> (metadata: String, expected: SHA256Digest?) {
        let metadata = request.headers[.uploadMetadata] ?? ""
        do { _ = try UploadMetadata.validate(metadata) } catch {
            throw Problem.badHeader("Upload-Metadata", error.description).closingConnection()
        }
        var expected = try parsed { try TusFields.announcedSHA256(inMetadata: metadata) }
        if let text = request.headers[.reprDigest] {
            let given: SHA256Digest?
            do { given = try DigestField.parse(text).sha256 } catch {
                throw Problem.badHeader("Repr-Digest", error.description).closingConnection()
            }
            if let given, let inMetadata = expected, given != inMetadata {
                throw Problem.badHeader(
                    "Repr-Digest", "Repr-Digest's sha-256 (\(given)) differs from Upload-Metadata's sha256 (\(inMetadata)): give one SHA-256"
                ).closingConnection()
            }
            expected = given ?? expected
        }
        return (metadata, expected)
    }

    /// `413 upload-too-large`, with the limit as tus names it.
    func tooLarge(_ error: UploadError) -> Problem {
        var problem = Problem(error)
        problem.headers[.tusMaxSize] = String(maxUploadSize.bytes)
        return problem
    }

    /// `PATCH /files/{id}`: bytes at the upload's offset, in place.
    @Sendable func patch(_ request: Request, context: UploadRequestContext) async throws -> Response {
        if Self.isResumableUploadRequest(request) { return try await patchResumable(request, context: context) }
        let id = try context.uploadID()
        do {
            return try await patchTus(request, id: id, context: context)
        } catch let problem as Problem {
            // Expiration asks every PATCH answer to say when the upload expires, refusals included.
            var problem = problem
            for field in (try? await answerHeaders(id, offset: nil)) ?? [:] where problem.headers[field.name] == nil { problem.headers.append(field) }
            throw problem
        }
    }

    private func patchTus(_ request: Request, id: UploadID, context: UploadRequestContext) async throws -> Response {
        guard request.headers[.contentType].map(isOffsetStream) == true else {
            throw Problem(
                .unsupportedMediaType, "unsupported-media-type", title: "Unsupported Content-Type",
                detail: "a PATCH carries Content-Type: \(TusFields.offsetMediaType)"
            ).closingConnection()
        }
        guard let offsetText = request.headers[.uploadOffset] else {
            throw Problem.badHeader("Upload-Offset", "Upload-Offset is required: where these bytes start").closingConnection()
        }
        let offset = try parsed { try TusFields.byteCount(offsetText, name: "Upload-Offset") }
        let checksum = try request.headers[.uploadChecksum].map { text in try parsed { try TusFields.checksum(text) } }
        // Refused before the body is read when the answer is already known;
        // the store decides again under the upload's locks.
        let snapshot = try await store.snapshot(id)
        if case .final = snapshot.concatenation { throw Problem(UploadError.finalUpload).closingConnection() }
        let map = snapshot.map
        let size = map.layout.fileSize.bytes
        if map.status.state != .complete, offset != map.appendOffset {
            throw offsetConflict(UploadError.offsetMismatch(given: offset, expected: map.appendOffset), offset: map.appendOffset)
        }
        if let lengthText = request.headers[.contentLength], let length = ASCIIDecimal.parse(lengthText), offset <= size, length > size - offset {
            throw Problem(UploadError.pastTheEnd(length: size)).closingConnection()
        }
        do {
            let receipt = try await append(
                request.body, to: id, at: offset, checksum: checksum, bytes: announcedBytes(request, remaining: size - offset), context: context)
            return Response(status: .noContent, headers: try await answerHeaders(id, offset: receipt.offset))
        } catch UploadError.uploadComplete {
            // Nothing more to store: a retry of the last PATCH, with no bytes, is answered as it was.
            guard offset == size, request.headers[.contentLength] == "0" else {
                throw offsetConflict(UploadError.offsetMismatch(given: offset, expected: size), offset: size)
            }
            return Response(status: .noContent, headers: try await answerHeaders(id, offset: size))
        } catch UploadError.offsetMismatch(let given, let expected) {
            throw offsetConflict(UploadError.offsetMismatch(given: given, expected: expected), offset: expected)
        } catch let error as UploadError {
            throw Problem(error)
        }
    }

    /// `Upload-Offset` (the one given, or the upload's), `Upload-Expires` and `Cache-Control`.
    /// The map is read again only when `Upload-Expires` needs its time:
    /// a PATCH answered without expiry reads the map once, before its body.
    private func answerHeaders(_ id: UploadID, offset: Int64?) async throws -> HTTPFields {
        guard expireAfter != nil else {
            return offset.map { [.uploadOffset: String($0), .cacheControl: "no-store"] } ?? [:]
        }
        var headers = uploadHeaders(try await store.snapshot(id))
        if let offset { headers[.uploadOffset] = String(offset) }
        return headers
    }

    /// What a body may carry: its `Content-Length`, else what the upload still lacks.
    func announcedBytes(_ request: Request, remaining: Int64) -> Int64 {
        request.headers[.contentLength].flatMap(ASCIIDecimal.parse) ?? remaining
    }

    /// Appends, counts, and confirms the SHA-256 once the last byte is in.
    /// A body slower than its deadline for `bytes` has its connection closed.
    private func append(
        _ body: some AsyncSequence<ByteBuffer, any Error> & Sendable, to id: UploadID, at offset: Int64, checksum: BodyChecksum?,
        bytes: Int64, context: UploadRequestContext
    ) async throws -> AppendReceipt {
        let receipt: AppendReceipt
        do {
            receipt = try await bodyDeadline.closing(context.channel, afterBytes: bytes) {
                try await store.append(id, at: offset, checksum: checksum, body: body)
            }
        } catch {
            // A body that ran past the end, or was cut after its last byte,
            // may still have stored every byte: the upload is completed all the same.
            try await finishIfFull(id)
            throw error
        }
        metrics.bytesReceived.increment(by: max(0, receipt.offset - offset))
        metrics.chunksVerified.increment(by: receipt.verified.count)
        if receipt.isFull { try await finish(id) }
        return receipt
    }

    /// Completes an upload whose every byte is stored but which is not complete
    /// (its last append failed after storing them, or the server died before
    /// completing it): a tus client takes `Upload-Offset == Upload-Length`
    /// for done and never sends another byte.
    /// An upload whose completion failed (its bytes are not the announced
    /// file) is not hashed again at every HEAD: this process remembers it.
    func finishIfFull(_ id: UploadID) async throws {
        guard let map = try? await store.snapshot(id).map, needsFinishing(id, map) else { return }
        try await finish(id)
    }

    func needsFinishing(_ id: UploadID, _ map: ChunkMap) -> Bool {
        map.status.state == .receiving && map.appendOffset == map.layout.fileSize.bytes && map.chunks.allSatisfy(\.isVerified)
            && !failedCompletions.withLock { $0.contains(id) }
    }

    /// The SHA-256 is confirmed from disk: against the one announced at
    /// creation if there was one, else recorded as computed.
    func finish(_ id: UploadID) async throws {
        do {
            _ = try await store.complete(id, sha256: nil, requireSHA256: false)
            metrics.uploadsCompleted.increment()
        } catch let error as UploadError {
            switch error {
            case .corrupt, .sha256Mismatch, .dataSizeMismatch:
                metrics.uploadsFailed.increment()
                failedCompletions.withLock { failed in
                    if failed.count >= 4096 { failed.removeAll() }
                    failed.insert(id)
                }
            default: break
            }
            throw error
        }
    }

    /// The upload exists even though its first bytes failed: say where, so that the client can resume it.
    private static func naming(_ location: String, _ problem: Problem) -> Problem {
        var problem = problem
        problem.headers[.location] = location
        return problem
    }

    private func offsetConflict(_ error: UploadError, offset: Int64) -> Problem {
        var problem = Problem(error)
        problem.headers[.uploadOffset] = String(offset)
        return problem.closingConnection()
    }

    private func isOffsetStream(_ contentType: String) -> Bool { Self.mediaType(contentType) == TusFields.offsetMediaType }

    /// A header value parsed, its error a 400 naming it.
    private func parsed<T>(_ parse: () throws -> T) throws -> T {
        do { return try parse() } catch let error as TusFieldError {
            let name: String
            switch error {
            case .malformedChecksum, .unknownAlgorithm: name = "Upload-Checksum"
            case .notANumber(let field, _): name = field
            case .malformedSHA256: name = "Upload-Metadata"
            case .malformedConcatenation: name = "Upload-Concat"
            }
            throw Problem.badHeader(name, error.description).closingConnection()
        }
    }
}
