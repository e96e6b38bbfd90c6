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

    /// The upload id from the path, checked against its strict pattern
    /// before anything else: an invalid id is as unknown as a missing one.
    func uploadID() throws -> UploadID {
        guard let text = parameters.get("id"), let id = UploadID(text) else { throw Problem.invalidUploadID }
        return id
    }
}
