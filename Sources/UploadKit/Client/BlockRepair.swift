import NIOCore
import NIOPosix
import SystemPackage

/// Block-level repair of one chunk that both sides hold with other bytes:
/// the blocks of the chunk are compared (the server's digests against the
/// local file's) and only the blocks that differ move, adjacent ones merged
/// into one request. It is an economy, never a new way to be wrong: every
/// byte that arrives is checked before it is written, the chunk must hash
/// to its recorded XXH3 as a whole before it counts as repaired, and
/// whenever blocks do not pay or do not work (a server without them, more
/// than half the chunk differs, anything failing on the way) the answer is
/// false and the caller moves the chunk whole, as it did before blocks.
struct BlockRepair: Sendable {
    let client: UploadClient
    let url: UploadURL
    let file: OwnedDescriptor
    let layout: ChunkLayout
    let blockSize: Int64
    /// Fetches per block run for a pull, as `ChunkFetcher` counts them.
    let attempts: Int
    let tally: RepairTally
    /// Cleared at the first sign the server has no block-level repair, so
    /// that later chunks go whole without asking again.
    private let offered = Locked(true)

    init(client: UploadClient, url: UploadURL, file: OwnedDescriptor, layout: ChunkLayout, blockSize: Int64, attempts: Int, tally: RepairTally) {
        self.client = client
        self.url = url
        self.file = file
        self.layout = layout
        self.blockSize = blockSize
        self.attempts = attempts
        self.tally = tally
    }

    /// Push: the server's chunk is `corrupt` and records `chunk.digest`,
    /// which the local chunk has. Writes the local blocks that differ into
    /// the server's chunk; true once the server answered it verified.
    func push(_ chunk: Chunk) async throws -> Bool {
        guard let difference = try await differingBlocks(of: chunk) else { return false }
        let blocks = difference.blocks
        // Bytes already right but still marked corrupt (mended at rest, or a
        // write whose answer was lost): one block written has the server
        // re-hash the chunk, and verify it.
        let sent = difference.differing.isEmpty ? [0] : difference.differing
        var outcome: BlockWriteOutcome?
        for run in blocks.runs(of: sent, maximumLength: ChunkBlocks.maximumWriteLength) {
            let bytes = try await read(run)
            do throws(ClientError) {
                outcome = try await client.writeBlocks(bytes, at: run, chunk: chunk.index, to: url, totalLength: layout.fileSize.bytes)
            } catch {
                notice(error)
                return false
            }
            tally.moved(bytes: run.length, blocks: Self.blockCount(of: run, in: blocks))
        }
        return outcome?.verified == true
    }

    /// Pull: the server's chunk is verified with `chunk.digest`, the local
    /// one differs. Fetches the server's blocks that differ, each checked
    /// against the server's block digests before it is written in place;
    /// true once the local chunk hashes to `chunk.digest` as a whole.
    func pull(_ chunk: Chunk) async throws -> Bool {
        guard let difference = try await differingBlocks(of: chunk), !difference.differing.isEmpty else { return false }
        let blocks = difference.blocks
        for run in blocks.runs(of: difference.differing, maximumLength: ChunkBlocks.maximumWriteLength) {
            guard try await fetch(run, of: blocks, expected: difference.theirs) else { return false }
        }
        let now = try await NIOThreadPool.singleton.runIfActive { [file] in try BlockHashing.digest(of: file, chunk.range) }
        return now == chunk.digest
    }

    /// The chunk's blocks and those whose digests differ between the server
    /// and the local file; nil when blocks do not pay here: the block size
    /// does not fit the chunk size, the server has no blocks, or more than
    /// half the chunk's bytes differ (a whole chunk is then one request, and
    /// no slower).
    private func differingBlocks(of chunk: Chunk) async throws -> BlockDifference? {
        guard offered.withLock({ $0 }), blockSize < layout.chunkSize.bytes,
            let blocks = try? ChunkBlocks(layout: layout, index: chunk.index, blockSize: blockSize), blocks.count > 1
        else { return nil }
        let theirs: [XXH3Digest]
        do throws(ClientError) {
            theirs = try await client.blockDigests(url, chunk: blocks)
        } catch {
            notice(error)
            return nil
        }
        let ours = try await NIOThreadPool.singleton.runIfActive { [file] in try BlockHashing.digests(of: file, blocks) }
        let differing = (0..<blocks.count).filter { theirs[$0] != ours[$0] }
        guard blocks.length(of: differing) * 2 <= blocks.chunk.length else { return nil }
        let coarse = BlockDifference(blocks: blocks, differing: differing, theirs: theirs)
        return try await refined(coarse, of: chunk) ?? coarse
    }

    /// A few flipped bytes damage a few blocks of 4 KiB, not whole blocks of
    /// 64: when the blocks that differ are few, the chunk is compared again
    /// in the smallest blocks, so that only those move. It costs one more
    /// request, whose answer (16 hex digits per 4 KiB, about 0.5% of the
    /// chunk) is small beside the blocks it saves sending. Nil when it does
    /// not pay, or fails (the coarse blocks are then moved).
    private func refined(_ coarse: BlockDifference, of chunk: Chunk) async throws -> BlockDifference? {
        let smallest = ChunkBlocks.minimumBlockSize
        guard !coarse.differing.isEmpty, coarse.blocks.blockSize > smallest,
            coarse.blocks.length(of: coarse.differing) * 8 <= coarse.blocks.chunk.length,
            let blocks = try? ChunkBlocks(layout: layout, index: chunk.index, blockSize: smallest)
        else { return nil }
        let theirs: [XXH3Digest]
        do throws(ClientError) {
            theirs = try await client.blockDigests(url, chunk: blocks)
        } catch {
            return nil
        }
        let ours = try await NIOThreadPool.singleton.runIfActive { [file] in try BlockHashing.digests(of: file, blocks) }
        return BlockDifference(blocks: blocks, differing: (0..<blocks.count).filter { theirs[$0] != ours[$0] }, theirs: theirs)
    }

    /// One run of the server's blocks by a ranged `GET …/data`, written in
    /// place only when every block of it hashes to the server's digest;
    /// asked for again when it arrived wrong, `attempts` times in all.
    /// False when it never arrived intact (or the fetch failed): the chunk
    /// then goes whole, through `ChunkFetcher` and its own retries.
    private func fetch(_ run: ByteRange, of blocks: ChunkBlocks, expected theirs: [XXH3Digest]) async throws -> Bool {
        for _ in 0..<attempts {
            let received: ByteBuffer
            do throws(ClientError) {
                received = try await client.fetch(url, range: run)
            } catch {
                notice(error)
                return false
            }
            tally.moved(bytes: run.length, blocks: Self.blockCount(of: run, in: blocks))
            if try await Self.writeIfIntact(received, at: run, of: blocks, expected: theirs, into: file) { return true }
        }
        return false
    }

    /// Checks each block of `received` (the bytes of `run`) against
    /// `expected`, and writes the run at its offset only when all match.
    private static func writeIfIntact(
        _ received: ByteBuffer, at run: ByteRange, of blocks: ChunkBlocks, expected: [XXH3Digest], into file: OwnedDescriptor
    ) async throws -> Bool {
        do {
            return try await NIOThreadPool.singleton.runIfActive {
                try received.withUnsafeReadableBytes { bytes throws(IOError) -> Bool in
                    guard bytes.count == Int(run.length) else { return false }
                    var block = blocks.block(containing: run.offset)
                    var position = 0
                    while position < bytes.count {
                        let length = Int(blocks.range(of: block).length)
                        guard position + length <= bytes.count,
                            XXH3Hasher.hash(UnsafeRawBufferPointer(rebasing: bytes[position..<position + length])) == expected[block]
                        else { return false }
                        position += length
                        block += 1
                    }
                    try file.writeAll(toAbsoluteOffset: run.offset, bytes)
                    return true
                }
            }
        } catch let error as IOError {
            throw ClientError.local(error)
        }
    }

    /// The local file's bytes of `run`, read once: what is sent is what its
    /// digest is computed from.
    private func read(_ run: ByteRange) async throws -> ByteBuffer {
        let (file, path) = (self.file, self.file.path.string)
        return try await NIOThreadPool.singleton.runIfActive {
            let count = Int(run.length)
            var buffer = ByteBufferAllocator().buffer(capacity: count)
            let read = try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { bytes in
                try file.readAll(fromAbsoluteOffset: run.offset, into: UnsafeMutableRawBufferPointer(rebasing: bytes[0..<count]))
            }
            guard read == count else { throw ClientError.fileChanged(path) }
            return buffer
        }
    }

    /// A failure on the block path is not the repair's: the chunk goes
    /// whole, and reports its own errors. A server that has no blocks at all
    /// is not asked again.
    private func notice(_ error: ClientError) {
        if error.meansNoBlockRepair { offered.withLock { $0 = false } }
    }

    private static func blockCount(of run: ByteRange, in blocks: ChunkBlocks) -> Int {
        Int((run.length + blocks.blockSize - 1) / blocks.blockSize)
    }
}

/// One chunk's blocks as the two sides hold them.
private struct BlockDifference {
    let blocks: ChunkBlocks
    /// The blocks whose digests differ, ascending.
    let differing: [Int]
    /// The server's digest of every block.
    let theirs: [XXH3Digest]
}

/// What a repair moved: chunks repaired (by blocks or whole), blocks moved
/// by block-level repair, and every byte of chunk or block data that
/// crossed the wire (a run fetched again after it arrived wrong included).
final class RepairTally: Sendable {
    private let state = Locked<(chunks: Int, blocks: Int, bytes: Int64)>((0, 0, 0))

    func moved(bytes: Int64, blocks: Int = 0) {
        state.withLock {
            $0.bytes += bytes
            $0.blocks += blocks
        }
    }

    func repairedChunk() { state.withLock { $0.chunks += 1 } }

    var chunks: Int { state.withLock { $0.chunks } }
    var blocks: Int { state.withLock { $0.blocks } }
    var bytes: Int64 { state.withLock { $0.bytes } }
}
