#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The `HEAD` handshake, typed: what the server holds of an upload.
public struct UploadStatus: Sendable, Hashable {
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

    /// Reads the handshake's headers (names lowercased); nil names what is wrong.
    public init(headers: [String: String]) throws(ClientError) {
        func number(_ name: String) throws(ClientError) -> Int64 {
            guard let text = headers[name], let value = ASCIIDecimal.parse(text) else { throw .badAnswer("no valid \(name) header") }
            return value
        }
        let length = try number("upload-length")
        let chunkSize = try number("upload-chunk-size")
        do {
            layout = try ChunkLayout(fileSize: ByteCount(length), chunkSize: ByteCount(chunkSize))
        } catch {
            throw .badAnswer("impossible geometry: \(error)")
        }
        offset = try number("upload-offset")
        received = try number("upload-received")
        guard let field = headers["upload-chunks"], field.hasPrefix(":"), field.hasSuffix(":"), field.count >= 2,
            let data = Data(base64Encoded: String(field.dropFirst().dropLast())),
            let bitmap = ChunkBitmap(bytes: Array(data), chunkCount: layout.chunkCount)
        else { throw .badAnswer("no valid Upload-Chunks bitmap") }
        self.bitmap = bitmap
        isComplete = headers["upload-complete"] == "?1"
        sha256 = headers["repr-digest"].flatMap { try? DigestField.parse($0).sha256 }
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
