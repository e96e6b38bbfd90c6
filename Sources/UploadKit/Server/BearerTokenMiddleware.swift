import HTTPTypes
import Hummingbird

/// With `--token`, every request but `/healthz` and the browser page must carry
/// `Authorization: Bearer TOKEN`. The comparison takes the same time
/// wherever the first difference is.
struct BearerTokenMiddleware<Context: RequestContext>: RouterMiddleware {
    let token: [UInt8]

    init(token: String) { self.token = Array(token.utf8) }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if request.uri.path == "/healthz" || WebRoutes.isPublic(request.uri.path) { return try await next(request, context) }
        // RFC 9110: the scheme is case-insensitive.
        guard let header = request.headers[.authorization], header.prefix(7).lowercased() == "bearer ",
            Self.constantTimeEqual(Array(header.utf8.dropFirst(7)), token)
        else { throw Problem.unauthorized }
        return try await next(request, context)
    }

    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var difference = UInt8(truncatingIfNeeded: a.count ^ b.count)
        for index in 0..<max(a.count, b.count) {
            let x = index < a.count ? a[index] : 0
            let y = index < b.count ? b[index] : 0
            difference |= x ^ y
        }
        return difference == 0 && a.count == b.count
    }
}
