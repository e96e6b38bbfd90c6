/// The uploads in progress and the bytes each still has to write. A sparse
/// data file takes no disk until its chunks arrive, so a creation is checked
/// against the free disk minus what every open upload still needs (else ten
/// thousand huge creations would each see the whole disk free), and against
/// a limit on how many may be open at once.
final class OpenUploads: Sendable {
    private struct Ledger {
        var remaining: [UploadID: Int64] = [:]
        var total: Int64 = 0
    }
    private let ledger = Locked(Ledger())
    let limit: Int

    init(limit: Int) { self.limit = limit }

    var count: Int { ledger.withLock { $0.remaining.count } }
    var bytesStillNeeded: Int64 { ledger.withLock { $0.total } }

    /// Admits a new upload of `length` bytes, given the disk's free bytes.
    func admit(_ id: UploadID, length: Int64, available: Int64) throws(UploadError) {
        try ledger.withLock { (ledger: inout Ledger) throws(UploadError) in
            guard ledger.remaining.count < limit else { throw .tooManyUploads(limit: limit) }
            let free = max(0, available - ledger.total)
            guard free >= length else { throw .insufficientStorage(needed: length, available: free) }
            ledger.remaining[id] = length
            ledger.total += length
        }
    }

    /// Counts an upload found on disk at start-up.
    func adopt(_ id: UploadID, remaining: Int64) {
        ledger.withLock { ledger in
            ledger.remaining[id] = remaining
            ledger.total += remaining
        }
    }

    /// A chunk of `bytes` was written and verified.
    func wrote(_ bytes: Int64, to id: UploadID) {
        ledger.withLock { ledger in
            guard let left = ledger.remaining[id] else { return }
            let used = min(left, bytes)
            ledger.remaining[id] = left - used
            ledger.total -= used
        }
    }

    /// The upload completed, was deleted or expired.
    func release(_ id: UploadID) {
        ledger.withLock { ledger in
            if let left = ledger.remaining.removeValue(forKey: id) { ledger.total -= left }
        }
    }
}
