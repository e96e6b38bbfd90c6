import HTTPTypes
import Hummingbird
import NIOCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// An RFC 9457 problem: every error the server answers is one, as
/// `application/problem+json`, with a stable `type` a client can act on and
/// the fields that help it (`missing`, `corrupt`, `expected`, `actual`).
public struct Problem: HTTPResponseError, Sendable {
    public struct Body: Codable, Sendable, Equatable {
        public var type: String
        public var title: String
        public var status: Int
        public var detail: String
        public var index: Int?
        public var missing: [Int]?
        public var corrupt: [Int]?
        public var expected: String?
        public var actual: String?
        public var smallestChunkSize: Int64?
        /// Where an append must start (after `mismatching-upload-offset`, or
        /// what an append cut short kept).
        public var offset: Int64?
        /// Each chunk found wrong on disk, with its range and digests.
        public var findings: [FindingDocument]?
        /// The IETF draft's members of `mismatching-upload-offset`.
        public var expectedOffset: Int64?
        public var providedOffset: Int64?

        enum CodingKeys: String, CodingKey {
            case type, title, status, detail, index, missing, corrupt, expected, actual, smallestChunkSize, offset, findings
            case expectedOffset = "expected-offset"
            case providedOffset = "provided-offset"
        }
    }

    public static let typePrefix = "https://uploadverify.dev/problems/"

    public let status: HTTPResponse.Status
    public var body: Body
    public var headers: HTTPFields

    public init(_ status: HTTPResponse.Status, _ slug: String, title: String, detail: String, headers: HTTPFields = [:]) {
        self.status = status
        self.body = Body(type: Self.typePrefix + slug, title: title, status: status.code, detail: detail)
        self.headers = headers
    }

    /// The same problem under a type URI of another registry (the IETF
    /// draft's problem types are IANA's, not this server's).
    public func typed(_ uri: String) -> Problem {
        var copy = self
        copy.body.type = uri
        return copy
    }

    /// Asks the connection to close once this answer is sent: used when the
    /// rest of the request body is not worth reading.
    public func closingConnection() -> Problem {
        var copy = self
        copy.headers[.connection] = "close"
        return copy
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        let data = try JSONCoding.encode(body)
        var headers = self.headers
        headers[.contentType] = "application/problem+json"
        headers[.cacheControl] = "no-store"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
