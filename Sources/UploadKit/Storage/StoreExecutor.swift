import NIOPosix

/// Where the store's blocking work runs: one executor, injected, with two
/// lanes. Requests run on `requests`, threads that wait on the disk (16, so
/// that two slow fsyncs never hold every other upload's writes; NIO's shared
/// pool has one thread per core). Background hashing of verified prefixes
/// runs on `background`, one thread at a lower priority, so that it takes
/// only the CPU the requests leave over and never more than one core.
public struct StoreExecutor: Sendable {
    public let requests: NIOThreadPool
    public let background: NIOThreadPool

    public init(requests: NIOThreadPool, background: NIOThreadPool) {
        self.requests = requests
        self.background = background
    }

    /// Shared by every store in the process.
    public static let shared: StoreExecutor = {
        let requests = NIOThreadPool(numberOfThreads: 16)
        requests.start()
        let background = NIOThreadPool(numberOfThreads: 1)
        background.start()
        background.submit { _ in BackgroundPriority.lowerCurrentThread() }
        return StoreExecutor(requests: requests, background: background)
    }()
}
