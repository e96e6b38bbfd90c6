#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// `GET /uploads`: one page of the uploads, and where the next starts.
public struct UploadListDocument: Codable, Sendable, Equatable {
    public let uploads: [UploadListEntry]
    /// The `cursor` of the next page, or nil on the last one.
    public let next: String?

    public init(uploads: [UploadListEntry], next: String?) {
        self.uploads = uploads
        self.next = next
    }

    public init(_ page: UploadPage) {
        self.init(uploads: page.uploads.map(UploadListEntry.init), next: page.next?.rawValue)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(uploads, forKey: .uploads)
        try container.encode(next, forKey: .next)
    }
}

/// One upload of `GET /uploads`. Every key is present; those a map that
/// cannot be read does not give are null (and `reason` says why).
public struct UploadListEntry: Codable, Sendable, Equatable {
    public let id: String
    /// `/uploads/ID` as the server gives it; a client makes it absolute
    /// (`resolved(against:)`).
    public private(set) var url: String
    /// `receiving`, `complete`, `damaged` or `unreadable`.
    public let state: String
    public let size: Int64?
    public let chunkSize: Int64?
    public let chunkCount: Int?
    public let receivedChunks: Int?
    public let receivedBytes: Int64?
    /// Confirmed from disk, as in the status JSON.
    public let sha256: String?
    /// Announced by the client at creation.
    public let expectedSHA256: String?
    /// `filename` of `Upload-Metadata`, decoded.
    public let filename: String?
    public let createdAt: String?
    public let updatedAt: String?
    /// Why the map cannot be read; null for every other state.
    public let reason: String?

    public init(_ summary: UploadSummary) {
        id = summary.id.rawValue
        url = "/uploads/\(summary.id.rawValue)"
        state = summary.state.rawValue
        switch summary {
        case .readable(let upload):
            size = upload.layout.fileSize.bytes
            chunkSize = upload.layout.chunkSize.bytes
            chunkCount = upload.layout.chunkCount
            receivedChunks = upload.receivedChunks
            receivedBytes = upload.receivedBytes
            sha256 = upload.confirmedSHA256?.description
            expectedSHA256 = upload.expectedSHA256?.description
            filename = Self.filename(in: upload.metadata)
            createdAt = UploadStatusDocument.iso8601(upload.createdAt)
            updatedAt = UploadStatusDocument.iso8601(upload.updatedAt)
            reason = nil
        case .unreadable(_, let why):
            (size, chunkSize, chunkCount, receivedChunks, receivedBytes) = (nil, nil, nil, nil, nil)
            (sha256, expectedSHA256, filename, createdAt, updatedAt) = (nil, nil, nil, nil, nil)
            reason = why
        }
    }

    /// The same entry with `url` absolute, for a client that knows the server.
    public func resolved(against server: String) -> UploadListEntry {
        var copy = self
        if url.hasPrefix("/") { copy.url = server + url }
        return copy
    }

    /// As the status JSON decodes it: base64 of UTF-8, else as given.
    static func filename(in metadata: String) -> String? {
        guard let pair = ((try? UploadMetadata.validate(metadata)) ?? []).first(where: { $0.key == "filename" }) else { return nil }
        return Data(base64Encoded: pair.value).flatMap { String(data: $0, encoding: .utf8) } ?? pair.value
    }

    public func encode(to encoder: any Encoder) throws {
        // Every key, null where it does not apply, as every answer of the contract.
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(url, forKey: .url)
        try container.encode(state, forKey: .state)
        try container.encode(size, forKey: .size)
        try container.encode(chunkSize, forKey: .chunkSize)
        try container.encode(chunkCount, forKey: .chunkCount)
        try container.encode(receivedChunks, forKey: .receivedChunks)
        try container.encode(receivedBytes, forKey: .receivedBytes)
        try container.encode(sha256, forKey: .sha256)
        try container.encode(expectedSHA256, forKey: .expectedSHA256)
        try container.encode(filename, forKey: .filename)
        try container.encode(createdAt, forKey: .createdAt)
        try container.encode(updatedAt, forKey: .updatedAt)
        try container.encode(reason, forKey: .reason)
    }
}
