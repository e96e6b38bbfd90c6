/// An upload's state as a listing shows it: its map's state, or that its
/// map cannot be read (a listing names such an upload instead of failing).
public enum ListedState: String, Sendable, Hashable, CaseIterable {
    case receiving
    case complete
    case damaged
    case unreadable

    public init(_ state: UploadState) {
        switch state {
        case .receiving: self = .receiving
        case .complete: self = .complete
        case .damaged: self = .damaged
        }
    }
}

/// What a listing says of an upload whose chunk map reads: a summary, so
/// that a page holds no chunk entries.
public struct ReadableUpload: Sendable, Hashable {
    public let id: UploadID
    public let state: UploadState
    public let layout: ChunkLayout
    public let receivedChunks: Int
    public let receivedBytes: Int64
    /// The SHA-256 confirmed from disk, once complete (kept when damaged).
    public let confirmedSHA256: SHA256Digest?
    /// The SHA-256 the client announced at creation.
    public let expectedSHA256: SHA256Digest?
    public let createdAt: Timestamp
    /// When its chunk map last changed.
    public let updatedAt: Timestamp
    /// The client's `Upload-Metadata`, verbatim.
    public let metadata: String

    public init(id: UploadID, map: ChunkMap, updatedAt: Timestamp) {
        self.id = id
        state = map.status.state
        layout = map.layout
        receivedChunks = map.verifiedCount
        receivedBytes = map.verifiedBytes
        confirmedSHA256 = map.status.sha256
        expectedSHA256 = map.header.expectedSHA256
        createdAt = map.header.createdAt
        self.updatedAt = updatedAt
        metadata = map.header.metadata
    }
}

/// One upload of a listing.
public enum UploadSummary: Sendable, Hashable {
    case readable(ReadableUpload)
    /// Its chunk map exists but cannot be read; `reason` says why, without
    /// the server's paths.
    case unreadable(id: UploadID, reason: String)

    public var id: UploadID {
        switch self {
        case .readable(let upload): upload.id
        case .unreadable(let id, _): id
        }
    }

    public var state: ListedState {
        switch self {
        case .readable(let upload): ListedState(upload.state)
        case .unreadable: .unreadable
        }
    }
}

/// One page of a listing, by id ascending.
public struct UploadPage: Sendable, Hashable {
    public let uploads: [UploadSummary]
    /// Where the next page starts (pass it as `after`): the last id of this
    /// page, when at least one more upload of the state asked for follows;
    /// nil on the last page.
    public let next: UploadID?

    public init(uploads: [UploadSummary], next: UploadID?) {
        self.uploads = uploads
        self.next = next
    }
}
