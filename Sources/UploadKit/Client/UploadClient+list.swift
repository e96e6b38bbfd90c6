import NIOCore
import NIOHTTP1

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension UploadClient {
    /// One page of `GET /uploads`: `state` filters, `limit` caps the page
    /// (the server's default when nil), `cursor` is the `next` of the page
    /// before (nil for the first).
    public func listUploads(server: String, state: ListedState?, limit: Int?, cursor: String?) async throws(ClientError) -> UploadListDocument {
        var query = [String]()
        if let state { query.append("state=\(state.rawValue)") }
        if let limit { query.append("limit=\(limit)") }
        if let cursor { query.append("cursor=\(Self.percentEncoded(cursor))") }
        let answer = try await send(.GET, server + "/uploads" + (query.isEmpty ? "" : "?" + query.joined(separator: "&")))
        guard answer.status == 200 else { throw failure(answer) }
        do { return try JSONDecoder().decode(UploadListDocument.self, from: Data(answer.body.readableBytesView)) } catch {
            throw .badAnswer("its list of uploads: \(error)")
        }
    }

    /// `DELETE /uploads/{id}`: the upload's files are gone once this returns.
    public func delete(_ url: UploadURL) async throws(ClientError) {
        let answer = try await send(.DELETE, url.description)
        guard answer.status == 204 else {
            if answer.status == 404 { throw .server(status: 404, type: "upload-not-found", detail: "no upload at \(url)") }
            throw failure(answer)
        }
    }

    /// The cursor is opaque: whatever the server gave goes back intact.
    static func percentEncoded(_ text: String) -> String {
        var encoded = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                encoded.append(Character(Unicode.Scalar(byte)))
            default:
                encoded += "%" + Hex.encode([byte]).uppercased()
            }
        }
        return encoded
    }
}
