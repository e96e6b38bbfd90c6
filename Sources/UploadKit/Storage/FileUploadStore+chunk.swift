import NIOCore
import SystemPackage

extension FileUploadStore {
    /// Holds the upload's `.upload` lock shared for as long as the chunk
    /// is written (so complete, an audit or a delete waits for it), and the
    /// chunk's own lock exclusively (so a second writer of the chunk, in
    /// any process, is refused at once).
    public func receiveChunk(
        _ id: UploadID, index: ChunkIndex, expected: ExpectedDigests, body: some AsyncSequence<ByteBuffer, any Error> & Sendable
    ) async throws -> ChunkReceipt {
        let map = try await blocking { try self.openMap(id, writable: true) }
        let locks = HeldLocks(map, options.locker)
        defer {
            locks.releaseAll()
            try? map.close()
        }
        let layout = map.layout
        guard layout.contains(index) else { throw UploadError.noSuchChunk(index, chunkCount: layout.chunkCount) }
        let range = layout.range(of: index)
        try await takeForWriting(locks)
        guard try storage({ try locks.tryTake(.chunk(index), .exclusive) }) else { throw UploadError.chunkBusy(index) }
        let (removed, status, state) = try await blocking { (try map.isRemoved(), try map.readStatus(), try map.readEntry(index)) }
        guard !removed else { throw UploadError.notFound }
        guard status.state != .complete else { throw UploadError.uploadComplete }
        // A final's bytes are its parts': one whose concatenation never
        // finished (a crash left it receiving) takes none from a client. Once
        // made and then found damaged by an audit, it is repaired by `PUT`.
        guard status.state == .damaged || !ConcatenationRecord.isFinal(map.header.metadata) else { throw UploadError.finalUpload }
        if case .verified(let recorded) = state {
            let digest = try await hashWithoutWriting(body, range: range, index: index, expected: expected)
            guard digest == recorded else { throw UploadError.chunkConflict(index) }
            return try await receipt(map, index: index, digest: digest, written: false)
        }
        // Refused at once when the client says its bytes are not the ones a repair must bring.
        let recordedForRepair = state.digestARepairMustHave(in: status.state)
        if let recorded = recordedForRepair, let declared = expected.xxh3, declared != recorded {
            throw UploadError.repairConflict(index, recorded: recorded, received: declared)
        }
        if status.appendOffset > range.offset && status.appendOffset < range.end {
            try await lowerAppendOffset(to: range.offset, in: locks, writing: index)
        }
        prefixHashing.willWrite(index, of: id)
        let digest = try await batchSizing.counted { try await write(body, of: id, range: range, index: index, expected: expected) }
        // Other bytes than those recorded replaced bytes already wrong: the chunk stays corrupt.
        if let recorded = recordedForRepair, digest != recorded {
            throw UploadError.repairConflict(index, recorded: recorded, received: digest)
        }
        try await blocking { try self.commit(digest, at: index, in: map) }
        prefixHashing.committed(index, of: id, files: files(id))
        return try await receipt(map, index: index, digest: digest, written: true)
    }

    /// The chunk about to be written holds bytes an append stored: they are
    /// overwritten now, so the append must resume from the chunk's start.
    /// Done under the `.append` lock (the chunk is busy while an append is
    /// at work), and synced before the first byte is written.
    func lowerAppendOffset(to offset: Int64, in locks: HeldLocks, writing index: ChunkIndex) async throws {
        guard try storage({ try locks.tryTake(.append, .exclusive) }) else { throw UploadError.chunkBusy(index) }
        let map = locks.map
        try await blocking {
            var status = try self.storage { try map.readStatus() }
            guard status.appendOffset > offset else { return }
            status.appendOffset = offset
            try self.storage {
                try self.perform(.mapWrite, on: map.path) { () throws(IOError) in try map.write(status) }
                if self.options.fsync { try self.perform(.mapSync, on: map.path) { () throws(IOError) in try map.sync() } }
            }
        }
    }

    /// Takes the upload's `.upload` lock shared, for a writer, passing the
    /// `.gate` first: while an upload-wide change waits for the writers in
    /// flight (it holds the gate), new ones wait behind it instead of
    /// starving it. Polls without holding a thread.
    func takeForWriting(_ locks: HeldLocks) async throws {
        try await poll {
            guard try self.storage({ try locks.tryTake(.gate, .shared) }) else { return false }
            defer { locks.release(.gate) }
            return try self.storage { try locks.tryTake(.upload, .shared) }
        }
    }

    /// Takes the `.gate` and then the `.upload` lock exclusively, for a
    /// change to the whole upload: every writer in flight has finished, and
    /// new ones wait. Polls without holding a thread: the writers waited
    /// for need the I/O threads to finish.
    func takeForUploadWideChange(_ locks: HeldLocks) async throws {
        try await poll { try self.storage { try locks.tryTake(.gate, .exclusive) } }
        try await poll { try self.storage { try locks.tryTake(.upload, .exclusive) } }
    }

    /// Runs `work` on an I/O thread with the upload's map open, holding its
    /// `.upload` lock exclusively; the upload must still exist then.
    func withUploadWideChange<T: Sendable>(_ id: UploadID, _ work: @escaping @Sendable (ChunkMapFile) throws -> T) async throws -> T {
        let map = try await blocking { try self.openMap(id, writable: true) }
        let locks = HeldLocks(map, options.locker)
        defer {
            locks.releaseAll()
            try? map.close()
        }
        try await takeForUploadWideChange(locks)
        return try await blocking {
            guard try !self.storage({ try map.isRemoved() }) else { throw UploadError.notFound }
            return try work(map)
        }
    }

    /// Retries `attempt` until it succeeds, sleeping 1 ms, then up to 50 ms, between tries.
    private func poll(_ attempt: () throws -> Bool) async throws {
        var pause = Duration.milliseconds(1)
        while try !attempt() {
            try await Task.sleep(for: pause)
            pause = min(pause * 2, .milliseconds(50))
        }
    }

    /// The chunk's entry, written (and synced) only after its data was. A
    /// sync that fails takes the entry back: the kernel may have dropped
    /// the page, so nothing may say the chunk is verified.
    private func commit(_ digest: XXH3Digest, at index: ChunkIndex, in map: ChunkMapFile) throws {
        do {
            try perform(.mapWrite, on: map.path) { () throws(IOError) in try map.write(.verified(digest), at: index) }
            try options.crashProbe.passing(.afterMapEntry)
            guard options.fsync else { return }
            do {
                try perform(.mapSync, on: map.path) { () throws(IOError) in try map.sync() }
            } catch {
                try? map.write(.missing, at: index)
                throw error
            }
        } catch let error as IOError {
            throw UploadError.storage(error)
        }
    }

    private func receipt(_ map: ChunkMapFile, index: ChunkIndex, digest: XXH3Digest, written: Bool) async throws -> ChunkReceipt {
        let entries = try await blocking { try map.readEntries() }
        return ChunkReceipt(
            index: index, digest: digest, written: written,
            receivedChunks: entries.lazy.filter(\.isVerified).count, chunkCount: map.layout.chunkCount)
    }

    /// Streams the body to its place in the data file, hashing as it goes;
    /// returns its XXH3 once the exact length arrived, was written (and
    /// synced), and matched every digest the client gave.
    private func write(
        _ body: some AsyncSequence<ByteBuffer, any Error>, of id: UploadID, range: ByteRange, index: ChunkIndex, expected: ExpectedDigests
    ) async throws -> XXH3Digest {
        let data = try await openDataForWriting(id, .writeOnly)
        defer { try? data.close() }
        let receiver = ChunkBodyReceiver(range: range, index: index, expected: expected)
        var batch = [ByteBuffer]()
        var batchBytes = 0
        var written: Int64 = 0
        // One batch is written while the next is read: the hop to the I/O
        // threads no longer stalls the body, and at most two batches are held.
        var inFlight: Task<Void, any Error>?
        do {
            for try await buffer in try receiver.checked(body) {
                try receiver.consume(buffer)
                batch.append(buffer)
                batchBytes += buffer.readableBytes
                if batchBytes >= batchSizing.batchBytes {
                    try await inFlight?.value
                    let (buffers, at) = (batch, range.offset + written)
                    inFlight = Task { try await self.writeBatch(buffers, of: id, to: data, at: at) }
                    written += Int64(batchBytes)
                    batch = []
                    batchBytes = 0
                }
            }
            try await inFlight?.value
            inFlight = nil
        } catch {
            // The descriptor is closed once this returns: no write may still be running.
            _ = try? await inFlight?.value
            throw error
        }
        try await writeBatch(batch, of: id, to: data, at: range.offset + written)
        let digest = try receiver.finish()
        try options.crashProbe.passing(.afterDataWrite)
        if options.fsync {
            do {
                try await blocking { try self.perform(.dataSync, on: data.path) { () throws(IOError) in try data.dataSync() } }
            } catch let error as IOError {
                throw UploadError.storage(error)
            }
            try options.crashProbe.passing(.afterDataSync)
        }
        return digest
    }

    private func writeBatch(_ batch: [ByteBuffer], of id: UploadID, to data: OwnedDescriptor, at offset: Int64) async throws {
        guard !batch.isEmpty else { return }
        try await blocking {
            var position = offset
            do {
                try self.writeLocks.withLock(for: id) {
                    for buffer in batch {
                        try self.perform(.dataWrite, on: data.path) { () throws(IOError) in
                            try buffer.withUnsafeReadableBytes { bytes throws(IOError) in try data.writeAll(toAbsoluteOffset: position, bytes) }
                        }
                        position += Int64(buffer.readableBytes)
                    }
                }
            } catch let error as IOError {
                throw UploadError.storage(error)
            }
        }
    }

    /// A duplicate of a verified chunk: read and hash, write nothing.
    private func hashWithoutWriting(
        _ body: some AsyncSequence<ByteBuffer, any Error>, range: ByteRange, index: ChunkIndex, expected: ExpectedDigests
    ) async throws -> XXH3Digest {
        let receiver = ChunkBodyReceiver(range: range, index: index, expected: expected)
        for try await buffer in try receiver.checked(body) { try receiver.consume(buffer) }
        return try receiver.finish()
    }
}

/// Counts and hashes a chunk's body as it streams; the verdict comes at the
/// end: exact length, and every digest the client gave equal to the body's.
final class ChunkBodyReceiver: @unchecked Sendable {
    private let range: ByteRange
    private let index: ChunkIndex
    private let expected: ExpectedDigests
    private let xxh3 = XXH3Hasher()
    private let sha256: SHA256Hasher?
    private(set) var received: Int64 = 0

    var expectedLength: Int64 { range.length }

    init(range: ByteRange, index: ChunkIndex, expected: ExpectedDigests) {
        self.range = range
        self.index = index
        self.expected = expected
        self.sha256 = expected.sha256 == nil ? nil : SHA256Hasher()
    }

    /// The body, with a connection that fails or closes mid-body reported as
    /// what it is for the chunk: a body shorter than its range.
    func checked<Body: AsyncSequence<ByteBuffer, any Error>>(_ body: Body) throws -> ClientEndingBody<Body> {
        ClientEndingBody(body: body, receiver: self)
    }

    /// Stops at the first byte past the range: the rest is never read.
    func consume(_ buffer: ByteBuffer) throws {
        guard Int64(buffer.readableBytes) <= range.length - received else { throw UploadError.bodyTooLong(expected: range.length) }
        received += Int64(buffer.readableBytes)
        buffer.withUnsafeReadableBytes { bytes in
            xxh3.update(bytes)
            sha256?.update(bytes)
        }
    }

    func finish() throws -> XXH3Digest {
        guard received == range.length else { throw UploadError.bodyTooShort(expected: range.length, received: received) }
        let digest = xxh3.digest()
        if let claimed = expected.xxh3, claimed != digest {
            throw UploadError.digestMismatch(algorithm: "xxh3", index: index, expected: claimed.description, actual: digest.description)
        }
        if let claimed = expected.sha256, let actual = sha256?.finalize(), claimed != actual {
            throw UploadError.digestMismatch(algorithm: "sha-256", index: index, expected: claimed.description, actual: actual.description)
        }
        return digest
    }
}

/// Wraps a request body so that the connection's own errors (a reset, a
/// close mid-body) surface as `bodyTooShort`, never as a server error.
struct ClientEndingBody<Body: AsyncSequence<ByteBuffer, any Error>>: AsyncSequence {
    typealias Element = ByteBuffer
    let body: Body
    let receiver: ChunkBodyReceiver

    struct AsyncIterator: AsyncIteratorProtocol {
        var base: Body.AsyncIterator
        let receiver: ChunkBodyReceiver

        mutating func next() async throws -> ByteBuffer? {
            do {
                return try await base.next()
            } catch let error as UploadError {
                throw error
            } catch {
                throw UploadError.bodyTooShort(expected: receiver.expectedLength, received: receiver.received)
            }
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(base: body.makeAsyncIterator(), receiver: receiver) }
}
