import CoreMetrics
import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// Block-level repair (docs/PROTOCOL.md): the digests of a chunk's blocks,
/// and a ranged write inside one corrupt chunk. Headers and paths become
/// typed values here; the store does the rest.
extension UploadRoutes {
    /// `GET /uploads/{id}/chunks/{index}/blocks?size=B`.
    @Sendable func blockDigests(_ request: Request, context: UploadRequestContext) async throws -> Response {
        let id = try context.uploadID()
        let layout = try await store.layout(id)
        let index = try Self.chunkIndex(context, in: layout)
        let query: BlockQuery
        do throws(BlockQueryError) {
            query = try BlockQuery(
                parsing: request.uri.queryParameters.map { (key: String($0.key), value: String($0.value)) }, chunkSize: layout.chunkSize.bytes)
        } catch {
            throw Problem.invalidBlockQuery(error)
        }
        let digests = try await store.blockDigests(id, index: index, blockSize: query.blockSize)
        return try Self.json(BlockDigestsDocument(digests))
    }

    /// `PATCH /uploads/{id}/chunks/{index}`: bytes inside one corrupt chunk,
    /// then the chunk re-hashed whole.
    @Sendable func writeBlocks(_ request: Request, context: UploadRequestContext) async throws -> Response {
        do {
            return try await receiveBlocks(request, context: context)
        } catch let error as UploadError {
            if case .storage(let io) = error { context.logger.error("storage error: \(io)") }
            // As for `PUT`: an error before the whole body was read leaves
            // bytes on the wire; close rather than read them for nothing.
            throw Problem(error).closingConnection()
        } catch let problem as Problem {
            throw problem.closingConnection()
        }
    }

    private func receiveBlocks(_ request: Request, context: UploadRequestContext) async throws -> Response {
        let id = try context.uploadID()
        let layout = try await store.layout(id)
        let index = try Self.chunkIndex(context, in: layout)
        let uploadLength = layout.fileSize.bytes
        let chunk = layout.range(of: index)
        guard let rangeText = request.headers[.contentRange] else {
            throw Problem.badHeader("Content-Range", "Content-Range: bytes FIRST-LAST/LENGTH, bytes inside chunk \(index) (\(chunk)), is required")
        }
        let range: ContentRange
        do { range = try ContentRange.parse(rangeText) } catch {
            switch error {
            case .malformed: throw Problem.badHeader("Content-Range", error.description)
            case .unsatisfiable: throw Problem.rangeOutsideChunk(error.description, index: index, uploadLength: uploadLength)
            }
        }
        if let lengthText = request.headers[.contentLength] {
            guard let length = ASCIIDecimal.parse(lengthText), length == range.range.length else {
                throw Problem.badHeader(
                    "Content-Length", "Content-Length \(lengthText) disagrees with Content-Range '\(rangeText)' (\(range.range.length) bytes)")
            }
        }
        guard range.completeLength == uploadLength, range.range.offset >= chunk.offset, range.range.end <= chunk.end else {
            throw Problem.rangeOutsideChunk(
                "Content-Range '\(range.headerValue)' is not inside chunk \(index) of this \(uploadLength)-byte upload: its bytes are \(chunk.offset)-\(chunk.lastByte)",
                index: index, uploadLength: uploadLength)
        }
        let limit = ChunkBlocks.maximumWriteLength
        guard range.range.length <= limit else { throw UploadError.blockWriteTooLarge(length: range.range.length, limit: limit) }
        let digests: DigestField
        do { digests = try request.headers[.contentDigest].map(DigestField.parse) ?? DigestField() } catch {
            throw Problem.badHeader("Content-Digest", error.description)
        }
        guard !digests.isEmpty else {
            throw Problem.badHeader("Content-Digest", "a block write needs Content-Digest: xxh3=:BASE64: (or sha-256=:BASE64:) of its body")
        }
        let receipt = try await withDeadline(for: range.range.length, context: context) {
            try await store.writeBlocks(id, index: index, range: range.range, expected: digests.expected, body: request.body)
        }
        metrics.blockBytesWritten.increment(by: range.range.length)
        if receipt.state.isVerified { metrics.chunksVerified.increment() }
        return try Self.json(BlockWriteDocument(receipt))
    }

    /// The `{index}` of the path: decimal digits naming a chunk of the
    /// upload, else `404 chunk-not-found` (as an id of the wrong form is an
    /// unknown upload).
    private static func chunkIndex(_ context: UploadRequestContext, in layout: ChunkLayout) throws -> ChunkIndex {
        let text = context.parameters.get("index") ?? ""
        guard !text.isEmpty, text.utf8.allSatisfy({ (48...57).contains($0) }), let value = ASCIIDecimal.parse(text),
            value < Int64(layout.chunkCount)
        else { throw Problem.chunkNotFound(text, chunkCount: layout.chunkCount) }
        return ChunkIndex(Int(value))
    }
}
