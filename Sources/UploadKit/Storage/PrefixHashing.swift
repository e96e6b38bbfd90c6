import Dispatch
import NIOPosix
import SystemPackage

/// Hashes each upload's verified prefix with SHA-256 while the upload is
/// still arriving, reading the bytes back from the data file (so from what
/// was written, not from the request), so that `complete` has only the
/// rest to hash. Without it, completing 4 GiB was a 2.2 s SHA-256 pass on
/// top of the transfer; with chunks arriving roughly in order, it is the
/// last chunks' worth.
///
/// What `complete` is handed covers only chunks that were verified when
/// they were read, which are never rewritten; a chunk being written inside
/// the hashed prefix (a corrupt one, repaired) drops the upload's state
/// first when the write comes through this process. Writes through another
/// process (or node) are not seen here, so the state is only a cache: it
/// keeps the XXH3 of every chunk it hashed, and `complete` takes it only if
/// the map, read under the upload's lock, still records those same digests
/// (and `complete` re-checks every chunk's bytes against the map). Bytes that change at rest afterwards are caught by `complete`,
/// which still re-hashes every chunk's XXH3 from disk. The state lives in
/// memory only: after a restart, `complete` hashes the whole file again.
///
/// One thread hashes for every upload, a bounded slice at a time, so one
/// upload cannot hold it and the hashing never takes more than one core.
final class PrefixHashing: Sendable {
    /// An upload's progress; its fields are only touched under `entries`' lock.
    private final class Entry: @unchecked Sendable {
        let partial = PartialSHA256()
        /// The next chunk to hash: every chunk before it is in `partial`.
        var next = ChunkIndex(0)
        /// The chunk whose bytes the job reads now (claimed before its map
        /// entry is read, so a write racing it always sees the claim).
        var reading: ChunkIndex?
        /// A write began on `reading`: if the job read it as verified, the
        /// bytes it hashes may be half old, half new.
        var readingOverwritten = false
        /// The end of the last whole chunk hashed.
        var hashedBytes: Int64 = 0
        /// The XXH3 each hashed chunk was verified with when it was read.
        var digests: [XXH3Digest] = []
        /// A job is queued or running for this upload.
        var scheduled = false
        /// The job is inside `run`, and may touch `partial`.
        var inRun = false
        /// A chunk was committed while the job was scheduled: look again before stopping.
        var lookAgain = false
        /// Taken by `complete` or dropped: the job stops at its next block.
        var stopped = false
        /// A `stop` waits for the job to leave `run`.
        var stopWaiting = false
        /// Signalled when a job that a `stop` waits for has left `run`.
        let leftRun = DispatchSemaphore(value: 0)
    }

    struct Files: Sendable {
        let data: FilePath
        let map: FilePath
    }

    /// Bytes one job hashes before it lets another upload have the thread.
    static let sliceBytes: Int64 = 256 << 20
    static let blockSize = 2 << 20

    private let entries = Locked<[UploadID: Entry]>([:])

    /// The executor's background lane: one thread at a lower priority (see
    /// `StoreExecutor`), so that hashing takes only the CPU the requests
    /// leave over (it is ahead of need: `complete` hashes whatever it had
    /// not reached).
    private let lane: NIOThreadPool

    init(lane: NIOThreadPool) { self.lane = lane }

    /// Chunk `index` of `id` was committed as verified.
    func committed(_ index: ChunkIndex, of id: UploadID, files: Files) {
        resume(id, files: files, ifAt: index)
    }

    /// Hashes whatever verified prefix `id` has that is not hashed yet.
    func resume(_ id: UploadID, files: Files) {
        resume(id, files: files, ifAt: nil)
    }

    private func resume(_ id: UploadID, files: Files, ifAt index: ChunkIndex?) {
        let start: Entry? = entries.withLock { entries in
            let entry: Entry
            if let known = entries[id] {
                entry = known
                // A chunk past a gap changes nothing until the gap is filled.
                if let index, index != entry.next, !entry.scheduled { return nil }
            } else {
                // New, or first seen since a restart: hash whatever is verified already.
                entry = Entry()
                entries[id] = entry
            }
            if entry.scheduled {
                entry.lookAgain = true
                return nil
            }
            entry.scheduled = true
            return entry
        }
        if let start { schedule(start, of: id, files: files) }
    }

    /// Chunk `index` (missing or corrupt) is about to be written. Inside the
    /// hashed prefix, what was hashed will no longer be the file's bytes:
    /// the state is dropped. The chunk the job is looking at is only marked:
    /// almost always the job finds it unverified and stops there, harmlessly.
    /// Called on every chunk write, so it never hops threads: it waits only
    /// when it drops a state whose job is inside a block (a corrupt chunk
    /// rewritten inside the hashed prefix, which is rare), for that block's
    /// read and hash, about a millisecond.
    func willWrite(_ index: ChunkIndex, of id: UploadID) {
        let stale = entries.withLock { entries -> Entry? in
            guard let entry = entries[id] else { return nil }
            if index == entry.reading { entry.readingOverwritten = true }
            guard index < entry.next else { return nil }
            return entries.removeValue(forKey: id)
        }
        if let stale { stop(stale) }
    }

    /// Hands the hashed prefix to `complete`, stopping the job first; nil
    /// when there is none, when a write raced the chunk it was reading, or
    /// when `map` (read under the upload's lock) no longer records every
    /// hashed chunk as verified with the digest it had when it was hashed.
    /// May wait for the job to leave its current block: call it on an I/O thread.
    func take(_ id: UploadID, checkedAgainst map: ChunkMap) -> PartialSHA256? {
        guard let entry = entries.withLock({ $0.removeValue(forKey: id) }) else { return nil }
        stop(entry)
        return entries.withLock { _ in
            guard !entry.readingOverwritten, entry.digests.count <= map.chunks.count else { return nil }
            for (position, digest) in entry.digests.enumerated() where map.chunks[position] != .verified(digest) { return nil }
            return entry.partial
        }
    }

    /// The upload is gone (deleted, expired) or complete.
    func forget(_ id: UploadID) {
        if let entry = entries.withLock({ $0.removeValue(forKey: id) }) { stop(entry) }
    }

    /// Bytes of whole chunks hashed so far for `id`.
    func hashedBytes(_ id: UploadID) -> Int64? {
        entries.withLock { $0[id]?.hashedBytes }
    }

    /// Stops the job of a removed entry. A job still queued stops by itself
    /// when it runs (it checks `stopped` before touching `partial`); only one
    /// inside `run` is waited for, at most one block's read and hash.
    private func stop(_ entry: Entry) {
        let wait = entries.withLock { _ in
            entry.stopped = true
            entry.stopWaiting = entry.stopWaiting || entry.inRun
            return entry.inRun
        }
        if wait { entry.leftRun.wait() }
    }

    private func schedule(_ entry: Entry, of id: UploadID, files: Files) {
        lane.submit { [self] state in
            guard case .active = state else {
                entries.withLock { _ in entry.scheduled = false }
                return
            }
            let enter = entries.withLock { _ in
                entry.inRun = !entry.stopped
                if !entry.inRun { entry.scheduled = false }
                return entry.inRun
            }
            guard enter else { return }
            let more = run(entry, of: id, files: files)
            let after = entries.withLock { _ in
                entry.inRun = false
                // Ends the job in the same critical section as the decision,
                // so a commit that set `lookAgain` just before is never lost.
                let carryOn = !entry.stopped && (more || entry.lookAgain)
                entry.lookAgain = false
                entry.scheduled = carryOn
                defer { entry.stopWaiting = false }
                return (carryOn: carryOn, wake: entry.stopWaiting)
            }
            if after.wake { entry.leftRun.signal() }
            if after.carryOn { schedule(entry, of: id, files: files) }
        }
    }

    /// Hashes verified chunks from `entry.next` on, for one slice. Answers
    /// true when the slice ran out before the chunks did.
    private func run(_ entry: Entry, of id: UploadID, files: Files) -> Bool {
        guard let map = try? ChunkMapFile.open(files.map), let data = try? OwnedDescriptor.open(files.data, .readOnly) else {
            abandon(entry, of: id)
            return false
        }
        defer {
            try? map.close()
            try? data.close()
        }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.blockSize, alignment: 4096)
        defer { buffer.deallocate() }
        let layout = map.layout
        var budget = Self.sliceBytes
        while budget > 0 {
            // `next` is the job's own while it runs: nobody else writes it.
            let index: ChunkIndex? = entries.withLock { _ in
                guard !entry.stopped, entry.next.value < layout.chunkCount else { return nil }
                entry.reading = entry.next
                entry.readingOverwritten = false
                entry.lookAgain = false
                return entry.next
            }
            guard let index else { return false }
            guard case .verified(let digest)? = try? map.readEntry(index) else {
                // Not there yet: a write of it, begun or not, touches nothing hashed.
                entries.withLock { _ in
                    entry.reading = nil
                    entry.readingOverwritten = false
                }
                return false
            }
            let range = layout.range(of: index)
            var offset = range.offset
            while offset < range.end {
                guard !entries.withLock({ _ in entry.stopped }) else { return false }
                let block = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<Int(min(Int64(buffer.count), range.end - offset))])
                guard let read = try? data.readAll(fromAbsoluteOffset: offset, into: block), read == block.count else {
                    // Part of a chunk is in the hash, and the rest cannot be read.
                    abandon(entry, of: id)
                    return false
                }
                entry.partial.update(UnsafeRawBufferPointer(block))
                offset += Int64(read)
            }
            budget -= range.length
            let clean = entries.withLock { _ in
                guard !entry.readingOverwritten else { return false }
                entry.next = index.advanced(by: 1)
                entry.hashedBytes = range.end
                entry.digests.append(digest)
                entry.reading = nil
                return true
            }
            guard clean else {
                // The chunk was rewritten while it was read: its hash is of neither version.
                abandon(entry, of: id)
                return false
            }
        }
        return true
    }

    /// Drops the upload's state for good; `complete` will read the whole file.
    private func abandon(_ entry: Entry, of id: UploadID) {
        entries.withLock { entries in
            entry.stopped = true
            if entries[id] === entry { entries.removeValue(forKey: id) }
        }
    }
}
