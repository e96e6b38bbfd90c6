import HTTPTypes
import Hummingbird
import NIOCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The upload API (docs/PROTOCOL.md): turns headers into typed values and calls
/// the store; one file per endpoint group.
struct UploadRoutes: Sendable {
    let store: any UploadStore
    let metrics: ServerMetrics
    /// A chunk body gets this long, plus a second per `minimumRate` bytes.
    let chunkGrace: Duration
    let minimumRate: Int64
    let crashProbe: (any CrashProbe)?
    /// `serve --parity`: an audit heals from the upload's parity unless asked not to (`?heal=no`).
    var healsByDefault = false

    func register(on router: Router<UploadRequestContext>) {
        let uploads = router.group("uploads")
        uploads.post(use: create)
        uploads.get(use: listUploads)
        uploads.put(":id", use: putChunk)
        uploads.head(":id", use: handshake)
        uploads.get(":id", use: status)
        uploads.get(":id/chunks", use: chunkMap)
        uploads.get(":id/chunks/:index/blocks", use: blockDigests)
        uploads.patch(":id/chunks/:index", use: writeBlocks)
        uploads.post(":id/complete", use: complete)
        uploads.post(":id/audit", use: audit)
        uploads.get(":id/data", use: data)
        uploads.delete(":id", use: delete)
    }

    static func json<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) throws -> Response {
        var headers = headers
        headers[.contentType] = "application/json"
        headers[.cacheControl] = "no-store"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: try JSONCoding.encode(value))))
    }

    func statusResponse(_ snapshot: UploadSnapshot, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) throws -> Response {
        try Self.json(UploadStatusDocument(id: snapshot.id.rawValue, map: snapshot.map, updatedAt: snapshot.updatedAt), status: status, headers: headers)
    }
}
