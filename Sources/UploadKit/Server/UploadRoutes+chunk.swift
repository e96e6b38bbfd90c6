import CoreMetrics
import HTTPTypes
import Hummingbird
import Logging
import NIOCore

extension UploadRoutes {
    /// `PUT /uploads/{id}`: one whole chunk, streamed to its place.
    @Sendable func putChunk(_ request: Request, context: UploadRequestContext) async throws -> Response {
        do {
            return try await metrics.countingChunkRequest { try await receive(request, context: context) }
        } catch let error as UploadError {
            metrics.chunksRejected.increment()
            if case .digestMismatch = error { metrics.digestMismatches.increment() }
            if case .storage(let io) = error { context.logger.error("storage error: \(io)") }
            // An error before the whole body was read leaves bytes on the wire:
            // close rather than read them for nothing.
            throw Problem(error).closingConnection()
        } catch let problem as Problem {
            metrics.chunksRejected.increment()
            throw problem.closingConnection()
        }
    }

    private func receive(_ request: Request, context: UploadRequestContext) async throws -> Response {
        let id = try context.uploadID()
        guard let rangeText = request.headers[.contentRange] else {
            throw Problem.badHeader("Content-Range", "Content-Range: bytes FIRST-LAST/LENGTH is required")
        }
        let range: ContentRange
        do { range = try ContentRange.parse(rangeText) } catch {
            switch error {
            case .malformed: throw Problem.badHeader("Content-Range", error.description)
            case .unsatisfiable:
                // RFC 9110: a 416 names the resource's real length, not the client's.
                let length = try await store.layout(id).fileSize.bytes
                throw Problem.rangeNotAChunk(error.description, uploadLength: length)
            }
        }
        if let lengthText = request.headers[.contentLength] {
            guard let length = ASCIIDecimal.parse(lengthText), length == range.range.length else {
                throw Problem.badHeader(
                    "Content-Length", "Content-Length \(lengthText) disagrees with Content-Range '\(rangeText)' (\(range.range.length) bytes)")
            }
        }
        let layout = try await store.layout(id)
        guard range.completeLength == layout.fileSize.bytes else {
            throw Problem.rangeNotAChunk(
                "Content-Range '\(range.headerValue)' names a length of \(range.completeLength) bytes; this upload is \(layout.fileSize.bytes) bytes",
                uploadLength: layout.fileSize.bytes)
        }
        guard let index = layout.chunk(exactly: range.range) else {
            throw Problem.rangeNotAChunk(
                "Content-Range '\(range.headerValue)' is not one whole chunk: chunks start at multiples of \(layout.chunkSize.bytes) and span \(layout.chunkSize.bytes) bytes (the last may be shorter)",
                uploadLength: layout.fileSize.bytes)
        }
        let digests: DigestField
        do { digests = try request.headers[.contentDigest].map(DigestField.parse) ?? DigestField() } catch {
            throw Problem.badHeader("Content-Digest", error.description)
        }
        let receipt = try await withDeadline(for: range.range.length, context: context) {
            try await store.receiveChunk(id, index: index, expected: digests.expected, body: request.body)
        }
        try crashProbe.passing(.beforeResponse)
        if receipt.written {
            metrics.chunksVerified.increment()
            metrics.bytesReceived.increment(by: range.range.length)
        } else {
            metrics.chunksDuplicate.increment()
        }
        let document = ChunkReceiptDocument(
            index: receipt.index.value, xxh3: receipt.digest.description,
            receivedChunks: receipt.receivedChunks, chunkCount: receipt.chunkCount, written: receipt.written)
        var headers = HTTPFields()
        headers[.contentDigest] = DigestField(xxh3: receipt.digest).headerValue
        return try Self.json(document, headers: headers)
    }

    /// Idle timeouts do not see a body that drips in a byte at a time: each
    /// chunk gets a deadline from its length and a minimum rate, after which
    /// its connection is closed and the chunk stays unverified.
    /// (Block writes get the same deadline.)
    func withDeadline<Answer: Sendable>(
        for length: Int64, context: UploadRequestContext, _ body: @escaping @Sendable () async throws -> Answer
    ) async throws -> Answer {
        let limit = BodyDeadline(grace: chunkGrace, minimumRate: minimumRate).limit(forBytes: length)
        return try await withThrowingTaskGroup(of: Answer?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await Task.sleep(for: limit)
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let receipt = first else {
                context.channel?.close(promise: nil)
                throw UploadError.bodyTimedOut(expected: length, received: -1, seconds: Int(limit.components.seconds))
            }
            return receipt
        }
    }
}
