import NIOCore
import NIOPosix
import SystemPackage

/// Hears how an upload goes; the command line draws it, tests count it.
public protocol UploadProgress: Sendable {
    func started(totalBytes: Int64, alreadyOnServer: Int64, chunkCount: Int)
    func chunkSent(bytes: Int64)
    func retrying(chunk: ChunkIndex, after error: ClientError)
}

public struct UploadOutcome: Sendable {
    public let url: UploadURL
    public let sha256: SHA256Digest
    public let chunksSent: Int
    public let bytesSent: Int64
    /// The file was already uploaded and confirmed: nothing was sent.
    public let alreadyComplete: Bool
    public let resumed: Bool
}

/// `upload FILE --server URL`: one in-order read of the file computes every
/// chunk's XXH3 and the SHA-256; each chunk the server lacks is handed, as
/// soon as it is hashed, to a worker queue that keeps `concurrency`
/// requests in flight, each chunk read back from the file at its offset.
public struct Uploader: Sendable {
    public var chunkSize: ByteCount?
    public var concurrency = 3
    /// Attempts per request (each chunk, the creation, the completion) for
    /// network errors and 5xx, with doubling backoff.
    public var attempts = 5
    public var firstBackoff: Duration = .milliseconds(200)
    /// Where the file is read and hashed (nil: NIO's shared pool, which also
    /// reads the chunk bodies). Many files at once get a pool of their own,
    /// so that their scans never take every thread the bodies need.
    public var scanPool: NIOThreadPool?

    private var retry: Retry { Retry(attempts: attempts, firstBackoff: firstBackoff) }

    public init() {}

    public func upload(
        path: String, server: String, explicitURL: UploadURL?, client: UploadClient, state: ResumeState, progress: any UploadProgress
    ) async throws -> UploadOutcome {
        let file = try OwnedDescriptor.open(FilePath(path), .readOnly)
        defer { try? file.close() }
        let fingerprint = try ResumeState.fingerprint(of: file, path: path)
        let size = fingerprint.size

        var url = explicitURL
        var status: Handshake?
        var resumed = false
        if url == nil, let previous = state.lookup(fingerprint, server: server) { url = previous.url }
        if let known = url {
            do {
                let handshake = try await client.handshake(known)
                guard handshake.layout.fileSize.bytes == size else {
                    throw ClientError.sizeMismatch(local: size, remote: handshake.layout.fileSize.bytes)
                }
                status = handshake
                resumed = true
            } catch let error as ClientError where explicitURL == nil && !error.isTransient {
                // The remembered upload is gone or belongs to another file: start afresh.
                // (With --id, the same errors are the user's to see.)
                state.record(fingerprint, url: nil)
                url = nil
            }
        }
        if let url, let status, status.isComplete, let confirmed = status.sha256 {
            state.record(fingerprint, url: url, complete: true)
            return UploadOutcome(url: url, sha256: confirmed, chunksSent: 0, bytesSent: 0, alreadyComplete: true, resumed: true)
        }
        let uploadURL: UploadURL
        let layout: ChunkLayout
        if let url, let status {
            uploadURL = url
            layout = status.layout
        } else {
            layout = try chunkSize.map { try ChunkLayout(fileSize: ByteCount(size), chunkSize: $0) } ?? .automatic(fileSize: ByteCount(size))
            let name = FilePath(path).lastComponent?.string ?? path
            let metadata = "filename " + Data(name.utf8).base64EncodedString()
            // Through a balancer, a node that dies mid-request answers 502: the
            // creation is tried again, which may leave an empty upload behind
            // on the dead node's storage, for the server's expiry to remove.
            uploadURL = try await retry.run {
                try await client.create(server: server, length: size, chunkSize: layout.chunkSize, metadata: metadata)
            }
            state.record(fingerprint, url: uploadURL)
        }
        let onServer = status?.bitmap
        let alreadyOnServer = layout.indices.reduce(Int64(0)) { $0 + (onServer?[$1] == true ? layout.range(of: $1).length : 0) }
        progress.started(totalBytes: size, alreadyOnServer: alreadyOnServer, chunkCount: layout.chunkCount)

        // The reading thread feeds chunks to the queue as it hashes them.
        let (chunks, feed) = AsyncStream<Chunk>.makeStream()
        let pool = scanPool ?? .singleton
        let scanning = Task {
            defer { feed.finish() }
            return try await pool.runIfActive {
                try FileScan.scan(
                    file, layout: layout, computeSHA256: true,
                    onChunk: { index, digest in
                        if onServer?[index] != true { feed.yield(Chunk(index: index, range: layout.range(of: index), digest: digest)) }
                    })
            }
        }
        let counter = SentCounter()
        let queue = WorkerQueue(concurrency: concurrency)
        do {
            try await queue.run(chunks) { chunk in
                try await send(chunk, of: file, to: uploadURL, size: size, client: client, progress: progress)
                counter.add(chunk.range.length)
                progress.chunkSent(bytes: chunk.range.length)
            }
        } catch {
            scanning.cancel()
            _ = try? await scanning.value
            throw error
        }
        let scan = try await scanning.value
        guard let sha256 = scan.sha256 else { throw ClientError.badAnswer("no SHA-256 computed") }
        // A file that changed while it was read would complete as a file that never existed.
        if try ResumeState.fingerprint(of: file, path: path) != fingerprint { throw ClientError.fileChanged(path) }
        // Completing a complete upload answers its SHA-256 again: safe to repeat.
        let confirmed = try await retry.run { try await client.complete(uploadURL, sha256: sha256) }
        guard confirmed == sha256 else { throw ClientError.sha256Mismatch(local: sha256, confirmed: confirmed) }
        state.record(fingerprint, url: uploadURL, complete: true)
        return UploadOutcome(
            url: uploadURL, sha256: confirmed, chunksSent: counter.chunks, bytesSent: counter.bytes, alreadyComplete: false, resumed: resumed)
    }

    /// Sends one chunk, retrying transient failures with doubling backoff.
    private func send(_ chunk: Chunk, of file: OwnedDescriptor, to url: UploadURL, size: Int64, client: UploadClient, progress: any UploadProgress) async throws
    {
        try await retry.run(onRetry: { progress.retrying(chunk: chunk.index, after: $0) }) {
            try await client.put(chunk, of: file, to: url, totalLength: size)
        }
    }
}

/// Chunks and bytes that crossed the wire.
final class SentCounter: Sendable {
    private let state = Locked<(chunks: Int, bytes: Int64)>((0, 0))
    func add(_ bytes: Int64) {
        state.withLock {
            $0.chunks += 1
            $0.bytes += bytes
        }
    }
    var chunks: Int { state.withLock { $0.chunks } }
    var bytes: Int64 { state.withLock { $0.bytes } }
}

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
