import HTTPTypes
import NIOCore
import NIOHTTPTypes
import Synchronization

/// How many connections are open, shared by every connection's guard.
final class ConnectionCount: Sendable {
    let limit: Int
    private let openNow = Atomic<Int>(0)

    init(limit: Int) { self.limit = limit }

    /// Counts one more; false when that is over the limit.
    func admit() -> Bool { openNow.add(1, ordering: .relaxed).newValue <= limit }
    func leave() { openNow.subtract(1, ordering: .relaxed) }
    /// Connections open now (admitted or about to be closed).
    var open: Int { openNow.load(ordering: .relaxed) }
}

/// Two limits Hummingbird does not set: a connection over `--max-connections`
/// is closed at once, and a request head that has not fully arrived within
/// `--header-timeout` closes its connection. A client dripping header bytes
/// is never idle, so the idle timeout alone would let it hold a connection
/// (and a descriptor) forever.
final class ConnectionGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let count: ConnectionCount
    private let headerTimeout: TimeAmount
    private let keepAliveTimeout: TimeAmount
    private var admitted = false
    private var headDeadline: Scheduled<Void>?

    init(count: ConnectionCount, headerTimeout: TimeAmount, keepAliveTimeout: TimeAmount) {
        self.count = count
        self.headerTimeout = headerTimeout
        self.keepAliveTimeout = keepAliveTimeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        admitted = count.admit()
        guard admitted else {
            context.close(promise: nil)
            return
        }
        _ = context.channel.setOption(ChannelOptions.recvAllocator, value: ConnectionScaledRecvAllocator(connections: count))
        awaitHead(within: headerTimeout, context: context)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        headDeadline?.cancel()
        count.leave()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head = unwrapInboundIn(data) {
            headDeadline?.cancel()
            headDeadline = nil
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        // A kept-alive connection may wait for its next request as long as the
        // idle timeout allows, but that request's head must then be whole by
        // the same deadline (a client dripping it is never idle).
        if case .end = unwrapOutboundIn(data) { awaitHead(within: keepAliveTimeout, context: context) }
        context.write(data, promise: promise)
    }

    private func awaitHead(within timeout: TimeAmount, context: ChannelHandlerContext) {
        headDeadline?.cancel()
        headDeadline = context.eventLoop.scheduleTask(in: timeout) { [context] in context.close(promise: nil) }
    }
}
