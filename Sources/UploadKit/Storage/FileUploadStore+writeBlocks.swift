import NIOCore
import SystemPackage

extension FileUploadStore {
    /// Holds the upload's `.upload` lock shared and the chunk's lock
    /// exclusively, exactly as a chunk `PUT` does, for the whole request: a
    /// second writer of the chunk is `.chunkBusy` at once, and `complete`,
    /// an audit or a delete wait for it.
    ///
    /// Write order, so that a crash at any point leaves the chunk either
    /// `corrupt` (whatever its bytes) or `verified` with bytes that hash to
    /// its entry: the body is checked whole before anything is written; the
    /// bytes are written in place and synced; the whole chunk is re-hashed
    /// from disk; only then, and only if it hashes to its recorded digest,
    /// is its entry written `verified` and synced.
    public func writeBlocks(
        _ id: UploadID, index: ChunkIndex, range: ByteRange, expected: ExpectedDigests, body: some AsyncSequence<ByteBuffer, any Error> & Sendable
    ) async throws -> BlockWriteReceipt {
        let map = try await blocking { try self.openMap(id, writable: true) }
        let locks = HeldLocks(map, options.locker)
        defer {
            locks.releaseAll()
            try? map.close()
        }
        let layout = map.layout
        guard layout.contains(index) else { throw UploadError.noSuchChunk(index, chunkCount: layout.chunkCount) }
        let chunk = layout.range(of: index)
        guard range.length > 0, range.offset >= chunk.offset, range.end <= chunk.end else {
            throw UploadError.rangeOutsideChunk(range, index: index, chunk: chunk)
        }
        let limit = ChunkBlocks.maximumWriteLength
        guard range.length <= limit else { throw UploadError.blockWriteTooLarge(length: range.length, limit: limit) }
        try await takeForWriting(locks)
        guard try storage({ try locks.tryTake(.chunk(index), .exclusive) }) else { throw UploadError.chunkBusy(index) }
        let (removed, status, state) = try await blocking { (try map.isRemoved(), try map.readStatus(), try map.readEntry(index)) }
        guard !removed else { throw UploadError.notFound }
        guard status.state != .complete else { throw UploadError.uploadComplete }
        // As for `PUT`: a final whose concatenation never finished takes no bytes from a client.
        guard status.state == .damaged || !ConcatenationRecord.isFinal(map.header.metadata) else { throw UploadError.finalUpload }
        let recorded: XXH3Digest
        switch state {
        case .corrupt(let digest): recorded = digest
        case .verified: throw UploadError.chunkVerified(index)
        case .missing: throw UploadError.chunkMissing(index)
        }
        // Held whole (at most `maximumWriteLength`), so that a body that does
        // not match its digest writes nothing at all.
        let bytes = try await gatherChecked(body, range: range, index: index, expected: expected)
        if status.appendOffset > chunk.offset && status.appendOffset < chunk.end {
            // As for `PUT`: the bytes an append left in this chunk change, so
            // an append resumes from the chunk's first byte.
            try await lowerAppendOffset(to: chunk.offset, in: locks, writing: index)
        }
        prefixHashing.willWrite(index, of: id)
        let data = try await openDataForWriting(id, .readWrite)
        defer { try? data.close() }
        let uploadLength = layout.fileSize.bytes
        let actual = try await blocking {
            try self.writeInPlace(bytes, at: range.offset, of: id, chunk: chunk, data: data, uploadLength: uploadLength)
        }
        guard actual == recorded else { return BlockWriteReceipt(index: index, state: .corrupt(expected: recorded), digest: actual) }
        try await blocking { try self.commitRepaired(actual, at: index, in: map) }
        prefixHashing.committed(index, of: id, files: files(id))
        return BlockWriteReceipt(index: index, state: .verified(actual), digest: actual)
    }

    /// The body whole: exactly `range.length` bytes, every digest the client
    /// gave matching. Nothing is written before this returns.
    private func gatherChecked(
        _ body: some AsyncSequence<ByteBuffer, any Error>, range: ByteRange, index: ChunkIndex, expected: ExpectedDigests
    ) async throws -> ByteBuffer {
        let receiver = ChunkBodyReceiver(range: range, index: index, expected: expected)
        var gathered = ByteBufferAllocator().buffer(capacity: Int(range.length))
        for try await buffer in try receiver.checked(body) {
            try receiver.consume(buffer)
            gathered.writeImmutableBuffer(buffer)
        }
        _ = try receiver.finish()
        return gathered
    }

    /// Writes the checked bytes at `offset` and syncs them, then re-hashes
    /// the whole chunk from disk; answers the XXH3 the chunk has now. The
    /// data file's size never changes: one shortened at rest so that it no
    /// longer reaches the chunk's end is refused, never extended.
    private func writeInPlace(
        _ bytes: ByteBuffer, at offset: Int64, of id: UploadID, chunk: ByteRange, data: OwnedDescriptor, uploadLength: Int64
    ) throws -> XXH3Digest {
        let size = try storage { try data.size() }
        guard size >= chunk.end else { throw UploadError.dataSizeMismatch(expected: uploadLength, actual: size) }
        do {
            try writeLocks.withLock(for: id) {
                try self.perform(.dataWrite, on: data.path) { () throws(IOError) in
                    try bytes.withUnsafeReadableBytes { raw throws(IOError) in try data.writeAll(toAbsoluteOffset: offset, raw) }
                }
            }
            try options.crashProbe.passing(.afterBlockWrite)
            if options.fsync {
                try perform(.dataSync, on: data.path) { () throws(IOError) in try data.dataSync() }
            }
            // Passed with or without fsync, so that a test sees it either way.
            try options.crashProbe.passing(.afterBlockSync)
        } catch let error as IOError {
            throw UploadError.storage(error)
        }
        do throws(FileScanError) {
            return try BlockHashing.digest(of: data, chunk)
        } catch {
            throw dataReadFailure(error, of: data, uploadLength: uploadLength)
        }
    }

    /// The repaired chunk's entry back to `verified`, written (and synced)
    /// only after its bytes were synced and re-read. A sync that fails puts
    /// the entry back `corrupt`: the kernel may have dropped the page, so
    /// nothing may say the chunk is verified.
    private func commitRepaired(_ digest: XXH3Digest, at index: ChunkIndex, in map: ChunkMapFile) throws {
        do {
            try perform(.mapWrite, on: map.path) { () throws(IOError) in try map.write(.verified(digest), at: index) }
            try options.crashProbe.passing(.afterBlockEntry)
            guard options.fsync else { return }
            do {
                try perform(.mapSync, on: map.path) { () throws(IOError) in try map.sync() }
            } catch {
                try? map.write(.corrupt(expected: digest), at: index)
                throw error
            }
        } catch let error as IOError {
            throw UploadError.storage(error)
        }
    }
}
