import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Computes every parity shard of a file in one in-order pass, fed the
/// file's bytes in pieces of any size (the blocks the hashing pass reads).
///
/// Each piece of chunk `i` is added into the `m` parity shards of its
/// stripe with `ec_encode_data_update` (one data shard at a time: the chunk
/// is never needed whole). Only the stripes of one group are open at once
/// (see `ParityLayout`): when the group's last chunk has been fed, its
/// `W * m` shards are final, are hashed, handed to the sink (which writes
/// them into the parity file), and the buffers are zeroed for the next
/// group. So the memory is at most `G * m * C` bytes of parity accumulators
/// plus ISA-L's tables (`32 * k * m` bytes), whatever the file size.
public final class ParityEncoder {
    public let layout: ParityLayout
    private let tables: GaloisTables
    private let accumulators: UnsafeMutableRawPointer
    private let accumulatorCount: Int
    private let outputs: UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>
    private let sink: (_ firstShard: Int, _ shards: UnsafeRawBufferPointer) throws -> Void
    /// The chunk the next byte belongs to, and how much of it was fed.
    private var chunk = 0
    private var fed: Int64 = 0
    private var digests: [XXH3Digest]

    /// Bytes of parity the encoder holds open: the widest group's `W * m * C`,
    /// at most `G * m * C` (fewer when the file has fewer stripes than `G`).
    /// Depends on `m`, the chunk size and the budget `G` was chosen from,
    /// never on the file's size beyond that.
    public static func accumulatorBytes(for layout: ParityLayout) -> Int {
        layout.widestGroup * layout.parityShards * layout.shardSize
    }

    /// `sink(firstShard, shards)` receives each group's finished shards,
    /// consecutive, `C` bytes each; the bytes are only valid during the call.
    public init(layout: ParityLayout, sink: @escaping (_ firstShard: Int, _ shards: UnsafeRawBufferPointer) throws -> Void) {
        self.layout = layout
        self.sink = sink
        let code = ReedSolomonCode(dataShards: layout.dataShards, parityShards: layout.parityShards)
        self.tables = GaloisTables(dataShards: layout.dataShards, coefficients: code.parityRows)
        let count = Self.accumulatorBytes(for: layout)
        let storage = UnsafeMutableRawPointer.allocate(byteCount: max(1, count), alignment: 64)
        _ = memset(storage, 0, count)
        let pointers = UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>.allocate(capacity: layout.parityShards)
        pointers.initialize(repeating: nil, count: layout.parityShards)
        self.accumulatorCount = count
        self.accumulators = storage
        self.outputs = pointers
        self.digests = Array(repeating: XXH3Digest(0), count: layout.shardCount)
    }

    deinit {
        accumulators.deallocate()
        outputs.deallocate()
    }

    /// Everything the encoder allocated for the pass: the accumulators,
    /// ISA-L's tables and the output pointers.
    public var bufferBytes: Int {
        accumulatorCount + tables.byteCount + layout.parityShards * MemoryLayout<UnsafeMutablePointer<UInt8>?>.stride
    }

    /// The file's next bytes, in order.
    public func feed(_ bytes: UnsafeRawBufferPointer) throws {
        guard let base = bytes.baseAddress else { return }
        let m = layout.parityShards
        let size = layout.shardSize
        var position = 0
        while position < bytes.count {
            precondition(chunk < layout.chunks.chunkCount, "fed past the file's last chunk")
            let index = ChunkIndex(chunk)
            let length = layout.chunks.range(of: index).length
            let take = Int(min(length - fed, Int64(bytes.count - position)))
            let (stripe, row) = layout.position(of: index)
            let group = layout.group(ofStripe: stripe)
            let open = stripe - layout.firstStripe(ofGroup: group)
            let first = accumulators + (open * m * size + Int(fed))
            for parity in 0..<m { outputs[parity] = (first + parity * size).assumingMemoryBound(to: UInt8.self) }
            tables.update(length: take, row: row, source: base + position, outputs: outputs)
            position += take
            fed += Int64(take)
            if fed == length {
                fed = 0
                if chunk == layout.lastChunk(ofGroup: group) { try flush(group) }
                chunk += 1
            }
        }
    }

    /// Every parity shard's XXH3, once the whole file was fed.
    public func finish() -> [XXH3Digest] {
        precondition(chunk == layout.chunks.chunkCount && fed == 0, "the encoder was not fed the whole file")
        return digests
    }

    private func flush(_ group: Int) throws {
        let size = layout.shardSize
        let count = layout.stripesInGroup(group) * layout.parityShards
        let first = layout.firstStripe(ofGroup: group) * layout.parityShards
        let shards = UnsafeRawBufferPointer(start: accumulators, count: count * size)
        for shard in 0..<count {
            digests[first + shard] = XXH3Hasher.hash(UnsafeRawBufferPointer(rebasing: shards[(shard * size)..<((shard + 1) * size)]))
        }
        try sink(first, shards)
        _ = memset(accumulators, 0, count * size)
    }
}

/// `map FILE --parity PERCENT`: the chunk map and the parity in one read.
public enum ParityMapping {
    static let ringSize = 4

    /// Reads `file` once, in order: each block is hashed chunk by chunk with
    /// XXH3 and fed to the parity encoder on this thread, while a second
    /// thread computes the SHA-256 over the same blocks (as `FileScan` does).
    /// Then writes the map to `mapPath` and the parity to `parityPath`, each
    /// atomically (the map first: a crash between leaves a new map beside an
    /// old parity, which is refused as another version, never used).
    public static func writeMapAndParity(
        of file: OwnedDescriptor, layout: ParityLayout, mapPath: FilePath, parityPath: FilePath,
        blockSize: Int = FileScan.defaultBlockSize, progress: (@Sendable (Int64) -> Void)? = nil
    ) throws -> (map: ChunkMap, parity: ParityHeader) {
        let writer = try ParityFileWriter(destination: parityPath, layout: layout)
        defer { writer.abandon() }
        let encoder = ParityEncoder(layout: layout) { shard, bytes in try writer.writeShards(startingAt: shard, bytes) }
        let result = try Self.scan(file, encoder: encoder, blockSize: blockSize, progress: progress)
        let shardDigests = encoder.finish()
        guard let sha256 = result.sha256 else { preconditionFailure("the parity pass always computes the SHA-256") }
        let map = ChunkMap(layout: layout.chunks, digests: result.chunkDigests, sha256: sha256)
        let header = ParityHeader(
            layout: layout, sha256: sha256, mapIdentity: ParityHeader.mapIdentity(layout: layout.chunks, digests: result.chunkDigests))
        try ChunkMapFile.write(map, to: mapPath)
        try writer.commit(header, shardDigests: shardDigests)
        return (map, header)
    }

    /// The first `length` bytes of `file`, read in order one block at a time
    /// into one buffer, fed to `encoder`: the parity of bytes already
    /// hashed (a server's upload at completion), so nothing is hashed here.
    /// `until` is asked before each block: true stops the pass (the parity is abandoned).
    static func feed(
        _ file: OwnedDescriptor, length: Int64, to encoder: ParityEncoder, blockSize: Int = FileScan.defaultBlockSize,
        until stop: () -> Bool = { false }
    ) throws {
        file.adviseSequential()
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: blockSize, alignment: 4096)
        defer { buffer.deallocate() }
        var offset: Int64 = 0
        while offset < length {
            if stop() { throw ParityWorkError.stopped }
            let want = Int(min(Int64(blockSize), length - offset))
            let block = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<want])
            let got = try file.readAll(fromAbsoluteOffset: offset, into: block)
            guard got == want else { throw FileScanError.endedEarly(path: file.path.string, expectedBytes: length, actualBytes: offset + Int64(got)) }
            try encoder.feed(UnsafeRawBufferPointer(block))
            offset += Int64(want)
        }
    }

    /// The pass itself: every chunk's XXH3 and the SHA-256, every block fed
    /// to `encoder`. Memory: `ringSize` blocks and the encoder's buffers.
    static func scan(
        _ file: OwnedDescriptor, encoder: ParityEncoder, blockSize: Int, progress: (@Sendable (Int64) -> Void)?
    ) throws -> FileScanResult {
        let layout = encoder.layout.chunks
        file.adviseSequential()
        let ring = BlockRing(count: ringSize, blockSize: blockSize, hashing: true)
        let hashing = ring.startConsumer()
        var digester = ChunkDigester(layout: layout)
        var digests = [XXH3Digest](repeating: XXH3Digest(0), count: layout.chunkCount)
        let size = layout.fileSize.bytes
        var offset: Int64 = 0
        var slot = 0
        var failure: (any Error)?
        while offset < size {
            let buffer = ring.acquireEmpty(slot)
            let want = Int(min(Int64(blockSize), size - offset))
            let block = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<want])
            do {
                let got = try file.readAll(fromAbsoluteOffset: offset, into: block)
                guard got == want else {
                    throw FileScanError.endedEarly(path: file.path.string, expectedBytes: size, actualBytes: offset + Int64(got))
                }
                try encoder.feed(UnsafeRawBufferPointer(block))
            } catch {
                failure = error
                break
            }
            digester.feed(UnsafeRawBufferPointer(block)) { index, digest in digests[index.value] = digest }
            ring.publish(slot, length: want)
            slot = (slot + 1) % ringSize
            offset += Int64(want)
            progress?(offset)
        }
        ring.finish(slot)
        let sha256 = hashing.join()
        if let failure {
            if let error = failure as? IOError { throw FileScanError.io(error) }
            throw failure
        }
        return FileScanResult(layout: layout, chunkDigests: digests, sha256: sha256)
    }
}
