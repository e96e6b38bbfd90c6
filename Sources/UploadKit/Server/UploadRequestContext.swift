import Hummingbird
import NIOCore

/// The request context: Hummingbird's core storage, plus the connection, so
/// a handler can cut off a client whose chunk body is too slow.
public struct UploadRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public let channel: (any Channel)?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}
