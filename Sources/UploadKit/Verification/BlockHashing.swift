import SystemPackage

/// XXH3-64 of a chunk's blocks, or of one byte range, read from a file with
/// positioned reads through one bounded buffer (at most 1 MiB, whatever the
/// block or chunk size: a block of 256 MiB is hashed a piece at a time, never
/// held whole). Blocking work: callers run it on an I/O thread. The server
/// (block digests, the re-hash after a block write) and the client (its
/// local blocks) hash the same way, so their digests compare.
public enum BlockHashing {
    static let bufferSize: Int64 = 1 << 20

    /// One digest per block of `blocks`, in order.
    public static func digests(of file: OwnedDescriptor, _ blocks: ChunkBlocks) throws(FileScanError) -> [XXH3Digest] {
        let buffer = allocateBuffer(for: blocks.blockSize)
        defer { buffer.deallocate() }
        let hasher = XXH3Hasher()
        var digests = [XXH3Digest]()
        digests.reserveCapacity(blocks.count)
        for block in 0..<blocks.count {
            digests.append(try digest(of: file, blocks.range(of: block), hasher: hasher, buffer: buffer))
        }
        return digests
    }

    /// The digest of `range` as one piece (a whole chunk, say).
    public static func digest(of file: OwnedDescriptor, _ range: ByteRange) throws(FileScanError) -> XXH3Digest {
        let buffer = allocateBuffer(for: range.length)
        defer { buffer.deallocate() }
        return try digest(of: file, range, hasher: XXH3Hasher(), buffer: buffer)
    }

    private static func allocateBuffer(for length: Int64) -> UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer.allocate(byteCount: Int(max(1, min(bufferSize, length))), alignment: 4096)
    }

    /// Streams `range` through `hasher` (reset first). A file that ends
    /// inside the range is `.endedEarly`: it is shorter than it should be.
    private static func digest(
        of file: OwnedDescriptor, _ range: ByteRange, hasher: borrowing XXH3Hasher, buffer: UnsafeMutableRawBufferPointer
    ) throws(FileScanError) -> XXH3Digest {
        hasher.reset()
        var offset = range.offset
        while offset < range.end {
            let piece = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<Int(min(Int64(buffer.count), range.end - offset))])
            let read: Int
            do throws(IOError) {
                read = try file.readAll(fromAbsoluteOffset: offset, into: piece)
            } catch {
                throw .io(error)
            }
            guard read == piece.count else {
                throw .endedEarly(path: file.path.string, expectedBytes: range.end, actualBytes: offset + Int64(read))
            }
            hasher.update(UnsafeRawBufferPointer(piece))
            offset += Int64(read)
        }
        return hasher.digest()
    }
}
