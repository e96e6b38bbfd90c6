import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// `serve --parity PERCENT`: `DIR/ID.parity` beside each complete upload,
/// and audits that heal from it.
///
/// The parity is written at completion, under the upload's `.upload` lock
/// (nothing writes the data file meanwhile), from one in-order read of the
/// data file, to a temporary name renamed over `ID.parity` (a reader sees
/// the old parity or the new, never half). It is the parity of the bytes
/// whose SHA-256 the completion has just confirmed. A parity that cannot be
/// written leaves the upload complete without one: the completion is not
/// undone for it, and a later audit says there is no parity to heal from.
extension FileUploadStore {
    func parityPath(_ id: UploadID) -> FilePath { options.directory.appending(id.rawValue + ".parity") }

    /// Starts the parity of `id`'s data file on a thread of its own, to be
    /// committed once the completion has confirmed the SHA-256 (or abandoned).
    func startParity(_ id: UploadID, layout chunks: ChunkLayout, percent: Int) throws -> ParityWork {
        try ParityWork(data: dataPath(id), destination: parityPath(id), layout: ParityLayout.forPercent(percent, chunks: chunks))
    }

    /// Writes `ID.parity` for the complete upload `map` describes, waiting for it.
    func writeParity(_ id: UploadID, map: ChunkMap, sha256: SHA256Digest, percent: Int) throws {
        let work = try startParity(id, layout: map.layout, percent: percent)
        defer { work.abandon() }
        try work.commit(map: map, sha256: sha256, sync: options.fsync)
    }

    /// Heals the upload's damaged chunks (and its parity's damaged shards)
    /// in place from `ID.parity`, under the caller's upload-wide change;
    /// once every chunk and the SHA-256 are confirmed again, the upload is
    /// complete again. Nothing is written unless every rebuilt chunk hashes
    /// to its recorded XXH3 (see `ParityHealer`); damage beyond the parity,
    /// or a parity of another file, changes nothing and says why.
    /// `dataDamaged` false (the audit found every chunk and the SHA-256
    /// good) checks only the parity's own shards, not the data a second time.
    func healFromParity(_ id: UploadID, map: ChunkMapFile, dataDamaged: Bool) throws -> HealResult {
        let path = parityPath(id)
        guard access(path.string, F_OK) == 0 else { return .noParity }
        let parity: ParityFile
        do { parity = try ParityFile.open(path, writable: true) } catch { return .refused(error.description) }
        defer { try? parity.close() }
        let current = try storage { try map.readMap() }
        if !dataDamaged {
            do {
                try parity.check(against: current)
                if try parity.damagedShards().isEmpty { return .nothingToHeal }
            } catch {
                return .refused(error.description)
            }
        }
        let data = try storage { try OwnedDescriptor.open(self.dataPath(id), .readWrite) }
        defer { try? data.close() }
        let outcome: HealOutcome
        do {
            outcome = try ParityHealer().heal(data, map: current, parity: parity, mapFile: map)
        } catch let error as ParityHealError {
            return .refused(error.description)
        } catch let error as ParityFileError {
            return .refused(error.description)
        } catch let error as FileScanError {
            if case .io(let io) = error { throw UploadError.storage(io) }
            return .refused("\(error)")
        } catch let error as IOError {
            throw UploadError.storage(error)
        }
        if outcome.chunksHealed.isEmpty && outcome.shardsRebuilt.isEmpty && current.status.state == .complete { return .nothingToHeal }
        var status = try storage { try map.readStatus() }
        status.state = .complete
        status.sha256 = outcome.sha256
        status.updatedAt = .now
        try storage {
            try map.write(status)
            if self.options.fsync { try map.sync() }
        }
        ended(id)
        return .healed(chunks: outcome.chunksHealed, parityShards: outcome.shardsRebuilt, sha256: outcome.sha256)
    }
}

/// One parity being made: a thread reads the data file in order and feeds
/// the encoder, whose shards go to a temporary file; `commit` waits for it
/// and renames the file over `ID.parity` with the header of the SHA-256
/// the completion confirmed meanwhile, `abandon` stops it and leaves
/// nothing. Running beside the completion's own pass, it costs the
/// completion the part of its read the other core cannot hide.
final class ParityWork: @unchecked Sendable {
    private let writer: ParityFileWriter
    private let encoder: ParityEncoder
    private let stopped = Locked(false)
    // Written by the thread, read after `join`.
    private var shardDigests: [XXH3Digest] = []
    private var failure: (any Error)?
    private var thread: WorkerThread?
    private var ended = false

    init(data: FilePath, destination: FilePath, layout: ParityLayout) throws {
        writer = try ParityFileWriter(destination: destination, layout: layout)
        let file: OwnedDescriptor
        do { file = try OwnedDescriptor.open(data, .readOnly) } catch {
            writer.abandon()
            throw error
        }
        let writer = self.writer
        encoder = ParityEncoder(layout: layout) { shard, bytes in try writer.writeShards(startingAt: shard, bytes) }
        thread = WorkerThread { [self] in
            defer { try? file.close() }
            do {
                try ParityMapping.feed(file, length: layout.chunks.fileSize.bytes, to: encoder, until: { self.stopped.withLock { $0 } })
                shardDigests = encoder.finish()
            } catch {
                failure = error
            }
        }
    }

    deinit { abandon() }

    /// Waits for the shards, then writes the header and renames the file into place.
    func commit(map: ChunkMap, sha256: SHA256Digest, sync: Bool) throws {
        join()
        if let failure { throw failure }
        let digests = map.chunks.compactMap(\.digest)
        guard digests.count == map.layout.chunkCount else { throw ParityWorkError.chunksNotAllRecorded }
        let header = ParityHeader(
            layout: writer.layout, sha256: sha256, mapIdentity: ParityHeader.mapIdentity(layout: map.layout, digests: digests))
        try writer.commit(header, shardDigests: shardDigests, sync: sync)
    }

    /// Stops the thread and removes the temporary file (nothing, once committed).
    func abandon() {
        stopped.withLock { $0 = true }
        join()
        writer.abandon()
    }

    private func join() {
        guard !ended else { return }
        ended = true
        thread?.join()
    }
}

enum ParityWorkError: Error, CustomStringConvertible {
    case chunksNotAllRecorded
    case stopped

    var description: String {
        switch self {
        case .chunksNotAllRecorded: "a parity is made of a complete upload only: some chunks have no recorded digest"
        case .stopped: "the parity was abandoned"
        }
    }
}
