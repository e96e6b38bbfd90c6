import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import SystemPackage
import Testing
import UploadKit

/// The protocol's header fields, named here as a client names them.
extension HTTPField.Name {
    static let uploadLength = Self("Upload-Length")!
    static let uploadChunkSize = Self("Upload-Chunk-Size")!
    static let uploadOffset = Self("Upload-Offset")!
    static let uploadReceived = Self("Upload-Received")!
    static let uploadChunks = Self("Upload-Chunks")!
    static let uploadComplete = Self("Upload-Complete")!
    static let uploadMetadata = Self("Upload-Metadata")!
    static let reprDigest = Self("Repr-Digest")!
    static let contentDigest = Self("Content-Digest")!
}

let chunkMapMediaType = "application/vnd.uploadverify.chunkmap"
let problemMediaType = "application/problem+json"
let kib64 = 65_536

// MARK: The JSON documents of the contract, decoded independently of the server's types

struct StatusJSON: Decodable {
    var id: String
    var size: Int64
    var chunkSize: Int64
    var chunkCount: Int
    var receivedChunks: Int
    var receivedBytes: Int64
    var missing: [Int]
    var corrupt: [Int]
    var state: String
    var sha256: String?
    var metadata: [String: String]
    var createdAt: String
    var updatedAt: String
}

struct ReceiptJSON: Decodable {
    var index: Int
    var xxh3: String
    var receivedChunks: Int
    var chunkCount: Int
    var written: Bool?
}

struct ProblemJSON: Decodable {
    var type: String
    var title: String
    var status: Int
    var detail: String
    var index: Int?
    var missing: [Int]?
    var corrupt: [Int]?
    var expected: String?
    var actual: String?
    var smallestChunkSize: Int64?
}

struct ChunkMapJSON: Decodable {
    struct Entry: Decodable {
        var index: Int
        var offset: Int64
        var length: Int64
        var state: String
        var xxh3: String?
    }
    var size: Int64
    var chunkSize: Int64
    var algorithm: String
    var sha256: String?
    var chunks: [Entry]
}

struct AuditJSON: Decodable {
    var checkedChunks: Int
    var corrupt: [Int]
    var sha256Matches: Bool?
}

func decode<T: Decodable>(_ type: T.Type, _ response: TestResponse) throws -> T {
    try JSONDecoder().decode(T.self, from: Data(Array(buffer: response.body)))
}

/// Checks that a response is an RFC 9457 problem of this status and type, and returns it.
@discardableResult
func expectProblem(
    _ response: TestResponse, _ status: HTTPResponse.Status, type slug: String? = nil, sourceLocation: SourceLocation = #_sourceLocation
) throws -> ProblemJSON {
    #expect(response.status == status, sourceLocation: sourceLocation)
    #expect(response.headers[.contentType] == problemMediaType, sourceLocation: sourceLocation)
    let problem = try decode(ProblemJSON.self, response)
    #expect(problem.status == Int(status.code), sourceLocation: sourceLocation)
    #expect(!problem.title.isEmpty, sourceLocation: sourceLocation)
    #expect(!problem.detail.isEmpty, sourceLocation: sourceLocation)
    #expect(problem.type.hasPrefix("https://"), sourceLocation: sourceLocation)
    if let slug { #expect(problem.type.hasSuffix("/" + slug), "problem type \(problem.type)", sourceLocation: sourceLocation) }
    return problem
}

// MARK: A file to upload

/// Deterministic bytes cut into chunks the way the server cuts them.
struct SampleFile: Sendable {
    let bytes: [UInt8]
    let chunkSize: Int

    init(length: Int, chunkSize: Int = kib64, seed: UInt64 = 0x5EED) {
        self.bytes = pseudoRandomBytes(length, seed: seed)
        self.chunkSize = chunkSize
    }

    /// Three whole 64 KiB chunks and a short last one of 1000 bytes.
    static let standard = SampleFile(length: 3 * kib64 + 1000)

    var length: Int { bytes.count }
    var chunkCount: Int { (bytes.count + chunkSize - 1) / chunkSize }
    func range(_ index: Int) -> Range<Int> { index * chunkSize..<min((index + 1) * chunkSize, bytes.count) }
    func chunk(_ index: Int) -> [UInt8] { Array(bytes[range(index)]) }
    func contentRange(_ index: Int) -> String { "bytes \(range(index).lowerBound)-\(range(index).upperBound - 1)/\(length)" }
    var sha256: SHA256Digest { SHA256Hasher.hash(bytes) }
    var reprDigest: String { DigestField(sha256: sha256).headerValue }

    /// A request body that yields `parts`, then ends or throws `error`.
    static func body(_ parts: [[UInt8]], thenThrow error: (any Error)? = nil) -> AsyncThrowingStream<ByteBuffer, any Error> {
        AsyncThrowingStream { continuation in
            for part in parts { continuation.yield(ByteBuffer(bytes: part)) }
            continuation.finish(throwing: error)
        }
    }
}

// MARK: A server in a fresh data directory

/// One server for one test: a fresh data directory (`ROOT/data`, so that the
/// test can check nothing was created beside it), an ephemeral port, and no
/// fsync unless the test is about it.
struct ServerFixture: Sendable {
    let root: TemporaryDirectory
    let options: ServerOptions

    init(_ configure: (inout ServerOptions) -> Void = { _ in }) throws {
        root = try TemporaryDirectory()
        var options = ServerOptions()
        options.dataDirectory = FilePath(root.path("data"))
        options.port = 0
        options.fsync = false
        configure(&options)
        self.options = options
    }

    var dataDirectory: String { options.dataDirectory.string }

    /// Runs `body` against the server, then removes the data directory.
    @discardableResult
    func run<T>(_ setup: TestingSetup = .router, _ body: @Sendable (UploadAPI) async throws -> T) async throws -> T {
        defer { root.remove() }
        let app = try buildApplication(options)
        let dataDirectory = self.dataDirectory
        return try await app.test(setup) { client in
            try await body(UploadAPI(client: client, dataDirectory: dataDirectory))
        }
    }
}

/// A created upload, as the test knows it.
struct Upload: Sendable {
    let id: String
    let file: SampleFile
    var path: String { "/uploads/\(id)" }
}

/// The HTTP API, spoken the way a client would.
struct UploadAPI: Sendable {
    let client: any TestClientProtocol
    let dataDirectory: String
    var headers: HTTPFields = [:]

    func dataPath(_ id: String) -> String { dataDirectory + "/" + id }
    func mapPath(_ id: String) -> String { dataDirectory + "/" + id + ".chunkmap" }

    func request(_ method: HTTPRequest.Method, _ uri: String, headers extra: HTTPFields = [:], body: [UInt8]? = nil) async throws -> TestResponse {
        var all = headers
        for field in extra { all[field.name] = field.value }
        return try await client.execute(uri: uri, method: method, headers: all, body: body.map { ByteBuffer(bytes: $0) })
    }

    func create(_ headers: HTTPFields) async throws -> TestResponse {
        try await request(.post, "/uploads", headers: headers)
    }

    /// Creates an upload for `file` with its chunk size, or fails the test.
    func create(_ file: SampleFile, headers extra: HTTPFields = [:]) async throws -> Upload {
        var headers: HTTPFields = [.uploadLength: String(file.length), .uploadChunkSize: String(file.chunkSize)]
        for field in extra { headers[field.name] = field.value }
        let response = try await create(headers)
        try #require(response.status == .created, "create answered \(response.status): \(String(buffer: response.body))")
        let status = try decode(StatusJSON.self, response)
        return Upload(id: status.id, file: file)
    }

    func put(_ upload: Upload, chunk index: Int, bytes: [UInt8]? = nil, headers extra: HTTPFields = [:]) async throws -> TestResponse {
        var headers: HTTPFields = [.contentRange: upload.file.contentRange(index)]
        for field in extra { headers[field.name] = field.value }
        return try await request(.put, upload.path, headers: headers, body: bytes ?? upload.file.chunk(index))
    }

    /// Sends every chunk, or fails the test.
    func putAll(_ upload: Upload) async throws {
        for index in 0..<upload.file.chunkCount {
            let response = try await put(upload, chunk: index)
            try #require(response.status == .ok, "chunk \(index): \(response.status) \(String(buffer: response.body))")
        }
    }

    func head(_ upload: Upload) async throws -> TestResponse { try await request(.head, upload.path) }

    func status(_ upload: Upload) async throws -> StatusJSON {
        let response = try await request(.get, upload.path)
        try #require(response.status == .ok)
        return try decode(StatusJSON.self, response)
    }

    func chunkMap(_ upload: Upload) async throws -> ChunkMapJSON {
        let response = try await request(.get, upload.path + "/chunks")
        try #require(response.status == .ok)
        return try decode(ChunkMapJSON.self, response)
    }

    func complete(_ upload: Upload, reprDigest: String? = nil) async throws -> TestResponse {
        var headers = HTTPFields()
        if let reprDigest { headers[.reprDigest] = reprDigest }
        return try await request(.post, upload.path + "/complete", headers: headers)
    }

    /// Sends every chunk and completes with the right SHA-256, or fails the test.
    func uploadWhole(_ file: SampleFile) async throws -> Upload {
        let upload = try await create(file)
        try await putAll(upload)
        let response = try await complete(upload, reprDigest: file.reprDigest)
        try #require(response.status == .ok, "complete answered \(response.status): \(String(buffer: response.body))")
        return upload
    }

    func audit(_ upload: Upload) async throws -> TestResponse { try await request(.post, upload.path + "/audit") }

    func data(_ upload: Upload, range: String? = nil) async throws -> TestResponse {
        var headers = HTTPFields()
        if let range { headers[.range] = range }
        return try await request(.get, upload.path + "/data", headers: headers)
    }
}

// MARK: Files on disk

func readFile(_ path: String) throws -> [UInt8] {
    Array(try Data(contentsOf: URL(fileURLWithPath: path)))
}

func fileExists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: path) }

/// Overwrites bytes in place, as damage on disk would.
func overwrite(_ path: String, at offset: Int64, with bytes: [UInt8]) throws {
    let file = try OwnedDescriptor.open(FilePath(path), .readWrite)
    try file.writeAll(toAbsoluteOffset: offset, bytes)
    try file.close()
}

/// Flips one bit of the byte at `offset`.
func flipByte(_ path: String, at offset: Int64) throws {
    let bytes = try readFile(path)
    try overwrite(path, at: offset, with: [bytes[Int(offset)] ^ 0x01])
}

struct FileStatus {
    var size: Int64
    /// Bytes of disk the file holds (512 × st_blocks): far below `size` for a sparse file.
    var allocatedBytes: Int64
    var modified: Date
}

func fileStatus(_ path: String) throws -> FileStatus {
    let info = try FilePath(path).stat()
    let modified = try #require(try FileManager.default.attributesOfItem(atPath: path)[.modificationDate] as? Date)
    return FileStatus(size: info.size, allocatedBytes: info.sizeAllocated, modified: modified)
}

/// The bitmap of `Upload-Chunks: :BASE64:`, as one Bool per chunk.
func decodeBitmap(_ header: String?, chunkCount: Int) -> [Bool]? {
    guard let header, header.hasPrefix(":"), header.hasSuffix(":"), header.count >= 2,
        let data = Data(base64Encoded: String(header.dropFirst().dropLast()))
    else { return nil }
    let bytes = Array(data)
    guard bytes.count == (chunkCount + 7) / 8 else { return nil }
    return (0..<chunkCount).map { bytes[$0 / 8] & (0x80 >> UInt8($0 % 8)) != 0 }
}

func xxh3Field(_ bytes: [UInt8]) -> String { DigestField(xxh3: XXH3Hasher.hash(bytes)).headerValue }
