#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// `GET /uploads/{id}`: where an upload stands, for people and scripts.
public struct UploadStatusDocument: Codable, Sendable {
    public let id: String
    public let size: Int64
    public let chunkSize: Int64
    public let chunkCount: Int
    public let receivedChunks: Int
    public let receivedBytes: Int64
    public let missing: [Int]
    public let corrupt: [Int]
    public let state: String
    public let sha256: String?
    /// `Upload-Metadata`, decoded: key to value (values that are not valid
    /// base64 UTF-8 are kept as given).
    public let metadata: [String: String]
    public let createdAt: String
    public let updatedAt: String

    public init(id: String, map: ChunkMap, updatedAt: Timestamp) {
        self.id = id
        size = map.layout.fileSize.bytes
        chunkSize = map.layout.chunkSize.bytes
        chunkCount = map.layout.chunkCount
        receivedChunks = map.verifiedCount
        receivedBytes = map.verifiedBytes
        missing = map.indices { if case .missing = $0 { true } else { false } }.map(\.value)
        corrupt = map.indices { if case .corrupt = $0 { true } else { false } }.map(\.value)
        state = map.status.state.rawValue
        sha256 = map.status.sha256?.description
        var decoded = [String: String]()
        for pair in (try? UploadMetadata.validate(map.header.metadata)) ?? [] {
            decoded[pair.key] = Data(base64Encoded: pair.value).flatMap { String(data: $0, encoding: .utf8) } ?? pair.value
        }
        metadata = decoded
        createdAt = Self.iso8601(map.header.createdAt)
        self.updatedAt = Self.iso8601(updatedAt)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(size, forKey: .size)
        try container.encode(chunkSize, forKey: .chunkSize)
        try container.encode(chunkCount, forKey: .chunkCount)
        try container.encode(receivedChunks, forKey: .receivedChunks)
        try container.encode(receivedBytes, forKey: .receivedBytes)
        try container.encode(missing, forKey: .missing)
        try container.encode(corrupt, forKey: .corrupt)
        try container.encode(state, forKey: .state)
        try container.encode(sha256, forKey: .sha256)
        try container.encode(metadata, forKey: .metadata)
        try container.encode(createdAt, forKey: .createdAt)
        try container.encode(updatedAt, forKey: .updatedAt)
    }

    static func iso8601(_ time: Timestamp) -> String {
        Date(timeIntervalSince1970: Double(time.millisecondsSinceEpoch) / 1000).formatted(.iso8601)
    }
}

/// The `PUT` answer: `{index, xxh3, receivedChunks, chunkCount}`.
public struct ChunkReceiptDocument: Codable, Sendable {
    public let index: Int
    public let xxh3: String
    public let receivedChunks: Int
    public let chunkCount: Int
    /// false when the chunk was already verified with these bytes (nothing written).
    public let written: Bool
}

/// The `audit` answer.
public struct AuditDocument: Codable, Sendable {
    public let checkedChunks: Int
    public let corrupt: [Int]
    public let sha256Matches: Bool?
    /// What was found wrong, with ranges and both digests (absent from
    /// servers before version 2 of the contract).
    public let findings: [FindingDocument]?
    /// What healing from parity did; null when no heal was asked for.
    public let heal: HealDocument?

    public init(_ report: AuditReport) {
        checkedChunks = report.checkedChunks
        corrupt = report.corrupt.map(\.value)
        sha256Matches = report.sha256Matches
        findings = report.findings.map(FindingDocument.init)
        heal = report.heal.map(HealDocument.init)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(checkedChunks, forKey: .checkedChunks)
        try container.encode(corrupt, forKey: .corrupt)
        try container.encode(sha256Matches, forKey: .sha256Matches)
        try container.encode(findings ?? [], forKey: .findings)
        try container.encode(heal, forKey: .heal)
    }
}

/// An audit's `heal`: `{"result", "chunks", "parityShards", "sha256",
/// "detail"}`, `result` one of `healed`, `nothing-to-heal`, `no-parity`,
/// `refused` (with `detail`, why; nothing was changed).
public struct HealDocument: Codable, Sendable, Equatable {
    public let result: String
    public let chunks: [Int]
    public let parityShards: [Int]
    public let sha256: String?
    public let detail: String?

    public init(_ heal: HealResult) {
        switch heal {
        case .noParity: (result, chunks, parityShards, sha256, detail) = ("no-parity", [], [], nil, nil)
        case .nothingToHeal: (result, chunks, parityShards, sha256, detail) = ("nothing-to-heal", [], [], nil, nil)
        case .healed(let healed, let shards, let digest):
            (result, chunks, parityShards, sha256, detail) = ("healed", healed.map(\.value), shards, digest.description, nil)
        case .refused(let why): (result, chunks, parityShards, sha256, detail) = ("refused", [], [], nil, why)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(result, forKey: .result)
        try container.encode(chunks, forKey: .chunks)
        try container.encode(parityShards, forKey: .parityShards)
        try container.encode(sha256, forKey: .sha256)
        try container.encode(detail, forKey: .detail)
    }

    enum CodingKeys: String, CodingKey { case result, chunks, parityShards, sha256, detail }
}

/// One integrity finding, as the audit answer, a problem and `--json` carry it.
public struct FindingDocument: Codable, Sendable, Equatable {
    /// `corrupt`, `missing`, `size-mismatch` or `sha256-mismatch`.
    public let kind: String
    public let index: Int?
    public let offset: Int64?
    public let length: Int64?
    public let expected: String?
    public let actual: String?

    public init(_ finding: IntegrityFinding) {
        switch finding {
        case .corrupt(let index, let range, let expected, let actual):
            (kind, self.index, offset, length) = ("corrupt", index.value, range.offset, range.length)
            (self.expected, self.actual) = (expected.description, actual.description)
        case .missing(let index, let range):
            (kind, self.index, offset, length, expected, actual) = ("missing", index.value, range.offset, range.length, nil, nil)
        case .sizeMismatch(let expected, let actual):
            (kind, index, offset, length) = ("size-mismatch", nil, nil, nil)
            (self.expected, self.actual) = (String(expected), String(actual))
        case .sha256Mismatch(let expected, let actual):
            (kind, index, offset, length) = ("sha256-mismatch", nil, nil, nil)
            (self.expected, self.actual) = (expected.description, actual.description)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        // Every key present, null where it does not apply, as in every answer of the contract.
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(kind, forKey: .kind)
        try container.encode(index, forKey: .index)
        try container.encode(offset, forKey: .offset)
        try container.encode(length, forKey: .length)
        try container.encode(expected, forKey: .expected)
        try container.encode(actual, forKey: .actual)
    }

    /// Back to the finding (nil for a document this version cannot read).
    public var finding: IntegrityFinding? {
        switch kind {
        case "corrupt":
            guard let index, let offset, let length, let expected = expected.flatMap({ try? XXH3Digest(hex: $0) }),
                let actual = actual.flatMap({ try? XXH3Digest(hex: $0) }), index >= 0, offset >= 0, length >= 0
            else { return nil }
            return .corrupt(ChunkIndex(index), ByteRange(offset: offset, length: length), expected: expected, actual: actual)
        case "missing":
            guard let index, let offset, let length, index >= 0, offset >= 0, length >= 0 else { return nil }
            return .missing(ChunkIndex(index), ByteRange(offset: offset, length: length))
        case "sha256-mismatch":
            guard let expected = expected.flatMap({ try? SHA256Digest(hex: $0) }), let actual = actual.flatMap({ try? SHA256Digest(hex: $0) }) else {
                return nil
            }
            return .sha256Mismatch(expected: expected, actual: actual)
        default:
            return nil
        }
    }
}
