import AsyncHTTPClient
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import SystemPackage

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The HTTP API (docs/PROTOCOL.md) from the client's side: one method per call,
/// answers typed, problems turned into `ClientError`.
public final class UploadClient: Sendable {
    private let http: HTTPClient
    private let token: String?
    /// Every request waits for one of these: the client's bound on what it
    /// has in flight, whichever file or chunk the request is for.
    public let slots: RequestSlots
    /// Status and JSON answers are small; anything larger is refused.
    private static let maximumAnswer = 16 << 20

    /// `inFlight` bounds the requests in flight at once over everything this
    /// client does (`upload` and `download` of many files share one client).
    public init(token: String?, caFile: String?, inFlight: Int = 64) throws {
        var configuration = HTTPClient.Configuration()
        // A refused connection is retried by the pool until the connect timeout: keep it short.
        configuration.timeout = .init(connect: .seconds(5), read: .seconds(120))
        if let caFile {
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.trustRoots = .file(caFile)
            configuration.tlsConfiguration = tls
        }
        // One connection per slot: a request never waits for a connection
        // once it has its slot.
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = max(8, inFlight)
        http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        self.token = token
        slots = RequestSlots(inFlight)
    }

    public func shutdown() async {
        try? await http.shutdown()
    }

    struct Answer {
        let status: Int
        let headers: [String: String]
        let body: ByteBuffer
    }

    func send(
        _ method: HTTPMethod, _ url: String, headers: [(String, String)] = [], body: HTTPClientRequest.Body? = nil
    ) async throws(ClientError) -> Answer {
        var request = HTTPClientRequest(url: url)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        request.body = body
        await slots.acquire()
        defer { slots.release() }
        do {
            let response = try await http.execute(request, timeout: .hours(1))
            let bytes = try await response.body.collect(upTo: Self.maximumAnswer)
            var fields = [String: String]()
            for header in response.headers { fields[header.name.lowercased()] = header.value }
            return Answer(status: Int(response.status.code), headers: fields, body: bytes)
        } catch let error as ClientError {
            throw error
        } catch {
            let server = url.split(separator: "/", omittingEmptySubsequences: false).prefix(3).joined(separator: "/")
            throw .unreachable(server, reason: Self.reason(error))
        }
    }

    /// A failing answer as an error: the problem's type and detail when it has one.
    func failure(_ answer: Answer) -> ClientError {
        struct ProblemBody: Decodable {
            let type: String?
            let detail: String?
        }
        let problem = try? JSONDecoder().decode(ProblemBody.self, from: Data(answer.body.readableBytesView))
        let detail = problem?.detail ?? String(decoding: answer.body.readableBytesView.prefix(200), as: UTF8.self)
        return .server(status: answer.status, type: problem?.type, detail: detail.isEmpty ? "(no detail)" : detail)
    }

    // MARK: Calls

    public func create(server: String, length: Int64, chunkSize: ByteCount?, metadata: String) async throws(ClientError) -> UploadURL {
        var headers = [("Upload-Length", String(length))]
        if let chunkSize { headers.append(("Upload-Chunk-Size", String(chunkSize.bytes))) }
        if !metadata.isEmpty { headers.append(("Upload-Metadata", metadata)) }
        let answer = try await send(.POST, server + "/uploads", headers: headers)
        guard answer.status == 201 else { throw failure(answer) }
        guard let location = answer.headers["location"] else { throw .badAnswer("201 without a Location") }
        return try UploadURL(parsing: location.hasPrefix("/") ? server + location : location)
    }

    public func handshake(_ url: UploadURL) async throws(ClientError) -> Handshake {
        let answer = try await send(.HEAD, url.description)
        guard answer.status == 200 else {
            if answer.status == 404 { throw .server(status: 404, type: "upload-not-found", detail: "no upload at \(url)") }
            throw failure(answer)
        }
        do { return try Handshake(headers: answer.headers) } catch { throw .badAnswer(error.description) }
    }

    /// Sends one chunk with its `xxh3` Content-Digest. Answers the
    /// server's count of verified chunks.
    public func put(_ chunk: Chunk, of file: OwnedDescriptor, to url: UploadURL, totalLength: Int64) async throws(ClientError) {
        let headers = [
            ("Content-Range", "bytes \(chunk.range.offset)-\(chunk.range.lastByte)/\(totalLength)"),
            ("Content-Digest", DigestField(xxh3: chunk.digest).headerValue),
        ]
        let path = file.path.string
        let reader = FileRangeReader(file: file, range: chunk.range) { _ in ClientError.fileChanged(path) }
        let body = HTTPClientRequest.Body.stream(reader, length: .known(chunk.range.length))
        let answer = try await send(.PUT, url.description, headers: headers, body: body)
        guard answer.status == 200 else { throw failure(answer) }
    }

    /// Completes with `sha256`; answers the SHA-256 the server confirmed from its disk.
    public func complete(_ url: UploadURL, sha256: SHA256Digest) async throws(ClientError) -> SHA256Digest {
        let answer = try await send(.POST, url.description + "/complete", headers: [("Repr-Digest", DigestField(sha256: sha256).headerValue)])
        guard answer.status == 200 else { throw failure(answer) }
        guard let confirmed = answer.headers["repr-digest"].flatMap({ try? DigestField.parse($0).sha256 }) else {
            throw .badAnswer("complete answered 200 without a Repr-Digest")
        }
        return confirmed
    }

    /// The server's chunk map, in the `.chunkmap` format, decoded.
    public func chunkMap(_ url: UploadURL) async throws(ClientError) -> ChunkMap {
        let answer = try await send(.GET, url.description + "/chunks", headers: [("Accept", ChunkMapFormat.mediaType)])
        guard answer.status == 200 else { throw failure(answer) }
        do { return try ChunkMapCodec.decode(Array(answer.body.readableBytesView)) } catch {
            throw .badAnswer("its chunk map: \(error)")
        }
    }

    /// Bytes `range` of a complete upload, gathered into one buffer of the
    /// range's length (never more is held, nor accepted), and not written
    /// anywhere: the caller checks them first (see `ChunkFetcher`).
    public func fetch(_ url: UploadURL, range: ByteRange) async throws(ClientError) -> ByteBuffer {
        var received = ByteBufferAllocator().buffer(capacity: Int(range.length))
        try await fetch(url, range: range) { piece in received.writeImmutableBuffer(piece) }
        return received
    }

    /// Bytes `range` of a complete upload, into `buffer` (which must hold
    /// them): its `count` is the range's length once this returns.
    public func fetch(_ url: UploadURL, range: ByteRange, into buffer: ChunkBuffer) async throws(ClientError) {
        precondition(range.length <= buffer.memory.count, "a buffer too small for \(range)")
        buffer.count = 0
        try await fetch(url, range: range) { piece in
            piece.withUnsafeReadableBytes { bytes in
                UnsafeMutableRawBufferPointer(rebasing: buffer.memory[buffer.count...]).copyMemory(from: bytes)
            }
            buffer.count += piece.readableBytes
        }
    }

    /// Streams the pieces of `range` to `receive` as they arrive, having
    /// checked that they add up to exactly the range's length.
    private func fetch(_ url: UploadURL, range: ByteRange, receive: (ByteBuffer) -> Void) async throws(ClientError) {
        var request = HTTPClientRequest(url: url.description + "/data")
        request.headers.add(name: "Range", value: "bytes=\(range.offset)-\(range.lastByte)")
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        await slots.acquire()
        defer { slots.release() }
        do {
            let response = try await http.execute(request, timeout: .hours(1))
            guard response.status.code == 206 || (response.status.code == 200 && range.offset == 0) else {
                let body = try await response.body.collect(upTo: Self.maximumAnswer)
                throw failure(Answer(status: Int(response.status.code), headers: [:], body: body))
            }
            let length = Int(range.length)
            var received = 0
            for try await piece in response.body {
                guard received + piece.readableBytes <= length else {
                    throw ClientError.badAnswer("more bytes than \(range) asked for")
                }
                receive(piece)
                received += piece.readableBytes
            }
            guard received == length else {
                throw ClientError.badAnswer("the download of \(range) ended after \(received) bytes")
            }
        } catch let error as ClientError {
            throw error
        } catch {
            throw .unreachable(url.server, reason: Self.reason(error))
        }
    }

    /// `checkSHA256: false` has the server re-hash the chunks only.
    public func audit(_ url: UploadURL, checkSHA256: Bool = true) async throws(ClientError) -> AuditDocument {
        let answer = try await send(.POST, url.description + "/audit" + (checkSHA256 ? "" : "?sha256=skip"))
        guard answer.status == 200 else { throw failure(answer) }
        do { return try JSONDecoder().decode(AuditDocument.self, from: Data(answer.body.readableBytesView)) } catch {
            throw .badAnswer("its audit report: \(error)")
        }
    }
}

extension UploadClient {
    /// Why a connection failed, in words: a certificate the client does not
    /// trust says what to do about it.
    static func reason(_ error: any Error) -> String {
        if let ssl = error as? NIOSSLError, case .handshakeFailed(let inner) = ssl, "\(inner)".contains("CERTIFICATE_VERIFY_FAILED") {
            return "the server's TLS certificate is not trusted; pass --ca-file with the PEM certificate of the CA that signed it"
        }
        return "\(error)"
    }
}
