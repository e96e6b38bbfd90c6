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

/// What an audit of one upload found.
public struct AuditReport: Sendable {
    public let checkedChunks: Int
    /// Chunks whose bytes no longer match; now marked corrupt.
    public let corrupt: [ChunkIndex]
    /// nil when the upload is not complete (there is no SHA-256 to check yet).
    public let sha256Matches: Bool?
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
/// - Chunk states are read from the map on disk at every request, so marks
///   made by another process (the offline `audit`) are seen at once.
extension UploadStore {
    public func audit(_ id: UploadID) async throws -> AuditReport { try await audit(id, checkSHA256: true) }
}

public protocol UploadStore: Sendable {
    func create(length: ByteCount, chunkSize: ByteCount?, expectedSHA256: SHA256Digest?, metadata: String) async throws -> UploadSnapshot

    func snapshot(_ id: UploadID) async throws -> UploadSnapshot

    /// The chunk map's exact bytes, in the `.chunkmap` format.
    func chunkMapBytes(_ id: UploadID) async throws -> [UInt8]

    /// Receives one whole chunk, streaming `body` to disk as it arrives.
    func receiveChunk(
        _ id: UploadID, range: ContentRange, digests: DigestField, body: some AsyncSequence<ByteBuffer, any Error> & Sendable
    ) async throws -> ChunkReceipt

    /// Checks every chunk is verified, then re-reads the data file once,
    /// computing its SHA-256 and re-checking every chunk's XXH3.
    func complete(_ id: UploadID, sha256: SHA256Digest?) async throws -> UploadSnapshot

    /// Re-reads the data file, marks chunks whose bytes changed `corrupt`, and
    /// re-checks the SHA-256 of a complete upload unless `checkSHA256` is
    /// false (a repair that completes right after checks it then).
    func audit(_ id: UploadID, checkSHA256: Bool) async throws -> AuditReport

    /// The data file of a complete upload, for reading.
    func openData(_ id: UploadID) async throws -> OwnedDescriptor

    func delete(_ id: UploadID) async throws

    /// Removes incomplete uploads whose chunk map has not changed for `idle`; returns their ids.
    func expire(idleLongerThan idle: Duration) async throws -> [UploadID]
}
