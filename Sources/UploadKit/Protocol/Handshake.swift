import HTTPTypes

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The `HEAD /uploads/{id}` handshake: what the server holds of an upload,
/// in header fields. The server writes it from the chunk map, the client
/// reads it back, both through this type.
public struct Handshake: Sendable, Hashable {
    public let layout: ChunkLayout
    /// Bytes of the verified prefix.
    public let offset: Int64
    /// Verified bytes in all.
    public let received: Int64
    public let bitmap: ChunkBitmap
    public let isComplete: Bool
    public let sha256: SHA256Digest?

    public init(layout: ChunkLayout, offset: Int64, received: Int64, bitmap: ChunkBitmap, isComplete: Bool, sha256: SHA256Digest?) {
        self.layout = layout
        self.offset = offset
        self.received = received
        self.bitmap = bitmap
        self.isComplete = isComplete
        self.sha256 = sha256
    }

    /// What the map says, as the server answers it.
    public init(map: ChunkMap) {
        let complete = map.status.state == .complete
        self.init(
            layout: map.layout, offset: map.verifiedPrefixBytes, received: map.verifiedBytes, bitmap: ChunkBitmap(map),
            isComplete: complete, sha256: complete ? map.status.sha256 : nil)
    }

    public var fields: HTTPFields {
        var fields = HTTPFields()
        fields[.uploadLength] = String(layout.fileSize.bytes)
        fields[.uploadChunkSize] = String(layout.chunkSize.bytes)
        fields[.uploadOffset] = String(offset)
        fields[.uploadReceived] = String(received)
        fields[.uploadChunks] = ":\(Data(bitmap.bytes).base64EncodedString()):"
        fields[.uploadComplete] = isComplete ? "?1" : "?0"
        if let sha256 { fields[.reprDigest] = DigestField(sha256: sha256).headerValue }
        return fields
    }

    public init(fields: HTTPFields) throws(HandshakeError) {
        try self.init { name in fields[HTTPField.Name(name)!] }
    }

    /// From header fields keyed by their lowercased names.
    public init(headers: [String: String]) throws(HandshakeError) {
        try self.init { name in headers[name] }
    }

    private init(field: (String) -> String?) throws(HandshakeError) {
        func number(_ name: String) throws(HandshakeError) -> Int64 {
            guard let text = field(name), let value = ASCIIDecimal.parse(text) else { throw HandshakeError("no valid \(name) header") }
            return value
        }
        let length = try number("upload-length")
        let chunkSize = try number("upload-chunk-size")
        do {
            layout = try ChunkLayout(fileSize: ByteCount(length), chunkSize: ByteCount(chunkSize))
        } catch {
            throw HandshakeError("impossible geometry: \(error)")
        }
        offset = try number("upload-offset")
        received = try number("upload-received")
        guard let value = field("upload-chunks"), value.hasPrefix(":"), value.hasSuffix(":"), value.count >= 2,
            let data = Data(base64Encoded: String(value.dropFirst().dropLast())),
            let bitmap = ChunkBitmap(bytes: Array(data), chunkCount: layout.chunkCount)
        else { throw HandshakeError("no valid Upload-Chunks bitmap") }
        self.bitmap = bitmap
        isComplete = field("upload-complete") == "?1"
        sha256 = field("repr-digest").flatMap { try? DigestField.parse($0).sha256 }
    }

    public var verifiedChunks: Int { layout.indices.filter { bitmap[$0] }.count }

    /// The byte ranges not yet verified, merged where adjacent.
    public var missingRanges: [ByteRange] {
        var ranges = [ByteRange]()
        for index in layout.indices where !bitmap[index] {
            let range = layout.range(of: index)
            if let last = ranges.last, last.end == range.offset {
                ranges[ranges.count - 1] = ByteRange(offset: last.offset, length: last.length + range.length)
            } else {
                ranges.append(range)
            }
        }
        return ranges
    }
}

/// A handshake whose fields cannot be read.
public struct HandshakeError: Error, Sendable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
