import HTTPTypes
import Hummingbird

/// `X-HTTP-Method-Override`, which tus asks a server to honour for clients
/// behind proxies that pass only `GET` and `POST`: a `POST` naming `PATCH`,
/// `DELETE` or `HEAD` is routed as that method. Done before routing, which
/// picks the endpoint by method.
struct MethodOverrideResponder<Base: HTTPResponder>: HTTPResponder where Base.Context == UploadRequestContext {
    typealias Context = UploadRequestContext
    let base: Base

    static var overridable: [HTTPRequest.Method] { [.patch, .delete, .head] }

    func respond(to request: Request, context: Context) async throws -> Response {
        guard request.method == .post, let name = request.headers[.httpMethodOverride],
            let method = HTTPRequest.Method(name.uppercased()), Self.overridable.contains(method)
        else { return try await base.respond(to: request, context: context) }
        var head = request.head
        head.method = method
        return try await base.respond(to: Request(head: head, body: request.body), context: context)
    }
}
