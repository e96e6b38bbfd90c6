import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension FileUploadStore {
    /// An upload as `create` makes it, with its role recorded in its map's
    /// header (see `ConcatenationRecord`).
    public func createPartial(length: ByteCount, chunkSize: ByteCount?, expectedSHA256: SHA256Digest?, metadata: String) async throws -> UploadSnapshot {
        if ConcatenationRecord.isNamed(in: metadata) { throw UploadError.reservedMetadataKey(ConcatenationRecord.key) }
        let recorded = try ConcatenationRecord.recording(.partial, in: metadata)
        return try await create(length: length, chunkSize: chunkSize, expectedSHA256: expectedSHA256, recording: recorded)
    }

    /// Holds each part's `.upload` lock shared from its check to the end of
    /// the copy, and the new upload's exclusively (as an upload-wide change)
    /// from just after its creation to its map written complete. The new id
    /// is listed from its creation on, so another request may take the lock
    /// first: a writer is refused (`finalUpload`, under its lock), a delete
    /// removes it (this ends in `notFound`).
    ///
    /// Write order, and what a crash leaves: the new upload is created as
    /// `create` makes one (admitted, its data file sparse at full length, its
    /// map `receiving` with every chunk missing and its role recorded), its
    /// bytes are copied in at their offsets and synced, read back once (each
    /// chunk's XXH3, the SHA-256, each part's chunks against its map), and
    /// only then is its map replaced, whole (a temporary file synced and
    /// renamed over), by one that is `complete` with every chunk verified.
    /// So a crash leaves it either complete with the right bytes, or
    /// `receiving` with nothing verified (it expires like any upload left
    /// unfinished). A failure it sees removes it, and so does the caller's
    /// task cancelled (the client gone) before the map is written complete:
    /// nobody would know of a final made for a request that ended.
    public func concatenate(_ parts: [UploadID], chunkSize: ByteCount?, expectedSHA256: SHA256Digest?, metadata: String) async throws -> UploadSnapshot {
        if ConcatenationRecord.isNamed(in: metadata) { throw UploadError.reservedMetadataKey(ConcatenationRecord.key) }
        let recorded = try ConcatenationRecord.recording(.final(parts: parts), in: metadata)
        let held = try await holdParts(parts)
        defer { held.values.forEach { $0.release() } }
        let pieces = try placed(parts, held)
        let total = pieces.last?.range.end ?? 0
        guard total <= options.maxUploadSize.bytes else { throw UploadError.tooLarge(size: total, limit: options.maxUploadSize.bytes) }

        let created = try await create(length: ByteCount(total), chunkSize: chunkSize, expectedSHA256: expectedSHA256, recording: recorded)
        let id = created.id
        // The copy runs on an I/O thread, where the request's task cannot be
        // asked: its cancellation (the client gone) is passed in a flag.
        let cancelled = Locked(false)
        do {
            let finished = try await withTaskCancellationHandler {
                try await withUploadWideChange(id) { map in try self.fill(id, header: map.header, with: pieces, unless: cancelled) }
            } onCancel: {
                cancelled.withLock { $0 = true }
            }
            return UploadSnapshot(id: id, map: finished, updatedAt: finished.status.updatedAt)
        } catch let crash as CrashPointReached {
            // As a crash would: nothing is cleaned up.
            throw crash
        } catch {
            // It never became complete: it goes, as if it had never been made.
            // In a task of its own: a cancelled one's I/O work would not run.
            await Task { _ = try? await self.blocking { self.discard(id) } }.value
            throw error
        }
    }

    /// Where each part's bytes go, back to back from byte 0, in the order
    /// named (a part named twice goes twice).
    private func placed(_ parts: [UploadID], _ held: [UploadID: HeldPart]) throws -> [ConcatenationScan.Part] {
        var pieces = [ConcatenationScan.Part]()
        var offset: Int64 = 0
        for id in parts {
            // Every part named is held, and was read under its lock.
            guard let map = held[id]?.current else { throw UploadError.partNotFound(id) }
            let length = map.layout.fileSize.bytes
            pieces.append(
                ConcatenationScan.Part(id: id, range: ByteRange(offset: offset, length: length), layout: map.layout, digests: map.chunks.map(\.digest)))
            offset += length
        }
        return pieces
    }

    /// Takes each distinct part's `.upload` lock shared, in id order, and
    /// checks it under the lock: a partial upload, complete. In one order so
    /// that two concatenations, each waiting behind an audit or a delete of a
    /// part the other holds, cannot wait on each other in a ring; each part
    /// once, so that one named twice does not wait on itself behind a gate.
    private func holdParts(_ parts: [UploadID]) async throws -> [UploadID: HeldPart] {
        var held = [UploadID: HeldPart]()
        do {
            for id in Set(parts).sorted(by: { $0.rawValue < $1.rawValue }) {
                let map: ChunkMapFile
                do {
                    map = try await blocking { try self.openMap(id) }
                } catch UploadError.notFound {
                    throw UploadError.partNotFound(id)
                }
                let part = HeldPart(HeldLocks(map, options.locker))
                held[id] = part
                try await takeForWriting(part.locks)
                part.current = try await blocking { try self.checkedPart(id, map) }
            }
            return held
        } catch {
            held.values.forEach { $0.release() }
            throw error
        }
    }

    /// The part's map, read under its lock, if it may be concatenated.
    private func checkedPart(_ id: UploadID, _ file: ChunkMapFile) throws -> ChunkMap {
        guard try !storage({ try file.isRemoved() }) else { throw UploadError.partNotFound(id) }
        let map = try storage { try file.readMap() }
        guard ConcatenationRecord.read(map.header.metadata).role == .partial else { throw UploadError.notAPartial(id) }
        guard map.status.state == .complete else {
            throw UploadError.partIncomplete(id, stored: map.appendOffset, length: map.layout.fileSize.bytes)
        }
        return map
    }

    /// Copies each part into place, reads the whole back once, and writes
    /// the map complete, unless `cancelled` was set by then; returns it.
    private func fill(_ id: UploadID, header: ChunkMapHeader, with parts: [ConcatenationScan.Part], unless cancelled: Locked<Bool>) throws -> ChunkMap {
        let data = try storage { try OwnedDescriptor.open(dataPath(id), .readWrite) }
        defer { try? data.close() }
        for part in parts where part.range.length > 0 {
            let source = try storage { try OwnedDescriptor.open(dataPath(part.id), .readOnly) }
            defer { try? source.close() }
            // A data file's size never changes: one that did is not the part its map describes.
            guard try storage({ try source.size() }) == part.range.length else { throw UploadError.partDamaged(part.id, chunks: []) }
            try storage {
                try perform(.dataWrite, on: data.path) { () throws(IOError) in
                    try FileRangeCopy.copy(from: source, to: data, at: part.range.offset, length: part.range.length)
                }
            }
        }
        if options.fsync { try storage { try perform(.dataSync, on: data.path) { () throws(IOError) in try data.dataSync() } } }
        try options.crashProbe.passing(.afterConcatenateCopy)

        let scan: ConcatenationScan.Result
        do throws(FileScanError) {
            scan = try ConcatenationScan.scan(data, layout: header.layout, parts: parts)
        } catch {
            if case .io(let io) = error { throw UploadError.storage(io) }
            throw UploadError.storage(IOError("read", path: dataPath(id), errno: .ioError))
        }
        if let damaged = scan.damaged.first { throw UploadError.partDamaged(damaged.id, chunks: damaged.chunks) }
        if let expected = header.expectedSHA256, scan.sha256 != expected { throw UploadError.sha256Mismatch(expected: expected, actual: scan.sha256) }
        let finished = ChunkMap(
            header: header, status: ChunkMapStatus(state: .complete, sha256: scan.sha256, updatedAt: .now),
            chunks: scan.digests.map(ChunkState.verified))
        // The last moment to give up (the caller removes it): past it, the final exists complete.
        guard !cancelled.withLock({ $0 }) else { throw CancellationError() }
        // Whole, over the one made at creation: a reader sees it receiving with
        // nothing verified, or complete, never between. A writer that waited for
        // the old map's lock finds it removed (`isRemoved`) and writes nothing.
        let path = mapPath(id)
        try storage { try perform(.mapWrite, on: path) { () throws(IOError) in try ChunkMapFile.write(finished, to: path, sync: options.fsync) } }
        // The rename is durable only once the directory is: a 201 must survive a power loss.
        if options.fsync { try storage { try perform(.mapSync, on: path) { () throws(IOError) in try OwnedDescriptor.syncDirectory(options.directory) } } }
        // As at a completion: the final is complete whether or not its parity can be written.
        if let percent = options.parityPercent { try? writeParity(id, map: finished, sha256: scan.sha256, percent: percent) }
        return finished
    }

    /// Removes a concatenation that failed: the map first, as `delete` does.
    private func discard(_ id: UploadID) {
        _ = unlink(mapPath(id).string)
        _ = unlink(dataPath(id).string)
        _ = unlink(parityPath(id).string)
        ended(id)
    }
}

/// A part of a concatenation, held under its `.upload` lock (shared) from
/// its check to the end of the copy, and its map as read under the lock.
private final class HeldPart: @unchecked Sendable {
    let locks: HeldLocks
    var current: ChunkMap?

    init(_ locks: HeldLocks) { self.locks = locks }

    /// Releases the lock, then closes the map (locks go before their descriptor).
    func release() {
        locks.releaseAll()
        try? locks.map.close()
    }
}
