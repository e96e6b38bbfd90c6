#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// An upload's part in a concatenation (tus's concatenation extension, in
/// the store's terms): a partial upload may, once complete, become part of
/// others; a final upload was made from partial uploads.
public enum ConcatenationRole: Sendable, Hashable {
    /// Created to be concatenated into others.
    case partial
    /// Made of these partial uploads' bytes, in this order.
    case final(parts: [UploadID])
}

/// Where the store records an upload's role: the last member of the
/// metadata in its chunk map's header, `uploadverify-concat BASE64`, the
/// value being `partial` or `final;ID ID …`. The header is written once,
/// with the map, so the role is on disk from the upload's first moment, is
/// read back after any restart, and needs no file of its own nor a change
/// of the map format (a reader of the format sees one metadata member more).
/// A client may not use the key itself (`create` refuses it), so the last
/// member is the store's whenever its key is this one.
enum ConcatenationRecord {
    static let key = "uploadverify-concat"

    /// `metadata` with `role` recorded after it; refused when the whole is
    /// over the map's metadata limit.
    static func recording(_ role: ConcatenationRole, in metadata: String) throws(UploadError) -> String {
        let text: String
        switch role {
        case .partial: text = "partial"
        case .final(let parts): text = "final;" + parts.map(\.rawValue).joined(separator: " ")
        }
        let member = key + " " + Data(text.utf8).base64EncodedString()
        let recorded = metadata.isEmpty ? member : metadata + "," + member
        let length = recorded.utf8.count
        guard length <= UploadMetadata.maximumLength else { throw .metadataTooLong(bytes: length, limit: UploadMetadata.maximumLength) }
        return recorded
    }

    /// The role recorded in a map's metadata, and the metadata as the client
    /// gave it (without the record).
    static func read(_ metadata: String) -> (role: ConcatenationRole?, client: String) {
        let lastComma = metadata.lastIndex(of: ",")
        let member = lastComma.map { metadata[metadata.index(after: $0)...] } ?? metadata[...]
        let parts = member.trimmingCharacters(" ").split(separator: " ", omittingEmptySubsequences: false)
        guard parts.count == 2, String(parts[0]) == key, let bytes = Data(base64Encoded: String(parts[1])),
            let text = String(data: bytes, encoding: .utf8), let role = parsedRole(text)
        else { return (nil, metadata) }
        return (role, lastComma.map { String(metadata[..<$0]) } ?? "")
    }

    /// Whether `metadata` records a final upload (one made by concatenation).
    static func isFinal(_ metadata: String) -> Bool {
        guard case .final? = read(metadata).role else { return false }
        return true
    }

    /// Whether any member of `metadata` uses the store's key.
    static func isNamed(in metadata: String) -> Bool {
        metadata.split(separator: ",", omittingEmptySubsequences: false).contains { member in
            member.trimmingCharacters(" ").split(separator: " ", omittingEmptySubsequences: false).first.map { String($0) } == key
        }
    }

    private static func parsedRole(_ text: String) -> ConcatenationRole? {
        if text == "partial" { return .partial }
        guard text.hasPrefix("final;") else { return nil }
        var parts = [UploadID]()
        for name in text.dropFirst("final;".count).split(separator: " ") {
            guard let id = UploadID(name) else { return nil }
            parts.append(id)
        }
        return .final(parts: parts)
    }
}

extension UploadSnapshot {
    /// The upload's part in a concatenation, as recorded at its creation;
    /// nil for an upload made otherwise.
    public var concatenation: ConcatenationRole? { ConcatenationRecord.read(map.header.metadata).role }

    /// The metadata the client gave at creation, verbatim, without the
    /// store's record of a concatenation.
    public var clientMetadata: String { ConcatenationRecord.read(map.header.metadata).client }
}
