import NIOCore
import NIOPosix
import SystemPackage

/// A chunk's bytes as the request body: positioned reads of at most 1 MiB
/// from the file, on NIO's thread pool, one block in memory at a time.
struct FileChunkBody: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    static let blockSize = 1 << 20

    let file: OwnedDescriptor
    let range: ByteRange

    struct AsyncIterator: AsyncIteratorProtocol {
        let file: OwnedDescriptor
        let end: Int64
        var offset: Int64

        mutating func next() async throws -> ByteBuffer? {
            guard offset < end else { return nil }
            let count = Int(Swift.min(Int64(FileChunkBody.blockSize), end - offset))
            let (file, at) = (self.file, offset)
            let buffer = try await NIOThreadPool.singleton.runIfActive {
                var buffer = ByteBufferAllocator().buffer(capacity: count)
                let read = try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { bytes in
                    try file.read(fromAbsoluteOffset: at, into: UnsafeMutableRawBufferPointer(rebasing: bytes[0..<count]))
                }
                guard read == count else { throw ClientError.fileChanged(file.path.string) }
                return buffer
            }
            offset += Int64(count)
            return buffer
        }
    }

    func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(file: file, end: range.end, offset: range.offset)
    }
}
