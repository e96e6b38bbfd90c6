import HTTPTypes
import Hummingbird
import Logging

/// Turns every error into an RFC 9457 problem, so no client ever sees
/// another error format: the store's errors by the catalog, Hummingbird's
/// own (unknown route, wrong method) by their status.
struct ProblemMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let problem as Problem {
            throw problem
        } catch let error as UploadError {
            if case .storage(let io) = error { context.logger.error("storage error: \(io)") }
            throw Problem(error)
        } catch let error as HTTPError {
            throw Problem(error.status, "http-\(error.status.code)", title: error.status.reasonPhrase, detail: error.body ?? error.status.reasonPhrase)
        } catch {
            context.logger.error("unexpected error: \(error)")
            throw Problem(.internalServerError, "internal-error", title: "Internal error", detail: "\(error)")
        }
    }
}
