import HTTPTypes
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1

/// Three things Hummingbird 2.28 does not do on its own:
///
/// - It never answers `Expect: 100-continue`, so curl waits a second before
///   every large body. This handler answers `100 Continue` as the head arrives.
/// - After a handler answers without reading the body, Hummingbird reads (and
///   drops) the rest of it to keep the connection. A response that carries
///   `Connection: close` instead closes the connection once it is sent, so a
///   rejected 256 MiB chunk is not received for nothing.
/// - Its router cannot send an interim (1xx) response before the final one,
///   which the IETF resumable-upload draft's `104` is. A handler asks for
///   one with an `InterimResponse` outbound event on its channel; this
///   handler writes it ahead of the final response.
///
/// Neither interim answer goes to an HTTP/1.0 request: a server must not
/// send a 1xx to an HTTP/1.0 client (RFC 9110, 15.2), which would read it
/// as the final answer. HTTP types carry no version, so an observer placed
/// before the conversion from HTTP/1 notes each request's.
final class ConnectionPolicyHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private var closeAfterResponse = false
    private let version = RequestVersion()

    func handlerAdded(context: ChannelHandlerContext) {
        let pipeline = context.pipeline.syncOperations
        guard let codec = try? pipeline.handler(type: HTTP1ToHTTPServerCodec.self) else { return }
        try? pipeline.addHandler(HTTPVersionObserver(version), position: .before(codec))
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head(let head) = unwrapInboundIn(data), !version.isHTTP10,
            head.headerFields[.expect]?.lowercased() == "100-continue"
        {
            context.writeAndFlush(wrapOutboundOut(.head(HTTPResponse(status: .continue))), promise: nil)
        }
        context.fireChannelRead(data)
    }

    func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
        guard let interim = event as? InterimResponse else {
            context.triggerUserOutboundEvent(event, promise: promise)
            return
        }
        guard !version.isHTTP10 else {
            promise?.succeed(())
            return
        }
        context.writeAndFlush(wrapOutboundOut(.head(interim.head)), promise: promise)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(let head) where head.status.kind != .informational:
            closeAfterResponse = head.headerFields[.connection]?.lowercased() == "close"
            context.write(data, promise: promise)
        case .end where closeAfterResponse:
            closeAfterResponse = false
            let written = context.eventLoop.makePromise(of: Void.self)
            written.futureResult.whenComplete { [context] _ in context.close(promise: nil) }
            written.futureResult.cascade(to: promise)
            context.write(data, promise: written)
        default:
            context.write(data, promise: promise)
        }
    }
}

/// An interim (1xx) response head for `ConnectionPolicyHandler` to send
/// before the request's final response.
struct InterimResponse: Sendable {
    let head: HTTPResponse
}

/// The HTTP version of the request being served on a connection (HTTP/1
/// serves one at a time: the pipelining handler holds the next one back).
final class RequestVersion {
    var isHTTP10 = false
}

/// Notes each request head's version, before it is turned into HTTP types.
final class HTTPVersionObserver: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart

    private let version: RequestVersion

    init(_ version: RequestVersion) { self.version = version }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head(let head) = unwrapInboundIn(data) {
            version.isHTTP10 = head.version.major == 1 && head.version.minor == 0
        }
        context.fireChannelRead(data)
    }
}
