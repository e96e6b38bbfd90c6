import NIOCore
import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension FileUploadStore {
    /// Holds the upload's `.upload` lock shared and its `.append` lock
    /// exclusively for the whole body, and each chunk's lock while the
    /// body fills it: a chunk `PUT` of the same chunk meanwhile is refused,
    /// and so is a second append.
    ///
    /// Durable points: without a checksum, each chunk the body fills is
    /// synced and committed as it ends, and the append offset recorded with
    /// it; when the body ends, early or not, what arrived is synced and the
    /// offset recorded there. With a checksum, nothing is committed or
    /// recorded until the whole body matched it.
    public func append(
        _ id: UploadID, at offset: Int64, checksum: BodyChecksum?, body: some AsyncSequence<ByteBuffer, any Error> & Sendable
    ) async throws -> AppendReceipt {
        let map = try await blocking { try self.openMap(id, writable: true) }
        let locks = HeldLocks(map, options.locker)
        defer {
            locks.releaseAll()
            try? map.close()
        }
        try await takeForWriting(locks)
        guard try storage({ try locks.tryTake(.append, .exclusive) }) else { throw UploadError.appendBusy }
        let (removed, current) = try await blocking { (try map.isRemoved(), try map.readMap()) }
        guard !removed else { throw UploadError.notFound }
        guard current.status.state != .complete else { throw UploadError.uploadComplete }
        // A final's bytes are its parts': it takes no appends, whatever its state.
        guard !ConcatenationRecord.isFinal(current.header.metadata) else { throw UploadError.finalUpload }
        guard offset == current.appendOffset else { throw UploadError.offsetMismatch(given: offset, expected: current.appendOffset) }
        // Read and write: an append that starts mid-chunk reads the chunk's first part back.
        let data = try await openDataForWriting(id, .readWrite)
        defer { try? data.close() }
        let appender = Appender(
            store: self, id: id, map: map, locks: locks, data: data, start: offset, checksum: checksum, uploadState: current.status.state)
        return try await batchSizing.counted { try await appender.run(body) }
    }
}

/// One append's progress through the upload's chunks. Used by one task.
private final class Appender: @unchecked Sendable {
    private enum Mode {
        /// The chunk is missing or corrupt: its bytes are written and hashed,
        /// and must end with `mustMatch` when a repair must bring that digest.
        case fill(mustMatch: XXH3Digest?)
        /// The chunk is verified: its bytes are compared with the disk's, never written.
        case compare
    }

    private let store: FileUploadStore
    private let id: UploadID
    private let map: ChunkMapFile
    private let locks: HeldLocks
    private let data: OwnedDescriptor
    private let layout: ChunkLayout
    private let checksum: BodyChecksum?
    private let uploadState: UploadState
    private let bodyHasher: ChecksumHasherBox?
    private let chunkHasher = XXH3Hasher()

    /// The next byte to store.
    private var position: Int64
    /// Every byte before it is synced and recorded as the append offset.
    private var durable: Int64
    /// The chunk being filled or compared, and how.
    private var chunk: (index: ChunkIndex, range: ByteRange, mode: Mode)?
    /// Buffers hashed but not yet written, and where they start.
    private var batch: [ByteBuffer] = []
    private var batchStart: Int64
    private var batchBytes = 0
    /// The batch being written while the next is gathered (at most one).
    private var writing: Task<Void, any Error>?
    /// Chunks hashed whole, not yet committed (with a checksum, all wait for the end).
    private var pending: [(ChunkIndex, XXH3Digest)] = []
    private var verified: [ChunkIndex] = []

    init(
        store: FileUploadStore, id: UploadID, map: ChunkMapFile, locks: HeldLocks, data: OwnedDescriptor, start: Int64, checksum: BodyChecksum?,
        uploadState: UploadState
    ) {
        self.uploadState = uploadState
        self.store = store
        self.id = id
        self.map = map
        self.locks = locks
        self.data = data
        self.layout = map.layout
        self.checksum = checksum
        self.bodyHasher = checksum.map { ChecksumHasherBox($0.algorithm) }
        self.position = start
        self.durable = start
        self.batchStart = start
    }

    func run(_ body: some AsyncSequence<ByteBuffer, any Error>) async throws -> AppendReceipt {
        do {
            return try await runToEnd(body)
        } catch {
            // The descriptor is closed once this returns: no write may still be running.
            _ = try? await writing?.value
            writing = nil
            throw error
        }
    }

    private func runToEnd(_ body: some AsyncSequence<ByteBuffer, any Error>) async throws -> AppendReceipt {
        do {
            do {
                for try await buffer in body {
                    try await take(buffer)
                }
            } catch let error as UploadError {
                throw error
            } catch let error as CrashPointReached {
                throw error
            } catch {
                // The connection failed or closed mid-body: keep what arrived.
                throw UploadError.appendCutShort(kept: try await keepWhatArrived())
            }
            try await finish()
        } catch let error as UploadError {
            switch error {
            case .pastTheEnd, .chunkBusy, .appendConflict:
                // Every byte before `position` arrived whole and checked: keep it.
                _ = try await keepWhatArrived()
            default:
                break
            }
            throw error
        }
        let now = try await store.blocking { try self.map.readMap() }
        return AppendReceipt(
            offset: position, verified: verified,
            isFull: position == layout.fileSize.bytes && now.chunks.allSatisfy(\.isVerified))
    }

    /// Feeds one buffer, cut at chunk boundaries.
    private func take(_ buffer: ByteBuffer) async throws {
        var rest = buffer
        while rest.readableBytes > 0 {
            guard position < layout.fileSize.bytes else { throw UploadError.pastTheEnd(length: layout.fileSize.bytes) }
            if chunk == nil { try await enter(layout.chunk(containing: position)) }
            guard let (index, range, mode) = chunk else { return }
            let count = Int(min(Int64(rest.readableBytes), range.end - position))
            let slice = rest.readSlice(length: count)!
            slice.withUnsafeReadableBytes { bodyHasher?.update($0) }
            switch mode {
            case .fill:
                slice.withUnsafeReadableBytes { chunkHasher.update($0) }
                batch.append(slice)
                batchBytes += count
                position += Int64(count)
                if batchBytes >= store.batchSizing.batchBytes { try await flush() }
            case .compare:
                try await compare(slice, at: position, index: index)
                position += Int64(count)
            }
            if position == range.end { try await leave() }
        }
    }

    /// Starts on chunk `index`: its lock, and its state read under it.
    private func enter(_ index: ChunkIndex) async throws {
        guard try store.storage({ try locks.tryTake(.chunk(index), .exclusive) }) else { throw UploadError.chunkBusy(index) }
        let range = layout.range(of: index)
        let state = try await store.blocking { try self.map.readEntry(index) }
        if case .verified = state {
            chunk = (index, range, .compare)
            return
        }
        store.prefixHashing.willWrite(index, of: id)
        chunkHasher.reset()
        if position > range.offset {
            // The chunk's first part was stored by an earlier append: hash it from disk.
            let (start, end) = (range.offset, position)
            try await store.blocking { try self.hashFromDisk(start..<end) }
        }
        chunk = (index, range, .fill(mustMatch: state.digestARepairMustHave(in: uploadState)))
    }

    /// The chunk's last byte arrived: hash it whole, then commit it (or, with
    /// a checksum, keep it for the end).
    private func leave() async throws {
        guard let (index, range, mode) = chunk else { return }
        chunk = nil
        switch mode {
        case .compare:
            locks.release(.chunk(index))
        case .fill(let mustMatch):
            try await flush()
            try await drain()
            let digest = chunkHasher.digest()
            // Other bytes than a repair must bring replaced bytes already wrong: the chunk stays corrupt.
            if let mustMatch, digest != mustMatch { throw UploadError.repairConflict(index, recorded: mustMatch, received: digest) }
            pending.append((index, digest))
            if checksum == nil { try await commit(upTo: range.end) }
        }
    }

    /// The body ended whole.
    private func finish() async throws {
        try await flush()
        try await drain()
        if let checksum, let bodyHasher {
            let actual = bodyHasher.finalize()
            guard actual == checksum.digest else {
                // Nothing of it is committed: the offset stays, no chunk becomes verified.
                throw UploadError.checksumMismatch(algorithm: checksum.algorithm, expected: checksum.digest, actual: actual)
            }
        }
        try await commit(upTo: position)
    }

    /// After an early end: what arrived is synced and recorded, unless a
    /// checksum was given (a part of the body cannot match it). Answers the
    /// append offset now.
    private func keepWhatArrived() async throws -> Int64 {
        guard checksum == nil else { return durable }
        try await flush()
        try await drain()
        try await commit(upTo: position)
        return durable
    }

    /// Starts writing the gathered buffers at their place, with positioned
    /// writes, once the batch before is written: the body is read on while
    /// the I/O thread writes, and at most two batches are held.
    private func flush() async throws {
        try await drain()
        guard !batch.isEmpty else { return }
        let (buffers, start) = (batch, batchStart)
        batch.removeAll(keepingCapacity: true)
        batchStart += Int64(batchBytes)
        batchBytes = 0
        writing = Task {
            try await self.store.blocking {
                var at = start
                for buffer in buffers {
                    try self.store.storage {
                        try self.store.perform(.dataWrite, on: self.data.path) { () throws(IOError) in
                            try buffer.withUnsafeReadableBytes { bytes throws(IOError) in try self.data.writeAll(toAbsoluteOffset: at, bytes) }
                        }
                    }
                    at += Int64(buffer.readableBytes)
                }
            }
        }
    }

    /// Waits for the batch being written, if any.
    private func drain() async throws {
        guard let write = writing else { return }
        writing = nil
        try await write.value
        try store.options.crashProbe.passing(.afterAppendWrite)
    }

    /// Makes every byte before `end` durable: the data synced, then the
    /// chunks hashed whole committed, then the append offset recorded, then
    /// the map synced. A crash between leaves the offset behind the chunks,
    /// which reads as the verified prefix: never ahead of what is stored.
    private func commit(upTo end: Int64) async throws {
        let commits = pending
        pending.removeAll()
        let fsync = store.options.fsync
        try await store.blocking {
            let store = self.store
            try store.storage {
                if fsync { try store.perform(.dataSync, on: self.data.path) { () throws(IOError) in try self.data.dataSync() } }
            }
            try store.options.crashProbe.passing(.afterAppendSync)
            for (index, digest) in commits {
                try store.storage { try store.perform(.mapWrite, on: self.map.path) { () throws(IOError) in try self.map.write(.verified(digest), at: index) } }
                try store.options.crashProbe.passing(.afterAppendEntry)
            }
            let before = try store.storage { try self.map.readStatus() }
            if end > before.appendOffset {
                var status = before
                status.appendOffset = end
                status.updatedAt = .now
                try store.storage { try store.perform(.mapWrite, on: self.map.path) { () throws(IOError) in try self.map.write(status) } }
            }
            if fsync {
                do {
                    try store.storage { try store.perform(.mapSync, on: self.map.path) { () throws(IOError) in try self.map.sync() } }
                } catch {
                    // As for a chunk: what a failed sync covered must not count as stored.
                    for (index, _) in commits { try? self.map.write(.missing, at: index) }
                    try? self.map.write(before)
                    throw error
                }
            }
            try store.options.crashProbe.passing(.afterAppendOffset)
        }
        durable = end
        for (index, _) in commits {
            verified.append(index)
            locks.release(.chunk(index))
            store.prefixHashing.committed(index, of: id, files: store.files(id))
        }
    }

    /// Feeds `range` of the data file to the chunk's hasher.
    private func hashFromDisk(_ range: Range<Int64>) throws {
        let block = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { block.deallocate() }
        var at = range.lowerBound
        while at < range.upperBound {
            let part = UnsafeMutableRawBufferPointer(rebasing: block[0..<Int(min(Int64(block.count), range.upperBound - at))])
            let read = try store.storage { try data.readAll(fromAbsoluteOffset: at, into: part) }
            guard read == part.count else {
                throw UploadError.dataSizeMismatch(expected: layout.fileSize.bytes, actual: at + Int64(read))
            }
            chunkHasher.update(UnsafeRawBufferPointer(part))
            at += Int64(read)
        }
    }

    /// A verified chunk's bytes again must be the same bytes.
    private func compare(_ slice: ByteBuffer, at offset: Int64, index: ChunkIndex) async throws {
        let same = try await store.blocking {
            try slice.withUnsafeReadableBytes { incoming in
                let stored = UnsafeMutableRawBufferPointer.allocate(byteCount: incoming.count, alignment: 16)
                defer { stored.deallocate() }
                let read = try self.store.storage { try self.data.readAll(fromAbsoluteOffset: offset, into: stored) }
                return read == incoming.count && memcmp(stored.baseAddress!, incoming.baseAddress!, incoming.count) == 0
            }
        }
        guard same else { throw UploadError.appendConflict(index) }
    }
}

/// A body's checksum, computed as it streams (a class, so that the
/// non-copyable hasher can live in the appender).
private final class ChecksumHasherBox: @unchecked Sendable {
    private let hasher: ChecksumHasher

    init(_ algorithm: ChecksumAlgorithm) { hasher = ChecksumHasher(algorithm) }

    func update(_ bytes: UnsafeRawBufferPointer) { hasher.update(bytes) }

    func finalize() -> [UInt8] { hasher.finalize() }
}
