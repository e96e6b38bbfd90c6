import CoreMetrics
import HTTPTypes
import Hummingbird

/// tus's concatenation extension: partial uploads, created with
/// `Upload-Concat: partial` and sent as any upload is, then concatenated by
/// a creation with `Upload-Concat: final;URL URL …` into a final upload,
/// which the store makes complete before the answer (its bytes the parts'
/// in order, every chunk verified, the SHA-256 confirmed from disk).
/// Not concatenation-unfinished: every part must be complete first.
extension TusRoutes {
    /// `POST /files/` with `Upload-Concat: final;…`: the final upload, whole.
    func createFinal(_ request: Request, parts names: [String]) async throws -> Response {
        guard request.headers[.uploadLength] == nil else {
            throw Problem.badHeader(
                "Upload-Length", "a final upload is as long as its partial uploads together: send no Upload-Length with Upload-Concat: final"
            ).closingConnection()
        }
        if let contentType = request.headers[.contentType], Self.mediaType(contentType) == TusFields.offsetMediaType {
            throw Problem.badHeader(
                "Content-Type", "a final upload is made of its partial uploads' bytes and takes none of its own: send no body with Upload-Concat: final"
            ).closingConnection()
        }
        let (metadata, expected) = try announced(request)
        var parts = [UploadID]()
        for name in names {
            // The id rule of every route: anything but 32 lowercase hex digits is no upload.
            guard let id = UploadID(name) else {
                throw Problem(
                    .notFound, "upload-not-found", title: "No such partial upload",
                    detail: "Upload-Concat names '\(name)', which is no upload here: a partial upload's URL ends in /files/ and its 32-digit id")
            }
            parts.append(id)
        }
        let snapshot: UploadSnapshot
        do {
            snapshot = try await store.concatenate(parts, chunkSize: nil, expectedSHA256: expected, metadata: metadata)
        } catch UploadError.tooLarge(let size, let limit) {
            throw tooLarge(UploadError.tooLarge(size: size, limit: limit))
        } catch UploadError.sha256Mismatch(let wanted, let actual) {
            // Counted as a completion that failed; the final is gone.
            metrics.uploadsFailed.increment()
            throw Problem(UploadError.sha256Mismatch(expected: wanted, actual: actual))
        }
        metrics.uploadsCreated.increment()
        metrics.uploadsCompleted.increment()
        var headers: HTTPFields = [.location: "/files/\(snapshot.id)"]
        for field in uploadHeaders(snapshot) where headers[field.name] == nil { headers.append(field) }
        return Response(status: .created, headers: headers)
    }
}
