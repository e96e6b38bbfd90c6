import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A `.parity` file on disk, checked, open for reading its shards and, when
/// healing, for rewriting a damaged one in place.
///
/// Contract: the header and the table are written once, when the file is
/// made (whole, to a temporary name, synced, renamed over). Afterwards a
/// shard is only ever rewritten whole, in place, with bytes that hash to
/// its XXH3 in the table, so the table never changes.
public final class ParityFile: Sendable {
    public let path: FilePath
    public let header: ParityHeader
    /// Each parity shard's XXH3-64, as the table records it.
    public let shardDigests: [XXH3Digest]
    let descriptor: OwnedDescriptor

    private init(path: FilePath, descriptor: OwnedDescriptor, header: ParityHeader, shardDigests: [XXH3Digest]) {
        self.path = path
        self.descriptor = descriptor
        self.header = header
        self.shardDigests = shardDigests
    }

    public var layout: ParityLayout { header.layout }

    /// Opens and checks a parity file: refuses a foreign file, a damaged
    /// header or table, and a file shorter or longer than its header says.
    public static func open(_ path: FilePath, writable: Bool = false) throws(ParityFileError) -> ParityFile {
        let descriptor: OwnedDescriptor
        do {
            descriptor = try OwnedDescriptor.open(path, writable ? .readWrite : .readOnly)
        } catch { throw .io(error) }
        do {
            let fileSize = try descriptor.size()
            let prefix = try descriptor.readBytes(at: 0, count: ParityFormat.headerSize)
            let decoded = try ParityCodec.decodeHeader(prefix)
            let expected = decoded.value.fileLength
            if fileSize < expected { throw ParityError.truncated(expectedBytes: expected, actualBytes: fileSize) }
            if fileSize > expected { throw ParityError.trailingBytes(expectedBytes: expected, actualBytes: fileSize) }
            let count = decoded.value.layout.shardCount
            let table = try descriptor.readBytes(at: Int64(ParityFormat.headerSize), count: ParityFormat.tableEntrySize * count)
            let digests = try ParityCodec.decodeTable(table, count: count, check: decoded.tableCheck)
            return ParityFile(path: path, descriptor: descriptor, header: decoded.value, shardDigests: digests)
        } catch let error as ParityError {
            throw .invalid(path: path.string, error)
        } catch let error as IOError {
            throw .io(error)
        } catch {
            throw .io(IOError("read", path: path, error: error))
        }
    }

    public func close() throws(IOError) { try descriptor.close() }

    /// Why this is not the parity of the file `map` describes, or nil when it
    /// is: the same size and chunk size, the same chunk list (its identity),
    /// and the same SHA-256 when the map records one.
    public func mismatch(with map: ChunkMap) -> ParityMismatch? {
        let ours = layout.chunks
        guard ours.fileSize == map.layout.fileSize, ours.chunkSize == map.layout.chunkSize else {
            return .otherFile(parity: ours, map: map.layout)
        }
        guard let identity = ParityHeader.mapIdentity(of: map) else {
            return .incompleteMap(chunksWithoutDigest: map.chunks.filter { $0.digest == nil }.count)
        }
        guard identity == header.mapIdentity else { return .otherContents }
        if let recorded = map.status.sha256, recorded != header.sha256 {
            return .otherSHA256(parity: header.sha256, map: recorded)
        }
        return nil
    }

    public func check(against map: ChunkMap) throws(ParityFileError) {
        if let mismatch = mismatch(with: map) { throw .mismatch(path: path.string, mismatch) }
    }

    func shardOffset(_ shard: Int) -> Int64 {
        header.shardsOffset + Int64(shard) * layout.chunks.chunkSize.bytes
    }

    /// Fills `buffer` with shard `shard`'s bytes from `offset` (within the shard).
    public func readShard(_ shard: Int, at offset: Int, into buffer: UnsafeMutableRawBufferPointer) throws(ParityFileError) {
        precondition(shard < layout.shardCount && offset + buffer.count <= layout.shardSize, "a read inside one shard")
        let start = shardOffset(shard) + Int64(offset)
        let got: Int
        do {
            got = try descriptor.readAll(fromAbsoluteOffset: start, into: buffer)
        } catch { throw .io(error) }
        guard got == buffer.count else {
            throw .invalid(path: path.string, .truncated(expectedBytes: header.fileLength, actualBytes: start + Int64(got)))
        }
    }

    /// Rewrites shard `shard` whole, in place (one positioned write).
    func writeShard(_ shard: Int, _ bytes: UnsafeRawBufferPointer) throws(IOError) {
        precondition(shard < layout.shardCount && bytes.count == layout.shardSize, "a whole shard")
        try descriptor.writeAll(toAbsoluteOffset: shardOffset(shard), bytes)
    }

    public func sync() throws(IOError) { try descriptor.dataSync() }

    /// The parity shards whose bytes do not hash to their recorded XXH3:
    /// one sequential read of every shard.
    public func damagedShards(progress: ((Int64) -> Void)? = nil) throws(ParityFileError) -> [Int] {
        let size = layout.shardSize
        let block = min(size, 2 << 20)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: block, alignment: 4096)
        defer { buffer.deallocate() }
        descriptor.adviseSequential()
        let hasher = XXH3Hasher()
        var damaged = [Int]()
        var done: Int64 = 0
        for shard in 0..<layout.shardCount {
            hasher.reset()
            var offset = 0
            while offset < size {
                let piece = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<min(block, size - offset)])
                try readShard(shard, at: offset, into: piece)
                hasher.update(UnsafeRawBufferPointer(piece))
                offset += piece.count
                done += Int64(piece.count)
                progress?(done)
            }
            if hasher.digest() != shardDigests[shard] { damaged.append(shard) }
        }
        return damaged
    }
}

/// A parity file being made: a temporary file beside the destination, its
/// shards written as the encoder finishes them, then the header and table,
/// a sync, and a rename over the destination. A reader sees the old parity
/// or the new, never half; an abandoned one leaves nothing.
public final class ParityFileWriter {
    public let destination: FilePath
    public let layout: ParityLayout
    let temporary: FilePath
    let descriptor: OwnedDescriptor
    private var finished = false

    public init(destination: FilePath, layout: ParityLayout) throws(IOError) {
        self.destination = destination
        self.layout = layout
        self.temporary = FilePath(destination.string + ".tmp-\(UInt32.random(in: 0...UInt32.max))")
        self.descriptor = try OwnedDescriptor.open(
            temporary, .writeOnly, options: [.create, .exclusiveCreate], permissions: [.ownerReadWrite, .groupRead, .otherRead])
    }

    deinit { abandon() }

    /// Writes consecutive whole shards, the first being `shard`.
    public func writeShards(startingAt shard: Int, _ bytes: UnsafeRawBufferPointer) throws(IOError) {
        precondition(bytes.count % layout.shardSize == 0 && shard + bytes.count / layout.shardSize <= layout.shardCount, "whole shards")
        let offset = Int64(ParityFormat.shardsOffset(shardCount: layout.shardCount)) + Int64(shard) * layout.chunks.chunkSize.bytes
        try descriptor.writeAll(toAbsoluteOffset: offset, bytes)
    }

    /// Writes the header and the table, syncs, and renames the file over the
    /// destination (then syncs the directory, so the rename is durable too).
    public func commit(_ header: ParityHeader, shardDigests: [XXH3Digest], sync: Bool = true) throws(IOError) {
        precondition(header.layout == layout && !finished, "the header of the shards written")
        try descriptor.writeAll(toAbsoluteOffset: 0, ParityCodec.encode(header, shardDigests: shardDigests))
        try descriptor.resize(to: header.fileLength)
        if sync { try descriptor.dataSync() }
        try descriptor.close()
        guard rename(temporary.string, destination.string) == 0 else {
            throw IOError("rename to", path: destination, errno: Errno(rawValue: currentErrno()))
        }
        finished = true
        if sync { try Self.syncDirectory(of: destination) }
    }

    /// Removes the temporary file, unless it was committed.
    public func abandon() {
        guard !finished else { return }
        finished = true
        try? descriptor.close()
        _ = unlink(temporary.string)
    }

    private static func syncDirectory(of path: FilePath) throws(IOError) {
        var directory = path
        directory.removeLastComponent()
        let name = directory.isEmpty ? "." : directory.string
        let fd = Glibc.open(name, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw IOError("open", path: FilePath(name), errno: Errno(rawValue: currentErrno())) }
        defer { _ = Glibc.close(fd) }
        guard fsync(fd) == 0 else { throw IOError("fsync", path: FilePath(name), errno: Errno(rawValue: currentErrno())) }
    }
}
