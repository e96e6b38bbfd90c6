import NIOCore
import NIOPosix
import SystemPackage

/// A byte range of a file as a stream of buffers: positioned reads of at
/// most 1 MiB on a thread pool (the store's, or NIO's shared one for the
/// client), one block in memory at a time. The
/// server streams downloads with it, the client streams chunk bodies.
public struct FileRangeReader: AsyncSequence, Sendable {
    public typealias Element = ByteBuffer
    public static let blockSize = 1 << 20

    let file: OwnedDescriptor
    let range: ByteRange
    let pool: NIOThreadPool
    /// The error for a file that ends inside the range (it was changed).
    let endedEarly: @Sendable (_ at: Int64) -> any Error

    public init(
        file: OwnedDescriptor, range: ByteRange, on pool: NIOThreadPool = .singleton, endedEarly: @escaping @Sendable (_ at: Int64) -> any Error
    ) {
        self.file = file
        self.range = range
        self.pool = pool
        self.endedEarly = endedEarly
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        let reader: FileRangeReader
        var offset: Int64

        public mutating func next() async throws -> ByteBuffer? {
            guard offset < reader.range.end else { return nil }
            let count = Int(Swift.min(Int64(FileRangeReader.blockSize), reader.range.end - offset))
            let (file, at, endedEarly) = (reader.file, offset, reader.endedEarly)
            let buffer = try await reader.pool.runIfActive {
                var buffer = ByteBufferAllocator().buffer(capacity: count)
                let read = try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { bytes in
                    try file.readAll(fromAbsoluteOffset: at, into: UnsafeMutableRawBufferPointer(rebasing: bytes[0..<count]))
                }
                guard read == count else { throw endedEarly(at + Int64(read)) }
                return buffer
            }
            offset += Int64(count)
            return buffer
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(reader: self, offset: range.offset)
    }
}
