import HTTPTypes
import Hummingbird

/// The catalog: one problem type per way a request can fail.
extension Problem {
    public init(_ error: UploadError) {
        switch error {
        case .notFound:
            self.init(.notFound, "upload-not-found", title: "No such upload", detail: error.description)
        case .tooLarge:
            self.init(.contentTooLarge, "upload-too-large", title: "Upload too large", detail: error.description)
        case .invalidChunkSize(let layoutError):
            self.init(.badRequest, "invalid-chunk-size", title: "Invalid Upload-Chunk-Size", detail: error.description)
            if case .tooManyChunks(_, _, let smallest) = layoutError { body.smallestChunkSize = smallest.bytes }
        case .insufficientStorage:
            self.init(.init(code: 507, reasonPhrase: "Insufficient Storage"), "insufficient-storage", title: "Not enough free disk", detail: error.description)
        case .tooManyUploads:
            self.init(.serviceUnavailable, "too-many-uploads", title: "Too many uploads in progress", detail: error.description)
        case .noSuchChunk:
            self.init(.rangeNotSatisfiable, "range-not-a-chunk", title: "No such chunk", detail: error.description)
        case .bodyTooShort:
            self.init(.badRequest, "body-too-short", title: "Body shorter than its range", detail: error.description)
        case .bodyTooLong:
            self.init(.badRequest, "body-too-long", title: "Body longer than its range", detail: error.description)
        case .bodyTimedOut:
            self.init(.requestTimeout, "chunk-timeout", title: "Chunk body too slow", detail: error.description)
        case .digestMismatch(let algorithm, let index, let expected, let actual):
            self.init(
                .unprocessableContent, "digest-mismatch", title: "Content-Digest does not match the body",
                detail: "chunk \(index): Content-Digest \(algorithm) is \(expected), the body's is \(actual)")
            body.index = index.value
            body.expected = expected
            body.actual = actual
        case .chunkBusy(let index):
            self.init(.conflict, "chunk-busy", title: "Chunk being written", detail: error.description)
            body.index = index.value
        case .appendBusy:
            self.init(.conflict, "append-busy", title: "Append in progress", detail: error.description)
        case .offsetMismatch(_, let expected):
            self.init(.conflict, "mismatching-upload-offset", title: "Append does not start at the upload's offset", detail: error.description)
            body.offset = expected
        case .pastTheEnd:
            self.init(.contentTooLarge, "past-the-end", title: "Body runs past the upload's length", detail: error.description)
        case .checksumMismatch:
            self.init(.init(code: 460, reasonPhrase: "Checksum Mismatch"), "checksum-mismatch", title: "Checksum mismatch", detail: error.description)
        case .appendCutShort(let kept):
            self.init(.badRequest, "body-too-short", title: "Body ended early", detail: error.description)
            body.offset = kept
        case .appendConflict(let index):
            self.init(.conflict, "chunk-conflict", title: "Chunk already verified with other bytes", detail: error.description)
            body.index = index.value
        case .chunkConflict(let index):
            self.init(.conflict, "chunk-conflict", title: "Chunk already verified with other bytes", detail: error.description)
            body.index = index.value
        case .repairConflict(let index, let recorded, let received):
            self.init(.conflict, "chunk-conflict", title: "Corrupt chunk sent other bytes than it was verified with", detail: error.description)
            body.index = index.value
            body.expected = recorded.description
            body.actual = received.description
        case .confirmedOtherwise(let confirmed, let given):
            self.init(.unprocessableContent, "sha256-mismatch", title: "SHA-256 mismatch", detail: error.description)
            body.expected = confirmed.description
            body.actual = given.description
        case .uploadComplete:
            self.init(.conflict, "upload-complete", title: "Upload already complete", detail: error.description)
        case .sha256Required:
            self.init(
                .badRequest, "sha256-required", title: "Repr-Digest with sha-256 required",
                detail: "Repr-Digest: sha-256=:…: is required to complete an upload that announced no SHA-256 at creation")
        case .sha256Disagrees(let creation, let completion):
            self.init(.badRequest, "sha256-disagrees", title: "SHA-256 differs from the one given at creation", detail: error.description)
            body.expected = creation.description
            body.actual = completion.description
        case .incomplete(let missing, let corrupt):
            self.init(.conflict, "upload-incomplete", title: "Chunks missing", detail: error.description)
            body.missing = missing.map(\.value)
            body.corrupt = corrupt.map(\.value)
        case .corrupt(let findings):
            self.init(.unprocessableContent, "chunks-corrupt", title: "Chunks corrupt on disk", detail: error.description)
            body.corrupt = findings.compactMap { $0.chunk?.index.value }
            body.findings = findings.map(FindingDocument.init)
        case .dataSizeMismatch(let expected, let actual):
            self.init(.unprocessableContent, "data-size-mismatch", title: "Data file size differs from Upload-Length", detail: error.description)
            body.expected = String(expected)
            body.actual = String(actual)
        case .sha256Mismatch(let expected, let actual):
            self.init(.unprocessableContent, "sha256-mismatch", title: "SHA-256 mismatch", detail: error.description)
            body.expected = expected.description
            body.actual = actual.description
        case .notComplete:
            self.init(.conflict, "upload-not-complete", title: "Upload not complete", detail: error.description)
        case .rangeOutsideFile(_, let size):
            self.init(
                .rangeNotSatisfiable, "range-not-satisfiable", title: "Range not satisfiable", detail: error.description,
                headers: [.contentRange: "bytes */\(size)"])
        case .damagedMap:
            self.init(.internalServerError, "chunk-map-damaged", title: "Chunk map damaged", detail: error.description)
        case .reservedMetadataKey, .metadataTooLong:
            // As `badHeader` makes it: the client's Upload-Metadata is what to change.
            self.init(.badRequest, "invalid-header", title: "Invalid Upload-Metadata", detail: error.description)
        case .partNotFound:
            self.init(.notFound, "upload-not-found", title: "No such partial upload", detail: error.description)
        case .notAPartial:
            self.init(.badRequest, "not-a-partial-upload", title: "Not a partial upload", detail: error.description)
        case .partIncomplete:
            self.init(.badRequest, "partial-upload-incomplete", title: "Partial upload not complete", detail: error.description)
        case .partDamaged:
            self.init(.unprocessableContent, "partial-upload-damaged", title: "Partial upload damaged on disk", detail: error.description)
        case .finalUpload:
            self.init(.forbidden, "final-upload", title: "A final upload takes no writes", detail: error.description)
        case .invalidBlockSize:
            // The block size is the query's `size`: what to change.
            self.init(.badRequest, "invalid-query", title: "Invalid block size", detail: error.description)
        case .rangeOutsideChunk(_, let index, _):
            self.init(.rangeNotSatisfiable, "range-outside-chunk", title: "Content-Range is not inside this chunk", detail: error.description)
            body.index = index.value
        case .blockWriteTooLarge:
            self.init(.contentTooLarge, "block-write-too-large", title: "Block write too large", detail: error.description)
        case .chunkVerified(let index):
            self.init(.conflict, "chunk-verified", title: "Chunk already verified", detail: error.description)
            body.index = index.value
        case .chunkMissing(let index):
            self.init(.conflict, "chunk-missing", title: "Chunk missing: send it whole", detail: error.description)
            body.index = index.value
        case .storageUnreachable:
            self = .storageUnreachable(error.description)
        case .storage(let io) where io.isStorageUnreachable:
            self = .storageUnreachable(error.description)
        case .storage(let io) where io.isStaleHandle:
            self.init(.notFound, "upload-not-found", title: "No such upload", detail: "the upload was deleted while this request used it")
        case .storage(let io) where io.isOutOfSpace:
            self.init(.init(code: 507, reasonPhrase: "Insufficient Storage"), "insufficient-storage", title: "Disk full", detail: error.description)
        case .storage:
            self.init(.internalServerError, "storage-error", title: "Storage error", detail: error.description)
        }
    }

    /// 503 with a `Retry-After`: a balancer or client tries another node, or again soon.
    static func storageUnreachable(_ detail: String) -> Problem {
        Problem(
            .serviceUnavailable, "storage-unreachable", title: "The server's storage cannot be reached", detail: detail,
            headers: [.retryAfter: "5"])
    }

    /// 416 with `Content-Range: bytes */LENGTH`, as RFC 9110 asks.
    static func rangeNotAChunk(_ detail: String, uploadLength: Int64) -> Problem {
        Problem(
            .rangeNotSatisfiable, "range-not-a-chunk", title: "Content-Range is not one whole chunk of this upload",
            detail: detail, headers: [.contentRange: "bytes */\(uploadLength)"])
    }

    /// 416 for a block write whose `Content-Range` is not inside the chunk
    /// its path names, with `Content-Range: bytes */LENGTH` as RFC 9110 asks.
    static func rangeOutsideChunk(_ detail: String, index: ChunkIndex, uploadLength: Int64) -> Problem {
        var problem = Problem(
            .rangeNotSatisfiable, "range-outside-chunk", title: "Content-Range is not inside this chunk",
            detail: detail, headers: [.contentRange: "bytes */\(uploadLength)"])
        problem.body.index = index.value
        return problem
    }

    /// 404 for a chunk index in a path that names no chunk of the upload
    /// (not decimal digits, or past its last chunk), as an unknown upload id is.
    static func chunkNotFound(_ text: String, chunkCount: Int) -> Problem {
        Problem(
            .notFound, "chunk-not-found", title: "No such chunk",
            detail: "there is no chunk '\(text)': this upload has \(chunkCount) chunks, numbered from 0")
    }

    static func badHeader(_ name: String, _ detail: String) -> Problem {
        Problem(.badRequest, "invalid-header", title: "Invalid \(name)", detail: detail)
    }

    static let invalidUploadID = Problem(.notFound, "upload-not-found", title: "No such upload", detail: "no such upload")

    static let noSuchPage = Problem(
        .notFound, "not-found", title: "Not found", detail: "no such file: the upload page is at / and its files under /web/")

    static let unauthorized = Problem(
        .unauthorized, "unauthorized", title: "Bearer token required",
        detail: "this server needs 'Authorization: Bearer TOKEN'", headers: [.wwwAuthenticate: "Bearer"])
}
