import Dispatch
import Synchronization
import SystemPackage

/// What one pass over a file found: every chunk's XXH3 and, when asked,
/// the whole file's SHA-256.
public struct FileScanResult: Sendable {
    public let layout: ChunkLayout
    public let chunkDigests: [XXH3Digest]
    public let sha256: SHA256Digest?
}

public enum FileScanError: Error, CustomStringConvertible {
    case io(IOError)
    /// The file ended before the bytes its layout names: it shrank, or is not
    /// the file the layout was made for.
    case endedEarly(path: String, expectedBytes: Int64, actualBytes: Int64)

    public var description: String {
        switch self {
        case .io(let error):
            return error.description
        case .endedEarly(let path, let expected, let actual):
            return "\(path) ended at byte \(actual) while \(expected) bytes were expected: was it changed while being read?"
        }
    }
}

/// One streaming read of a file that yields every chunk's XXH3-64 and,
/// when asked, its SHA-256, in memory that does not grow with the file.
///
/// The two hashes keep both cores busy in different ways. SHA-256 must see
/// the bytes in order and runs at about 1.7 GiB/s on one core, so with it
/// the calling thread reads large blocks and hashes chunks with XXH3 while a
/// second thread runs SHA-256 over the same blocks, handed over through a
/// small ring of buffers. Without it, chunks are independent, and two
/// threads each read and hash their own runs of whole chunks.
public enum FileScan {
    /// How much is read per system call. Large enough to amortise the call,
    /// small enough that a block is still in cache when it is hashed.
    public static let defaultBlockSize = 2 << 20
    /// Blocks in flight between the reader and the SHA-256 thread.
    static let ringSize = 4
    /// Bytes of whole chunks one worker claims at a time in the parallel scan.
    static let workUnitBytes: Int64 = 16 << 20

    /// `onChunk` is called, in chunk order, on the reading thread, as soon as
    /// each chunk is hashed (it forces the in-order scan). With `partial`
    /// (and `computeSHA256`), the SHA-256 carries on that one from its
    /// `hashedBytes`: the bytes before are read for their XXH3 only.
    public static func scan(
        _ file: OwnedDescriptor, layout: ChunkLayout, computeSHA256: Bool,
        continuing partial: PartialSHA256? = nil,
        blockSize: Int = defaultBlockSize,
        progress: (@Sendable (Int64) -> Void)? = nil,
        onChunk: (@Sendable (ChunkIndex, XXH3Digest) -> Void)? = nil
    ) throws(FileScanError) -> FileScanResult {
        file.adviseSequential()
        let digests = DigestTable(count: layout.chunkCount)
        let sha256: SHA256Digest?
        if computeSHA256 || onChunk != nil {
            // The chunks a carried-on SHA-256 already covers need only their
            // XXH3, which two threads compute faster than one reader can.
            let covered = computeSHA256 && onChunk == nil ? coveredChunks(by: partial, in: layout) : 0
            if covered > 0 {
                try scanInParallel(file, layout: layout, chunks: 0..<covered, digests: digests, blockSize: blockSize, progress: progress)
            }
            let whole = try scanInOrder(
                file, layout: layout, from: ChunkIndex(covered), digests: digests, blockSize: blockSize,
                computeSHA256: computeSHA256, partial: computeSHA256 ? partial : nil, progress: progress, onChunk: onChunk)
            sha256 = computeSHA256 ? whole : nil
        } else {
            try scanInParallel(
                file, layout: layout, chunks: 0..<layout.chunkCount, digests: digests, blockSize: blockSize, progress: progress)
            sha256 = nil
        }
        return FileScanResult(layout: layout, chunkDigests: digests.values(), sha256: sha256)
    }

    /// How many whole chunks from the start a carried-on SHA-256 has seen
    /// (the prefix hashing stops at chunk ends; any other length counts none).
    static func coveredChunks(by partial: PartialSHA256?, in layout: ChunkLayout) -> Int {
        guard let hashed = partial?.hashedBytes, hashed > 0, hashed <= layout.fileSize.bytes else { return 0 }
        if hashed == layout.fileSize.bytes { return layout.chunkCount }
        guard hashed % layout.chunkSize.bytes == 0 else { return 0 }
        return Int(hashed / layout.chunkSize.bytes)
    }

    // MARK: One reader, one SHA-256 thread

    /// The one in-order read loop. `onBlock` sees each block read, with its
    /// offset, in order, on the reading thread, after its chunks were hashed
    /// and before the SHA-256 thread may (so the bytes are valid during the call).
    static func scanInOrder(
        _ file: OwnedDescriptor, layout: ChunkLayout, from first: ChunkIndex, digests: DigestTable, blockSize: Int,
        computeSHA256: Bool, partial: PartialSHA256?, progress: (@Sendable (Int64) -> Void)?,
        onChunk: (@Sendable (ChunkIndex, XXH3Digest) -> Void)?,
        onBlock: (Int64, UnsafeRawBufferPointer) -> Void = { _, _ in }
    ) throws(FileScanError) -> SHA256Digest {
        let ring = BlockRing(count: ringSize, blockSize: blockSize, hashing: computeSHA256)
        // Blocks before `hashedAlready` are hashed with XXH3 here and never
        // published: the SHA-256 thread already saw those bytes.
        let hashedAlready = min(partial?.hashedBytes ?? 0, layout.fileSize.bytes)
        let hashing = ring.startConsumer(continuing: partial)
        var digester = ChunkDigester(layout: layout, startingAt: first)
        var offset: Int64 = first.value < layout.chunkCount ? layout.range(of: first).offset : layout.fileSize.bytes
        var failure: FileScanError?
        var slot = 0
        while offset < layout.fileSize.bytes {
            let end = offset < hashedAlready ? hashedAlready : layout.fileSize.bytes
            let buffer = ring.acquireEmpty(slot)
            let want = Int(min(Int64(blockSize), end - offset))
            let block = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<want])
            do throws(FileScanError) {
                try readBlock(file, at: offset, into: block, layout: layout)
            } catch {
                failure = error
                break
            }
            digester.feed(UnsafeRawBufferPointer(block)) { index, digest in
                digests[index] = digest
                onChunk?(index, digest)
            }
            onBlock(offset, UnsafeRawBufferPointer(block))
            if offset < hashedAlready {
                ring.release(slot)
            } else {
                ring.publish(slot, length: want)
                slot = (slot + 1) % ringSize
            }
            offset += Int64(want)
            progress?(offset)
        }
        ring.finish(slot)
        let sha256 = hashing.join()
        if let failure { throw failure }
        return sha256
    }

    // MARK: Two readers, XXH3 only

    private static func scanInParallel(
        _ file: OwnedDescriptor, layout: ChunkLayout, chunks: Range<Int>, digests: DigestTable, blockSize: Int,
        progress: (@Sendable (Int64) -> Void)?
    ) throws(FileScanError) {
        guard !chunks.isEmpty else { return }
        let chunksPerUnit = max(1, Int(workUnitBytes / layout.chunkSize.bytes))
        let units = (chunks.count + chunksPerUnit - 1) / chunksPerUnit
        let nextUnit = Atomic<Int>(0)
        let bytesDone = Atomic<Int64>(0)
        let failure = Locked<FileScanError?>(nil)

        let work: @Sendable () -> Void = {
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: blockSize, alignment: 4096)
            defer { buffer.deallocate() }
            while failure.withLock({ $0 == nil }) {
                let unit = nextUnit.wrappingAdd(1, ordering: .relaxed).oldValue
                guard unit < units else { return }
                let first = ChunkIndex(chunks.lowerBound + unit * chunksPerUnit)
                let last = ChunkIndex(min(chunks.upperBound, chunks.lowerBound + (unit + 1) * chunksPerUnit) - 1)
                var offset = layout.range(of: first).offset
                let end = layout.range(of: last).end
                var digester = ChunkDigester(layout: layout, startingAt: first)
                while offset < end {
                    let want = Int(min(Int64(blockSize), end - offset))
                    let block = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<want])
                    do throws(FileScanError) {
                        try readBlock(file, at: offset, into: block, layout: layout)
                    } catch {
                        failure.withLock { if $0 == nil { $0 = error } }
                        return
                    }
                    digester.feed(UnsafeRawBufferPointer(block)) { index, digest in digests[index] = digest }
                    offset += Int64(want)
                    let done = bytesDone.wrappingAdd(Int64(want), ordering: .relaxed).newValue
                    progress?(done)
                }
            }
        }
        let helper = WorkerThread(work)
        work()
        helper.join()
        if let error = failure.withLock({ $0 }) { throw error }
    }

    /// Fills `block` from `offset`; a file that ends first was changed under the scan.
    private static func readBlock(
        _ file: OwnedDescriptor, at offset: Int64, into block: UnsafeMutableRawBufferPointer, layout: ChunkLayout
    ) throws(FileScanError) {
        let got: Int
        do { got = try file.readAll(fromAbsoluteOffset: offset, into: block) } catch { throw .io(error) }
        guard got == block.count else {
            throw .endedEarly(path: file.path.string, expectedBytes: layout.fileSize.bytes, actualBytes: offset + Int64(got))
        }
    }
}

/// One digest slot per chunk, written by whichever thread hashed the chunk.
/// Each slot has a single writer, and every writer is joined before the
/// table is read.
final class DigestTable: @unchecked Sendable {
    private let storage: UnsafeMutableBufferPointer<UInt64>

    init(count: Int) {
        storage = .allocate(capacity: count)
        storage.initialize(repeating: 0)
    }

    deinit { storage.deallocate() }

    subscript(index: ChunkIndex) -> XXH3Digest {
        get { XXH3Digest(storage[index.value]) }
        set { storage[index.value] = newValue.value }
    }

    func values() -> [XXH3Digest] { storage.map(XXH3Digest.init) }
}
