import Foundation
import SystemPackage
import Testing

@testable import UploadKit

@Suite struct ChunkOutputTests {
    /// Writes `pieces` (offset, length) of `bytes` through a `ChunkOutput`
    /// into a sparse file of their size, and answers the file's contents.
    func written(_ bytes: [UInt8], pieces: [(offset: Int, length: Int)], directly: Bool) throws -> [UInt8] {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path("out.bin")
        let file = try OwnedDescriptor.open(FilePath(path), .readWrite, options: [.create], permissions: [.ownerReadWrite])
        try file.resize(to: Int64(bytes.count))
        let output = ChunkOutput(file, directly: directly)
        let buffers = ChunkBuffers(chunkSize: pieces.map(\.length).max() ?? 1)
        for piece in pieces {
            let buffer = buffers.take()
            bytes[piece.offset..<piece.offset + piece.length].withUnsafeBytes { buffer.memory.copyMemory(from: $0) }
            buffer.count = piece.length
            try output.write(buffer, at: Int64(piece.offset))
            buffers.give(buffer)
        }
        output.close()
        try file.close()
        return [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    }

    @Test(arguments: [true, false])
    func chunksOfAlignedLengthLandAtTheirOffsets(directly: Bool) throws {
        let bytes = pseudoRandomBytes(4 * 65536)
        let pieces = [(2 * 65536, 65536), (0, 65536), (3 * 65536, 65536), (65536, 65536)]
        #expect(try written(bytes, pieces: pieces, directly: directly) == bytes)
    }

    /// The last chunk of a file whose size is not a multiple of the page:
    /// its aligned part goes directly, its end through the page cache.
    @Test(arguments: [true, false])
    func aLastChunkOfUnalignedLengthLandsWhole(directly: Bool) throws {
        let bytes = pseudoRandomBytes(2 * 65536 + 4096 + 100)
        let pieces = [(65536 * 2, 4096 + 100), (0, 65536), (65536, 65536)]
        #expect(try written(bytes, pieces: pieces, directly: directly) == bytes)
    }

    @Test func aChunkShorterThanAPageLandsWhole() throws {
        let bytes = pseudoRandomBytes(100)
        #expect(try written(bytes, pieces: [(0, 100)], directly: true) == bytes)
    }

    @Test func buffersArePageAlignedAndReused() {
        let buffers = ChunkBuffers(chunkSize: 65536 + 1)
        #expect(buffers.capacity == 65536 + 4096)
        let first = buffers.take()
        #expect(Int(bitPattern: first.memory.baseAddress!) % ChunkBuffer.alignment == 0)
        buffers.give(first)
        let second = buffers.take()
        #expect(second === first)
        #expect(second.count == 0)
    }
}
