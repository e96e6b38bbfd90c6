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
/// first. Bytes that change at rest afterwards are caught by `complete`,
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
        /// The end of the last whole chunk hashed.
        var hashedBytes: Int64 = 0
        var running = false
        /// A chunk was committed while the job ran: look again before stopping.
        var lookAgain = false
        /// Taken by `complete` or dropped: the job stops at its next block.
        var stopped = false
        /// Signalled when a job that was asked to stop has stopped.
        let jobEnded = DispatchSemaphore(value: 0)
    }

    struct Files: Sendable {
        let data: FilePath
        let map: FilePath
    }

    /// Bytes one job hashes before it lets another upload have the thread.
    static let sliceBytes: Int64 = 256 << 20
    static let blockSize = 2 << 20

    private let entries = Locked<[UploadID: Entry]>([:])

    /// Shared by every store in the process: hashing never takes more than one core.
    private static let thread: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        return pool
    }()

    init() {}

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
                if let index, index != entry.next, !entry.running { return nil }
            } else {
                // New, or first seen since a restart: hash whatever is verified already.
                entry = Entry()
                entries[id] = entry
            }
            if entry.running {
                entry.lookAgain = true
                return nil
            }
            entry.running = true
            return entry
        }
        if let start { schedule(start, of: id, files: files) }
    }

    /// Chunk `index` (missing or corrupt) is about to be written: if the
    /// hashed prefix holds it, or the job is reading it, what was hashed may
    /// not be the file's bytes once it is.
    func willWrite(_ index: ChunkIndex, of id: UploadID) {
        let stale = entries.withLock { entries -> Entry? in
            guard let entry = entries[id], index < entry.next || index == entry.reading else { return nil }
            return entries.removeValue(forKey: id)
        }
        if let stale { stop(stale) }
    }

    /// Hands the hashed prefix to `complete`, stopping the job first; nil
    /// when there is none. Blocks (briefly): call it on an I/O thread.
    func take(_ id: UploadID) -> PartialSHA256? {
        guard let entry = entries.withLock({ $0.removeValue(forKey: id) }) else { return nil }
        stop(entry)
        return entry.partial
    }

    /// The upload is gone (deleted, expired) or complete.
    func forget(_ id: UploadID) {
        if let entry = entries.withLock({ $0.removeValue(forKey: id) }) { stop(entry) }
    }

    /// Bytes of whole chunks hashed so far for `id`.
    func hashedBytes(_ id: UploadID) -> Int64? {
        entries.withLock { $0[id]?.hashedBytes }
    }

    private func stop(_ entry: Entry) {
        let wasRunning = entries.withLock { _ in
            entry.stopped = true
            return entry.running
        }
        if wasRunning { entry.jobEnded.wait() }
    }

    private func schedule(_ entry: Entry, of id: UploadID, files: Files) {
        Self.thread.submit { [self] state in
            guard case .active = state else {
                finish(entry)
                return
            }
            if run(entry, of: id, files: files) { schedule(entry, of: id, files: files) }
        }
    }

    /// Hashes verified chunks from `entry.next` on, for one slice. Answers
    /// whether to carry on later (the slice ran out, not the chunks).
    private func run(_ entry: Entry, of id: UploadID, files: Files) -> Bool {
        guard let map = try? ChunkMapFile.open(files.map), let data = try? OwnedDescriptor.open(files.data, .readOnly) else {
            return abandon(entry, of: id)
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
                return entry.next
            }
            guard let index, case .verified? = try? map.readEntry(index) else {
                let again = entries.withLock { _ in
                    defer { entry.lookAgain = false }
                    entry.reading = nil
                    return entry.lookAgain && !entry.stopped
                }
                if again { continue }
                return finish(entry)
            }
            let range = layout.range(of: index)
            var offset = range.offset
            while offset < range.end {
                guard !entries.withLock({ _ in entry.stopped }) else { return finish(entry) }
                let block = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<Int(min(Int64(buffer.count), range.end - offset))])
                guard let read = try? data.read(fromAbsoluteOffset: offset, into: block), read == block.count else {
                    // Part of a chunk is in the hash: this state can never be carried on.
                    return abandon(entry, of: id)
                }
                entry.partial.update(UnsafeRawBufferPointer(block))
                offset += Int64(read)
            }
            budget -= range.length
            entries.withLock { _ in
                entry.next = index.advanced(by: 1)
                entry.hashedBytes = range.end
                entry.reading = nil
            }
        }
        return true
    }

    /// The upload's files failed the job: drop its state, `complete` will read it all.
    private func abandon(_ entry: Entry, of id: UploadID) -> Bool {
        entries.withLock { entries in
            if entries[id] === entry { entries.removeValue(forKey: id) }
        }
        return finish(entry)
    }

    /// The job ends: wake a `stop` waiting for it. Answers false (no more to do).
    @discardableResult
    private func finish(_ entry: Entry) -> Bool {
        let wake = entries.withLock { _ in
            entry.running = false
            entry.reading = nil
            return entry.stopped
        }
        if wake { entry.jobEnded.signal() }
        return false
    }
}
