import HTTPTypes
import Hummingbird

/// `serve --cors-origin ORIGIN` (repeatable, or `*`): a page on another
/// origin may call the server, as tusd's default CORS configuration allows.
/// Preflights (`OPTIONS` with `Access-Control-Request-Method`) are answered
/// here; every other answer, errors included, names the allowed origin and
/// exposes the protocol's headers, so that tus-js-client and Uppy can read
/// `Location`, `Upload-Offset` and the rest.
struct CORSPolicyMiddleware<Context: RequestContext>: RouterMiddleware {
    let origins: [String]

    static var allowedMethods: String { "POST, GET, HEAD, PATCH, PUT, DELETE, OPTIONS" }
    static var allowedHeaders: String {
        [
            "Authorization", "Origin", "X-Requested-With", "X-Request-ID", "X-HTTP-Method-Override", "Content-Type", "Content-Range",
            "Content-Digest", "Repr-Digest", "Upload-Length", "Upload-Offset", "Tus-Resumable", "Upload-Metadata", "Upload-Defer-Length",
            "Upload-Concat", "Upload-Checksum", "Upload-Complete", "Upload-Draft-Interop-Version", "Upload-Chunk-Size",
        ].joined(separator: ", ")
    }
    static var exposedHeaders: String {
        [
            "Location", "Content-Range", "Upload-Offset", "Upload-Length", "Upload-Metadata", "Upload-Expires", "Upload-Concat", "Upload-Complete",
            "Upload-Limit", "Upload-Draft-Interop-Version", "Upload-Chunk-Size", "Upload-Received", "Upload-Chunks", "Tus-Version",
            "Tus-Resumable", "Tus-Extension", "Tus-Max-Size", "Tus-Checksum-Algorithm", "Repr-Digest", "Content-Digest",
        ].joined(separator: ", ")
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let origin = request.headers[.origin], let allowed = allowedOrigin(origin) else {
            // Answers differ by origin: caches must keep them apart.
            var response = try await next(request, context)
            if !origins.contains("*") { response.headers[.vary] = "Origin" }
            return response
        }
        if request.method == .options, request.headers[.accessControlRequestMethod] != nil {
            return Response(
                status: .noContent,
                headers: headers(
                    allowed,
                    [
                        .accessControlAllowMethods: Self.allowedMethods,
                        .accessControlAllowHeaders: Self.allowedHeaders,
                        .accessControlMaxAge: "86400",
                    ]))
        }
        do {
            var response = try await next(request, context)
            for field in headers(allowed, [:]) { response.headers[field.name] = field.value }
            return response
        } catch var problem as Problem {
            for field in headers(allowed, [:]) { problem.headers[field.name] = field.value }
            throw problem
        }
    }

    /// The value of `Access-Control-Allow-Origin` for this origin, if it is allowed.
    func allowedOrigin(_ origin: String) -> String? {
        if origins.contains("*") { return "*" }
        return origins.contains(origin) ? origin : nil
    }

    private func headers(_ allowed: String, _ extra: HTTPFields) -> HTTPFields {
        var fields = extra
        fields[.accessControlAllowOrigin] = allowed
        fields[.accessControlExposeHeaders] = Self.exposedHeaders
        if allowed != "*" { fields[.vary] = "Origin" }
        return fields
    }
}
