import CoreMetrics
import HTTPTypes
import Hummingbird

extension UploadRoutes {
    /// `POST /uploads/{id}/complete`: the SHA-256 is computed from the disk, never from the streamed bytes.
    @Sendable func complete(_ request: Request, context: UploadRequestContext) async throws -> Response {
        let id = try context.uploadID()
        let given: SHA256Digest?
        do { given = try request.headers[.reprDigest].map(DigestField.parse)?.sha256 } catch {
            throw Problem.badHeader("Repr-Digest", error.description)
        }
        do {
            let snapshot = try await store.complete(id, sha256: given)
            metrics.uploadsCompleted.increment()
            var headers = HTTPFields()
            if let sha256 = snapshot.map.status.sha256 { headers[.reprDigest] = DigestField(sha256: sha256).headerValue }
            return try statusResponse(snapshot, headers: headers)
        } catch let error as UploadError {
            switch error {
            case .corrupt, .sha256Mismatch, .dataSizeMismatch: metrics.uploadsFailed.increment()
            default: break
            }
            throw error
        }
    }

    /// `POST /uploads/{id}/audit`: re-hash what is on disk; mark what changed.
    /// `?sha256=skip` checks the chunks only (a repair completes right after).
    /// `?heal=parity` then heals from the upload's parity (the default with
    /// `serve --parity`; `?heal=no` does not).
    @Sendable func audit(_ request: Request, context: UploadRequestContext) async throws -> Response {
        let parameters = request.uri.queryParameters
        let checkSHA256 = parameters.get("sha256") != "skip"
        let heal: Bool
        switch parameters.get("heal") {
        case nil: heal = healsByDefault
        case "parity": heal = true
        case "no": heal = false
        case let other?: throw Problem.badQuery("heal", "'\(other)' is neither parity nor no")
        }
        let report = try await store.audit(try context.uploadID(), checkSHA256: checkSHA256, heal: heal)
        return try Self.json(AuditDocument(report))
    }

    /// `DELETE /uploads/{id}`: the data file and its chunk map are removed.
    @Sendable func delete(_ request: Request, context: UploadRequestContext) async throws -> Response {
        try await store.delete(try context.uploadID())
        return Response(status: .noContent)
    }
}
