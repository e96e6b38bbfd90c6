import NIOCore

/// The buffer each connection reads its socket into, sized by how many
/// connections are open. A request body is handed on as slices of these
/// buffers, and Hummingbird queues up to ten slices per connection before
/// it stops reading, so with NIO's 64 KiB reads a chunk PUT in flight held
/// about 400 KiB (417 KiB each with 500 at once, the bench's
/// mem-per-request row). So the connections share one budget: up to 64 of
/// them read in NIO's 64 KiB (a few large uploads receive as before), more
/// read in less, down to 8 KiB from 512 (nginx reads a body in 16 KiB, but
/// holds one buffer per request, not ten). With 500 PUTs in flight that
/// brought the row to 171-253 KiB per request (with write batches down to
/// 16 KiB). A connection's reads follow the count as it changes.
struct ConnectionScaledRecvAllocator: RecvByteBufferAllocator {
    static let budget = 4 << 20
    static let floor = 8 << 10
    static let ceiling = 64 << 10

    private var adaptive = AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 2048, maximum: ceiling)
    private let connections: ConnectionCount

    init(connections: ConnectionCount) { self.connections = connections }

    /// The largest read for each of `open` connections.
    static func cap(open: Int) -> Int {
        min(ceiling, max(floor, budget / max(1, open)))
    }

    func nextBufferSize() -> Int? {
        min(adaptive.nextBufferSize() ?? Self.ceiling, Self.cap(open: connections.open))
    }

    func buffer(allocator: ByteBufferAllocator) -> ByteBuffer {
        allocator.buffer(capacity: nextBufferSize()!)
    }

    mutating func record(actualReadBytes: Int) -> Bool {
        adaptive.record(actualReadBytes: actualReadBytes)
    }
}
