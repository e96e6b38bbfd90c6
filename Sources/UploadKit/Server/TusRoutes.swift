import HTTPTypes
import Hummingbird
import NIOCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// tus 1.0.0 at `/files/` (tusd's default path), with the extensions
/// creation, creation-with-upload, termination, expiration, checksum and
/// concatenation (`TusRoutes+concatenate.swift`),
/// and the IETF resumable-upload draft on the same resources
/// (`TusRoutes+resumable.swift`), on the same store as the native API: an upload a tus client sends is
/// the native upload of the same id, its chunks verified as the appends
/// fill them and its SHA-256 confirmed from disk at its last byte.
struct TusRoutes: Sendable {
    let store: any UploadStore
    let metrics: ServerMetrics
    let maxUploadSize: ByteCount
    let expireAfter: Duration?
    /// Each append's body, as each chunk's: see `BodyDeadline`.
    var bodyDeadline = BodyDeadline(grace: .seconds(30), minimumRate: 64 * 1024)
    let appends = InFlightAppends()
    let failedCompletions = Locked<Set<UploadID>>([])

    func register(on router: Router<UploadRequestContext>) {
        let files = router.group("files")
        files.on("", method: .options, use: options)
        files.on(":id", method: .options, use: options)
        files.post(use: create)
        files.head(":id", use: head)
        files.patch(":id", use: patch)
        files.delete(":id", use: terminate)
    }

    /// `OPTIONS`: what this server speaks.
    @Sendable func options(_ request: Request, context: UploadRequestContext) async throws -> Response {
        Response(
            status: .noContent,
            headers: [
                .tusVersion: TusFields.version,
                .tusExtension: TusFields.extensions.joined(separator: ","),
                .tusMaxSize: String(maxUploadSize.bytes),
                .tusChecksumAlgorithm: ChecksumAlgorithm.allCases.map(\.rawValue).joined(separator: ","),
                .uploadLimit: ResumableUploadFields.limit(maxSize: maxUploadSize.bytes, lifetime: expireAfter.map { $0.components.seconds }),
                .acceptPatch: ResumableUploadFields.partialUploadMediaType,
            ])
    }

    /// `HEAD /files/{id}`: where to resume. The offset is what is stored durably.
    @Sendable func head(_ request: Request, context: UploadRequestContext) async throws -> Response {
        if Self.isResumableUploadRequest(request) { return try await headResumable(request, context: context) }
        let id = try context.uploadID()
        var snapshot = try await store.snapshot(id)
        if needsFinishing(id, snapshot.map) {
            // A failed completion is reported by the PATCH that failed; HEAD answers what is stored.
            try? await finish(id)
            snapshot = try await store.snapshot(id)
        }
        var headers = uploadHeaders(snapshot)
        headers[.uploadLength] = String(snapshot.layout.fileSize.bytes)
        let metadata = snapshot.clientMetadata
        if !metadata.isEmpty { headers[.uploadMetadata] = metadata }
        if snapshot.state == .complete, let sha256 = snapshot.map.status.sha256 {
            headers[.reprDigest] = DigestField(sha256: sha256).headerValue
        }
        if let role = snapshot.concatenation {
            headers[.uploadConcat] = TusFields.concatenationValue(role)
            // tus: no Upload-Offset for a final upload until its concatenation
            // is done. One that is not complete failed (a crash mid-way, or an
            // audit since): it never resumes, and a client makes a new one.
            if case .final = role, snapshot.state != .complete { headers[.uploadOffset] = nil }
        }
        return Response(status: .ok, headers: headers)
    }

    /// `DELETE /files/{id}`: termination.
    @Sendable func terminate(_ request: Request, context: UploadRequestContext) async throws -> Response {
        if Self.isResumableUploadRequest(request) { return try await deleteResumable(request, context: context) }
        try await store.delete(try context.uploadID())
        return Response(status: .noContent)
    }

    /// `Upload-Offset`, `Upload-Expires` and `Cache-Control`, for any answer about an upload.
    func uploadHeaders(_ snapshot: UploadSnapshot) -> HTTPFields {
        var headers: HTTPFields = [.uploadOffset: String(snapshot.map.appendOffset), .cacheControl: "no-store"]
        if let expireAfter, snapshot.state != .complete {
            let expires = Double(snapshot.updatedAt.millisecondsSinceEpoch) / 1000 + Double(expireAfter.components.seconds)
            headers[.uploadExpires] = HTTPDate.format(secondsSinceEpoch: expires)
        }
        return headers
    }
}

/// Every tus request but `OPTIONS` names the version it speaks; every
/// answer, errors included, names the server's. Requests of the IETF draft
/// pass untouched.
struct TusResumableMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let path = request.uri.path
        guard path == "/files" || path.hasPrefix("/files/") else { return try await next(request, context) }
        if request.headers[.tusResumable] == nil, TusRoutes.isResumableUploadRequest(request) { return try await next(request, context) }
        do {
            if request.method != .options {
                guard let version = request.headers[.tusResumable], version == TusFields.version else {
                    throw Problem(
                        .preconditionFailed, "tus-version-unsupported", title: "Unsupported tus version",
                        detail: "this server speaks tus \(TusFields.version); send 'Tus-Resumable: \(TusFields.version)'",
                        headers: [.tusVersion: TusFields.version])
                }
            }
            var response = try await next(request, context)
            response.headers[.tusResumable] = TusFields.version
            return response
        } catch let problem as Problem {
            var problem = problem
            problem.headers[.tusResumable] = TusFields.version
            throw problem
        }
    }
}

/// RFC 9110 §5.6.7 dates, `Sun, 06 Nov 1994 08:49:37 GMT`.
enum HTTPDate {
    static func format(secondsSinceEpoch: Double) -> String {
        let days = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        let seconds = Int64(secondsSinceEpoch)
        let dayNumber = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = seconds - dayNumber * 86_400
        // Civil from days (Howard Hinnant's algorithm).
        let z = dayNumber + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthPrime = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthPrime + 2) / 5 + 1
        let month = monthPrime < 10 ? monthPrime + 3 : monthPrime - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        func two(_ value: Int64) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let weekday = days[Int(((dayNumber % 7) + 7) % 7)]
        return "\(weekday), \(two(day)) \(months[Int(month - 1)]) \(year) \(two(secondOfDay / 3600)):\(two(secondOfDay / 60 % 60)):\(two(secondOfDay % 60)) GMT"
    }
}
