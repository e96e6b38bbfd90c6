import HTTPTypes
import Hummingbird
import NIOCore

extension UploadRoutes {
    /// `GET /uploads/{id}/data`: the bytes of a complete upload, streamed
    /// from disk in 1 MiB reads; one `Range: bytes=…` is honoured (`206`).
    @Sendable func data(_ request: Request, context: UploadRequestContext) async throws -> Response {
        let id = try context.uploadID()
        var status = HTTPResponse.Status.ok
        var headers: HTTPFields = [.acceptRanges: "bytes", .contentType: "application/octet-stream"]
        var range: ByteRange?
        if let header = request.headers[.range] {
            let size = try await store.layout(id).fileSize.bytes
            switch RangeRequest.parse(header, fileSize: size) {
            case .whole: break
            case .satisfiable(let requested):
                range = requested
                status = .partialContent
                headers[.contentRange] = "bytes \(requested.offset)-\(requested.lastByte)/\(size)"
            case .unsatisfiable:
                throw Problem(
                    .rangeNotSatisfiable, "range-not-satisfiable", title: "Range not satisfiable",
                    detail: "Range '\(header)' names no byte of this \(size)-byte file", headers: [.contentRange: "bytes */\(size)"])
            }
        }
        let stream = try await store.read(id, range: range)
        let body = ResponseBody(contentLength: Int(stream.range.length)) { writer in
            try await writer.write(stream.buffers)
            try await writer.finish(nil)
        }
        return Response(status: status, headers: headers, body: body)
    }
}
