import HTTPTypes
import Hummingbird
import NIOCore

extension UploadRoutes {
    /// `GET /uploads/{id}/data`: the bytes of a complete upload, streamed
    /// from disk in 1 MiB reads; one `Range: bytes=…` is honoured (`206`).
    @Sendable func data(_ request: Request, context: UploadRequestContext) async throws -> Response {
        let file = try await store.openData(try uploadID(context))
        let size = try file.size()
        var status = HTTPResponse.Status.ok
        var headers: HTTPFields = [.acceptRanges: "bytes", .contentType: "application/octet-stream"]
        var range = ByteRange(offset: 0, length: size)
        if let header = request.headers[.range], let requested = Self.parseRange(header, size: size) {
            guard let requested = requested else {
                throw Problem(.rangeNotSatisfiable, "range-not-satisfiable", title: "Range not satisfiable",
                    detail: "Range '\(header)' names no byte of this \(size)-byte file", headers: [.contentRange: "bytes */\(size)"])
            }
            range = requested
            status = .partialContent
            headers[.contentRange] = "bytes \(range.offset)-\(range.lastByte)/\(size)"
        }
        let reader = FileRangeReader(file: file, range: range) { at in UploadError.dataSizeMismatch(expected: size, actual: at) }
        let body = ResponseBody(contentLength: Int(range.length)) { writer in
            defer { try? file.close() }
            try await writer.write(reader)
            try await writer.finish(nil)
        }
        return Response(status: status, headers: headers, body: body)
    }

    /// One range of `bytes=FIRST-LAST`, `bytes=FIRST-` or `bytes=-SUFFIX`.
    /// nil: no usable Range header (serve the whole file); .some(nil): unsatisfiable.
    static func parseRange(_ header: String, size: Int64) -> ByteRange?? {
        guard header.lowercased().hasPrefix("bytes="), !header.contains(",") else { return nil }
        let spec = header.dropFirst(6)
        guard let dash = spec.firstIndex(of: "-") else { return nil }
        let firstText = spec[spec.startIndex..<dash]
        let lastText = spec[spec.index(after: dash)...]
        if firstText.isEmpty {
            guard let suffix = ASCIIDecimal.parse(lastText) else { return nil }
            guard suffix > 0, size > 0 else { return .some(nil) }
            let length = min(suffix, size)
            return ByteRange(offset: size - length, length: length)
        }
        guard let first = ASCIIDecimal.parse(firstText) else { return nil }
        let last = lastText.isEmpty ? size - 1 : ASCIIDecimal.parse(lastText)
        guard let last else { return nil }
        guard first < size, first <= last else { return .some(nil) }
        return ByteRange(offset: first, length: min(last, size - 1) - first + 1)
    }
}
