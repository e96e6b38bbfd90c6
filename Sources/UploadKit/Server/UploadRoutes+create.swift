import CoreMetrics
import HTTPTypes
import Hummingbird

extension UploadRoutes {
    /// `POST /uploads`: the data file is created sparse at full length, and its chunk map beside it.
    @Sendable func create(_ request: Request, context: UploadRequestContext) async throws -> Response {
        guard let lengthText = request.headers[.uploadLength] else {
            throw Problem.badHeader("Upload-Length", "Upload-Length is required: the file's size in bytes").closingConnection()
        }
        guard let length = ASCIIDecimal.parse(lengthText) else {
            throw Problem(
                .badRequest, "invalid-upload-length", title: "Invalid Upload-Length", detail: "Upload-Length '\(lengthText)' is not a decimal byte count"
            ).closingConnection()
        }
        var chunkSize: ByteCount?
        if let text = request.headers[.uploadChunkSize] {
            guard let value = ASCIIDecimal.parse(text) else {
                throw Problem.badHeader("Upload-Chunk-Size", "Upload-Chunk-Size '\(text)' is not a decimal byte count").closingConnection()
            }
            chunkSize = ByteCount(value)
        }
        var expected: SHA256Digest?
        if let text = request.headers[.reprDigest] {
            do { expected = try DigestField.parse(text).sha256 } catch {
                throw Problem.badHeader("Repr-Digest", error.description).closingConnection()
            }
        }
        let metadata = request.headers[.uploadMetadata] ?? ""
        do { _ = try UploadMetadata.validate(metadata) } catch {
            throw Problem.badHeader("Upload-Metadata", error.description).closingConnection()
        }
        let snapshot = try await store.create(length: ByteCount(length), chunkSize: chunkSize, expectedSHA256: expected, metadata: metadata)
        metrics.uploadsCreated.increment()
        var headers: HTTPFields = [.location: "/uploads/\(snapshot.id)"]
        headers[.uploadChunkSize] = String(snapshot.layout.chunkSize.bytes)
        return try statusResponse(snapshot, status: .created, headers: headers)
    }
}
