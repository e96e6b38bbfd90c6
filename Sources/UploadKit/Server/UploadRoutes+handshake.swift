import HTTPTypes
import Hummingbird
import NIOCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension UploadRoutes {
    /// `HEAD /uploads/{id}`: what a client needs to resume, in headers.
    @Sendable func handshake(_ request: Request, context: UploadRequestContext) async throws -> Response {
        let snapshot = try await store.snapshot(try context.uploadID())
        var headers = Handshake(map: snapshot.map).fields
        headers[.cacheControl] = "no-store"
        return Response(status: .ok, headers: headers)
    }

    /// `GET /uploads/{id}`: the status JSON.
    @Sendable func status(_ request: Request, context: UploadRequestContext) async throws -> Response {
        try statusResponse(try await store.snapshot(try context.uploadID()))
    }

    /// `GET /uploads/{id}/chunks`: the chunk map, as JSON or as the sidecar's bytes.
    @Sendable func chunkMap(_ request: Request, context: UploadRequestContext) async throws -> Response {
        let id = try context.uploadID()
        if request.headers[.accept]?.contains(ChunkMapFormat.mediaType) == true {
            let bytes = try await store.chunkMapBytes(id)
            return Response(
                status: .ok, headers: [.contentType: ChunkMapFormat.mediaType, .cacheControl: "no-store"],
                body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
        }
        return try Self.json(ChunkMapDocument(try await store.snapshot(id).map))
    }
}
