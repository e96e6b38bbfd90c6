import SystemPackage

/// Every way an upload request can fail, in the store's terms. The HTTP layer
/// maps each case to one problem type and status (see `Problem`).
public enum UploadError: Error, Sendable, CustomStringConvertible {
    case notFound
    case tooLarge(size: Int64, limit: Int64)
    case invalidChunkSize(ChunkLayoutError)
    case insufficientStorage(needed: Int64, available: Int64)
    case tooManyUploads(limit: Int)
    case noSuchChunk(ChunkIndex, chunkCount: Int)
    case bodyTooShort(expected: Int64, received: Int64)
    case bodyTooLong(expected: Int64)
    case bodyTimedOut(expected: Int64, received: Int64, seconds: Int)
    case digestMismatch(algorithm: String, index: ChunkIndex, expected: String, actual: String)
    case chunkBusy(ChunkIndex)
    /// Another append to the upload is in progress.
    case appendBusy
    /// An append must start at the upload's append offset.
    case offsetMismatch(given: Int64, expected: Int64)
    /// The body runs past the upload's length.
    case pastTheEnd(length: Int64)
    /// An append's body did not match its checksum; nothing of it was kept.
    case checksumMismatch(algorithm: ChecksumAlgorithm, expected: [UInt8], actual: [UInt8])
    /// The body ended early: the bytes up to `kept` are stored.
    case appendCutShort(kept: Int64)
    /// The append's bytes differ from those of a chunk already verified.
    case appendConflict(ChunkIndex)
    case chunkConflict(ChunkIndex)
    /// A corrupt chunk of a damaged upload received bytes that are not the
    /// ones it was verified with: it stays corrupt.
    case repairConflict(ChunkIndex, recorded: XXH3Digest, received: XXH3Digest)
    /// A damaged upload is completed again only as the file it was confirmed as.
    case confirmedOtherwise(confirmed: SHA256Digest, given: SHA256Digest)
    case uploadComplete
    case sha256Required
    case sha256Disagrees(atCreation: SHA256Digest, atCompletion: SHA256Digest)
    case incomplete(missing: [ChunkIndex], corrupt: [ChunkIndex])
    case corrupt([IntegrityFinding])
    case dataSizeMismatch(expected: Int64, actual: Int64)
    case sha256Mismatch(expected: SHA256Digest, actual: SHA256Digest)
    case notComplete
    case rangeOutsideFile(ByteRange, fileSize: Int64)
    /// The upload's chunk map cannot be read (its header is damaged).
    case damagedMap(ChunkMapError)
    /// Metadata names the key the store records concatenations under.
    case reservedMetadataKey(String)
    /// The metadata and the store's record of a concatenation are, together, over the map's limit.
    case metadataTooLong(bytes: Int, limit: Int)
    /// A part named for a concatenation does not exist.
    case partNotFound(UploadID)
    /// A part named for a concatenation was not created as a partial upload.
    case notAPartial(UploadID)
    /// A part named for a concatenation is not complete.
    case partIncomplete(UploadID, stored: Int64, length: Int64)
    /// A part's bytes on disk no longer match its chunk map (these chunks;
    /// none named when its data file is no longer its length).
    case partDamaged(UploadID, chunks: [ChunkIndex])
    /// The upload is a final one (made by concatenation): its bytes are its
    /// partial uploads', so it takes no appends, nor chunk writes until its
    /// concatenation finished (then only a repair's, once an audit marked it damaged).
    case finalUpload
    /// A block size a chunk cannot be cut into (see `ChunkBlocks`).
    case invalidBlockSize(BlockSizeError)
    /// A block write's range does not lie inside the chunk it names.
    case rangeOutsideChunk(ByteRange, index: ChunkIndex, chunk: ByteRange)
    /// A block write longer than a server holds at once.
    case blockWriteTooLarge(length: Int64, limit: Int64)
    /// A block write into a verified chunk: it is never rewritten.
    case chunkVerified(ChunkIndex)
    /// A block write into a missing chunk: it has no recorded digest to
    /// reach, so it is sent whole.
    case chunkMissing(ChunkIndex)
    case storage(IOError)
    /// The data directory cannot be reached (a lost mount, say): nothing was
    /// read or changed, and the same request may succeed later or on another node.
    case storageUnreachable(String)

    public var description: String {
        switch self {
        case .notFound:
            return "no such upload"
        case .tooLarge(let size, let limit):
            return "an upload of \(size) bytes is over this server's limit of \(limit) bytes"
        case .invalidChunkSize(let error):
            return error.description
        case .insufficientStorage(let needed, let available):
            return "not enough free disk: \(needed) bytes needed, \(available) available once the uploads in progress are counted"
        case .tooManyUploads(let limit):
            return "this server already has \(limit) uploads in progress, its limit; complete or delete one, or retry later"
        case .noSuchChunk(let index, let count):
            return "there is no chunk \(index): this upload has \(count) chunks"
        case .bodyTooShort(let expected, let received):
            return "the body ended after \(received) of the \(expected) bytes of its chunk"
        case .bodyTooLong(let expected):
            return "the body is longer than the \(expected) bytes of its chunk"
        case .bodyTimedOut(let expected, let received, let seconds):
            return "the chunk's body did not arrive within \(seconds) s (\(received) of \(expected) bytes)"
        case .digestMismatch(let algorithm, let index, let expected, let actual):
            return "chunk \(index): the client's \(algorithm) is \(expected), the body's is \(actual)"
        case .chunkBusy(let index):
            return "chunk \(index) is being written by another request right now; retry after it finishes"
        case .appendBusy:
            return "another append to this upload is in progress; retry once it ends"
        case .offsetMismatch(let given, let expected):
            return "the append starts at byte \(given), but this upload has \(expected) bytes stored: append from \(expected)"
        case .pastTheEnd(let length):
            return "the body runs past the upload's length of \(length) bytes"
        case .checksumMismatch(let algorithm, let expected, let actual):
            return "the body's \(algorithm) is \(Hex.encode(actual)), the client's is \(Hex.encode(expected)); nothing of it was kept"
        case .appendCutShort(let kept):
            return "the body ended early; the upload has \(kept) bytes stored: append from there"
        case .appendConflict(let index):
            return "the bytes for chunk \(index) differ from those it is already verified with; a verified chunk is never rewritten"
        case .chunkConflict(let index):
            return "chunk \(index) is already verified with other bytes; a verified chunk is never rewritten"
        case .repairConflict(let index, let recorded, let received):
            return "chunk \(index) is repaired only with the bytes it was verified with (xxh3 \(recorded)); these hash to \(received), so it stays corrupt: "
                + "send the chunk from a good copy of the file"
        case .confirmedOtherwise(let confirmed, let given):
            return "this upload was confirmed with SHA-256 \(confirmed), not \(given): a damaged upload is completed again only as the file it was "
                + "(to store another file, create a new upload)"
        case .uploadComplete:
            return "the upload is complete; its chunks can no longer be written"
        case .sha256Required:
            return "a SHA-256 is required to complete an upload that announced none at creation"
        case .sha256Disagrees(let creation, let completion):
            return "the SHA-256 given at completion (\(completion)) disagrees with the one given at creation (\(creation))"
        case .incomplete(let missing, let corrupt):
            return "\(missing.count) chunks are missing and \(corrupt.count) corrupt; send them before completing"
        case .corrupt(let findings):
            return "\(findings.count) chunks no longer match their checksums on disk and are now marked corrupt; send them again"
        case .dataSizeMismatch(let expected, let actual):
            return "the data file is \(actual) bytes on disk where the upload is \(expected)"
        case .sha256Mismatch(let expected, let actual):
            return "the file's SHA-256 is \(actual), expected \(expected)"
        case .notComplete:
            return "the upload is not complete; its data can be read once it is"
        case .rangeOutsideFile(let range, let size):
            return "\(range) is outside this \(size)-byte file"
        case .damagedMap(let error):
            return "this upload's chunk map cannot be read: \(error)"
        case .reservedMetadataKey(let key):
            return "the metadata key '\(key)' is reserved: the server records concatenations under it; use another key"
        case .metadataTooLong(let bytes, let limit):
            return
                "the metadata and the list of partial uploads take \(bytes) bytes together, over the limit of \(limit): send less metadata or concatenate fewer partial uploads"
        case .partNotFound(let id):
            return "partial upload \(id) does not exist (deleted, expired, or never created): upload that part again and name the new one"
        case .notAPartial(let id):
            return "upload \(id) was not created as a partial upload, so it cannot be concatenated: create each part as a partial upload"
        case .partIncomplete(let id, let stored, let length):
            return
                "partial upload \(id) is not complete (\(stored) of \(length) bytes stored): finish it (or repair it, if it is damaged), then concatenate"
        case .partDamaged(let id, let chunks):
            guard !chunks.isEmpty else {
                return "partial upload \(id)'s data file is no longer its length on disk: upload that part again, then concatenate"
            }
            let named = chunks.prefix(10).map(\.description).joined(separator: ", ") + (chunks.count > 10 ? " and \(chunks.count - 10) more" : "")
            return
                "partial upload \(id)'s chunks \(named) no longer hold the bytes they were verified with: audit it, send those chunks again, then concatenate"
        case .finalUpload:
            return
                "this upload is the concatenation of partial uploads (its tus HEAD names them in Upload-Concat): its bytes are theirs;"
                + " create a new final upload to change them"
        case .invalidBlockSize(let error):
            return error.description
        case .rangeOutsideChunk(let range, let index, let chunk):
            return "\(range) is not inside chunk \(index) (\(chunk)): a block write stays inside the one chunk its path names"
        case .blockWriteTooLarge(let length, let limit):
            return "a block write of \(length) bytes is over the limit of \(limit) bytes: send it as several block writes, or the whole chunk with PUT"
        case .chunkVerified(let index):
            return "chunk \(index) is verified, and a verified chunk is never rewritten: block writes are only for corrupt chunks"
        case .chunkMissing(let index):
            return "chunk \(index) is missing: it has no recorded XXH3 for block writes to reach; send it whole with PUT"
        case .storage(let error):
            // The server's paths stay out of answers to clients; its log has them.
            let reason = "\(error.operation): \(error.errno.description)"
            if error.isStorageUnreachable { return "the server's storage cannot be reached (\(reason)); retry later or through another node" }
            return error.isOutOfSpace ? "the server's disk is full (\(reason)); retry once space is freed" : "storage error (\(reason))"
        case .storageUnreachable(let reason):
            return "the server's storage cannot be reached (\(reason)); retry later or through another node"
        }
    }
}
