import NIOCore

/// What the server knows of one upload, read from its chunk map.
public struct UploadSnapshot: Sendable {
    public let id: UploadID
    public let map: ChunkMap
    /// When its chunk map last changed.
    public let updatedAt: Timestamp

    public var layout: ChunkLayout { map.layout }

    /// `receiving`, `complete` or `damaged`.
    public var state: UploadState { map.status.state }
}

/// What a chunk `PUT` achieved.
public struct ChunkReceipt: Sendable {
    public let index: ChunkIndex
    public let digest: XXH3Digest
    /// false when the chunk was already verified with the same bytes: the
    /// body was read and hashed, and nothing was written.
    public let written: Bool
    public let receivedChunks: Int
    public let chunkCount: Int
}

/// What an append achieved.
public struct AppendReceipt: Sendable {
    /// The upload's append offset now: every byte before it is stored.
    public let offset: Int64
    /// Chunks that became verified.
    public let verified: [ChunkIndex]
    /// Every byte of the upload is stored and every chunk verified.
    public let isFull: Bool
}

/// The XXH3 of each block of one chunk, as its bytes are on disk now.
public struct ChunkBlockDigests: Sendable {
    public let blocks: ChunkBlocks
    /// One per block, in order.
    public let digests: [XXH3Digest]
}

/// What a block write left: the chunk verified again, or still corrupt.
public struct BlockWriteReceipt: Sendable {
    public let index: ChunkIndex
    /// `.verified` once the whole chunk hashes to its recorded digest again,
    /// else `.corrupt(expected:)` with that recorded digest.
    public let state: ChunkState
    /// The XXH3 of the whole chunk's bytes on disk after the write.
    public let digest: XXH3Digest
}

/// A digest of an append's whole body, which the body must match.
public struct BodyChecksum: Sendable, Hashable {
    public let algorithm: ChecksumAlgorithm
    public let digest: [UInt8]

    public init(_ algorithm: ChecksumAlgorithm, digest: [UInt8]) {
        self.algorithm = algorithm
        self.digest = digest
    }
}

/// A complete upload's bytes, read from disk as they are sent.
public struct DataStream: Sendable {
    /// The range served, and the file's whole size.
    public let range: ByteRange
    public let fileSize: Int64
    public let buffers: FileRangeReader
}

/// What an audit of one upload found.
public struct AuditReport: Sendable {
    public let checkedChunks: Int
    /// What no longer matches: each chunk found corrupt (now marked so),
    /// and a SHA-256 that changed.
    public let findings: [IntegrityFinding]
    /// nil when the upload is not complete (there is no SHA-256 to check yet).
    public let sha256Matches: Bool?

    /// What healing from the upload's parity did, when it was asked for.
    public var heal: HealResult?

    public init(checkedChunks: Int, findings: [IntegrityFinding], sha256Matches: Bool?, heal: HealResult? = nil) {
        self.checkedChunks = checkedChunks
        self.findings = findings
        self.sha256Matches = sha256Matches
        self.heal = heal
    }

    /// The chunks found corrupt.
    public var corrupt: [ChunkIndex] { findings.compactMap { $0.chunk?.index } }
}

/// What an audit that heals did with the upload's parity (`ID.parity`).
public enum HealResult: Sendable, Equatable {
    /// The upload has no parity (its server runs without `--parity`, or it
    /// was completed before, or writing it failed).
    case noParity
    /// Nothing was damaged, in the data or the parity.
    case nothingToHeal
    /// Healed in place: these chunks rebuilt, these parity shards rewritten,
    /// and the upload complete again with its SHA-256 read back from disk.
    case healed(chunks: [ChunkIndex], parityShards: [Int], sha256: SHA256Digest)
    /// Not healed, nothing changed: why (more damage than the parity covers,
    /// a parity of another file or version, …).
    case refused(String)
}

/// The server's storage. Only the store touches disk; it never sees HTTP.
///
/// Contract, for every implementation:
/// - An upload is its data file (created sparse at full length) and, next to
///   it, its chunk map, which is the source of truth. The data file's size
///   never changes after creation.
/// - A chunk becomes `verified` only after its exact length arrived, its
///   XXH3 (and any digest the client gave) matched, and its bytes were written
///   at its offset (and, unless disabled, fdatasync'ed); its map entry is
///   written after that, by one positioned write.
/// - A verified chunk is never rewritten: the same bytes again are hashed and
///   ignored, other bytes are a conflict.
/// - A request that fails changes nothing it was not meant to, and never
///   marks a chunk verified.
/// - Every decision is read from the files at the moment it is made, under
///   the chunk map's locks, so any number of stores (processes, nodes) may
///   share one directory.
///
/// Every method throws `UploadError`: `.notFound` for an id with no upload,
/// `.storage` for a failed system call, `.damagedMap` for a map whose
/// header cannot be read, and the cases each method names.
public protocol UploadStore: Sendable {
    /// Throws `.storageUnreachable` while the store's storage cannot be read
    /// (a lost mount): what the health check answers.
    func checkReachable() throws

    /// A new, empty upload. Throws `.tooLarge`, `.invalidChunkSize`,
    /// `.insufficientStorage`, `.tooManyUploads`.
    func create(length: ByteCount, chunkSize: ByteCount?, expectedSHA256: SHA256Digest?, metadata: String) async throws -> UploadSnapshot

    /// The upload's map as of now.
    func snapshot(_ id: UploadID) async throws -> UploadSnapshot

    /// A page of the uploads in the directory, by id ascending: those after
    /// `cursor` (from the first when nil) whose state is `state` (any when
    /// nil), at most `limit` (above 0). A map that cannot be read is listed
    /// as `unreadable`; files that are not uploads are not listed.
    func list(after cursor: UploadID?, limit: Int, state: ListedState?) async throws -> UploadPage

    /// The upload's geometry, which never changes (so it may be cached).
    func layout(_ id: UploadID) async throws -> ChunkLayout

    /// The chunk map's exact bytes, in the `.chunkmap` format.
    func chunkMapBytes(_ id: UploadID) async throws -> [UInt8]

    /// Receives chunk `index` whole, streaming `body` to its place as it
    /// arrives. Throws `.noSuchChunk`, `.chunkBusy` (another writer has it),
    /// `.chunkConflict` (verified with other bytes), `.uploadComplete`,
    /// `.bodyTooShort`, `.bodyTooLong`, `.digestMismatch`.
    func receiveChunk(
        _ id: UploadID, index: ChunkIndex, expected: ExpectedDigests, body: some AsyncSequence<ByteBuffer, any Error> & Sendable
    ) async throws -> ChunkReceipt

    /// The XXH3 of each block of chunk `index` (see `ChunkBlocks`) as its
    /// bytes are on disk now, whatever the chunk's state. Read under the
    /// chunk's lock, taken shared and tried once: its writers hold it
    /// exclusively, so no half-written chunk is read, and a writer at work
    /// makes this `.chunkBusy`. Throws `.noSuchChunk`, `.invalidBlockSize`,
    /// `.chunkBusy`, `.dataSizeMismatch` (the data file no longer reaches the
    /// chunk's end).
    func blockDigests(_ id: UploadID, index: ChunkIndex, blockSize: Int64) async throws -> ChunkBlockDigests

    /// Writes `body` over `range`, which lies inside chunk `index`, in place:
    /// only into a chunk recorded `corrupt` (a verified chunk is never
    /// rewritten, a missing one has no digest to reach: it is sent whole).
    /// Holds the chunk's lock exclusively, as a chunk write does. The body is
    /// gathered whole and checked (its length, every digest given) before a
    /// byte is written; then the bytes are written and synced, and the whole
    /// chunk is re-hashed from disk: it becomes `verified` (its entry written
    /// after the data's sync) only when it hashes to its recorded digest
    /// again, else it stays `corrupt`. The data file's size never changes.
    /// Throws `.noSuchChunk`, `.rangeOutsideChunk`, `.blockWriteTooLarge`,
    /// `.chunkBusy`, `.uploadComplete`, `.finalUpload`, `.chunkVerified`,
    /// `.chunkMissing`, `.bodyTooShort`, `.bodyTooLong`, `.digestMismatch`,
    /// `.dataSizeMismatch`.
    func writeBlocks(
        _ id: UploadID, index: ChunkIndex, range: ByteRange, expected: ExpectedDigests, body: some AsyncSequence<ByteBuffer, any Error> & Sendable
    ) async throws -> BlockWriteReceipt

    /// Appends `body` at `offset`, which must be the upload's append offset,
    /// in place. Every chunk the stored bytes fill is hashed and verified; the
    /// append offset moves to what is durably stored. A body cut short keeps
    /// what arrived up to its last durable point. With a `checksum` of the
    /// whole body, nothing is verified and the offset does not move unless
    /// it matches. Throws `.offsetMismatch`, `.appendBusy`, `.chunkBusy`,
    /// `.pastTheEnd`, `.checksumMismatch`, `.appendConflict`, `.uploadComplete`,
    /// `.appendCutShort` (with the offset kept).
    func append(
        _ id: UploadID, at offset: Int64, checksum: BodyChecksum?, body: some AsyncSequence<ByteBuffer, any Error> & Sendable
    ) async throws -> AppendReceipt

    /// Checks every chunk is verified, then re-reads the data file once,
    /// computing its SHA-256 and re-checking every chunk's XXH3. The SHA-256
    /// must equal the one given, or announced at creation; with neither,
    /// `requireSHA256` false records the one computed (a tus or IETF client
    /// that gave none), and true refuses with `.sha256Required`. Throws
    /// `.sha256Disagrees`, `.incomplete`, `.corrupt` (with its findings),
    /// `.dataSizeMismatch`, `.sha256Mismatch`.
    func complete(_ id: UploadID, sha256: SHA256Digest?, requireSHA256: Bool) async throws -> UploadSnapshot

    /// Re-reads the data file, marks chunks whose bytes changed `corrupt`, and
    /// re-checks the SHA-256 of a complete upload unless `checkSHA256` is
    /// false (a repair that completes right after checks it then).
    /// `heal`: then heals what it found from the upload's parity, when it
    /// has one (see `HealResult`).
    func audit(_ id: UploadID, checkSHA256: Bool, heal: Bool) async throws -> AuditReport

    /// `range` (the whole file when nil) of a complete upload, as a stream
    /// of buffers read from disk. Throws `.notComplete`, `.rangeOutsideFile`.
    func read(_ id: UploadID, range: ByteRange?) async throws -> DataStream

    /// Waits for the upload's writers to finish, then removes it.
    func delete(_ id: UploadID) async throws

    /// Removes incomplete uploads whose chunk map has not changed for `idle`; returns their ids.
    func expire(idleLongerThan idle: Duration) async throws -> [UploadID]

    /// A new, empty upload recorded as a partial upload (see
    /// `ConcatenationRole`): one that, once complete, may be concatenated
    /// into others. Otherwise made, written and completed as `create`'s
    /// uploads are. Throws as `create` does, and `.reservedMetadataKey`,
    /// `.metadataTooLong`.
    func createPartial(length: ByteCount, chunkSize: ByteCount?, expectedSHA256: SHA256Digest?, metadata: String) async throws -> UploadSnapshot

    /// A new upload whose bytes are those of `parts`, in this order (a part
    /// may be named more than once). Each part must be a partial upload and
    /// complete; each is held under its `.upload` lock, shared, from its
    /// check to the end of the copy, so none changes meanwhile, and none is
    /// changed. The new upload (of `chunkSize`, or the default geometry) is
    /// recorded as their concatenation, and returned complete: every chunk
    /// verified and the SHA-256 read back from disk, equal to
    /// `expectedSHA256` when one is given, and each part's bytes in it
    /// checked against that part's chunk map. When it fails, the new upload
    /// is removed (after a crash, it is left `receiving`, no chunk verified).
    /// Throws `.partNotFound`, `.notAPartial`, `.partIncomplete`,
    /// `.partDamaged`, `.tooLarge` (their total), `.sha256Mismatch`,
    /// `.reservedMetadataKey`, `.metadataTooLong`, and as `create`.
    func concatenate(_ parts: [UploadID], chunkSize: ByteCount?, expectedSHA256: SHA256Digest?, metadata: String) async throws -> UploadSnapshot
}

extension UploadStore {
    public func audit(_ id: UploadID) async throws -> AuditReport { try await audit(id, checkSHA256: true, heal: false) }

    public func audit(_ id: UploadID, checkSHA256: Bool) async throws -> AuditReport { try await audit(id, checkSHA256: checkSHA256, heal: false) }

    /// Completes against the SHA-256 given or announced: one is required.
    public func complete(_ id: UploadID, sha256: SHA256Digest?) async throws -> UploadSnapshot {
        try await complete(id, sha256: sha256, requireSHA256: true)
    }
}

extension UploadStore {
    /// A store with no storage of its own to lose (a test's) is always reachable.
    public func checkReachable() throws {}
}
