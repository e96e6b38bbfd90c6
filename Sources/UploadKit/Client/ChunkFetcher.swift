import NIOCore
import NIOPosix

/// Fetches chunks of a complete upload into a local file so that no byte
/// that arrived wrong is ever written: each chunk is gathered whole into a
/// buffer (one chunk per request in flight, never the file), its XXH3 is
/// checked against the digest the server recorded, and only then is it
/// written at its offset with positioned writes. A chunk that arrives with
/// another XXH3 is fetched again, as is one whose fetch failed on the way
/// (with doubling backoff); after `attempts` it fails, naming the chunk.
///
/// Shared by `download` and pull `repair`, so that both trust the wire
/// equally little. It does not sync: each caller decides when the bytes
/// must be durable (a download before each map entry, a repair once).
public struct ChunkFetcher: Sendable {
    public let client: UploadClient
    public let url: UploadURL
    public let file: OwnedDescriptor
    /// Fetches per chunk in all, whether they arrived wrong or failed on the way.
    public var attempts: Int
    public var firstBackoff: Duration = .milliseconds(200)
    /// Hears each failed fetch that is about to be repeated (a progress bar counts them).
    public var onRetry: (@Sendable (ChunkIndex, ClientError) -> Void)?

    public init(
        client: UploadClient, url: UploadURL, file: OwnedDescriptor, attempts: Int = 3,
        onRetry: (@Sendable (ChunkIndex, ClientError) -> Void)? = nil
    ) {
        precondition(attempts >= 1, "a chunk is fetched at least once")
        self.client = client
        self.url = url
        self.file = file
        self.attempts = attempts
        self.onRetry = onRetry
    }

    /// Fetches `chunk` (its `digest` the one the server recorded), checks it
    /// and writes it at its offset; answers the attempts it took. Throws
    /// `ClientError.chunkArrivedWrong` when it never arrived intact: nothing
    /// of it was written then.
    @discardableResult
    public func fetch(_ chunk: Chunk) async throws -> Int {
        var attempt = 0
        var delay = firstBackoff
        while true {
            attempt += 1
            let failure: ClientError
            do {
                let received = try await client.fetch(url, range: chunk.range)
                let actual = try await Self.writeIfIntact(received, as: chunk, into: file)
                if actual == chunk.digest { return attempt }
                failure = .chunkArrivedWrong(index: chunk.index, range: chunk.range, expected: chunk.digest, actual: actual, attempts: attempt)
            } catch let error as ClientError where error.isTransient {
                failure = error
            }
            guard attempt < attempts else { throw failure }
            onRetry?(chunk.index, failure)
            // Wrong bytes are asked for again at once; a network or server
            // failure is given time to pass.
            if failure.isTransient {
                try await Task.sleep(for: delay)
                delay *= 2
            }
        }
    }

    /// Hashes the received bytes and writes them only when they hash to the
    /// chunk's digest; answers the digest they have. On NIO's thread pool:
    /// hashing and the write are blocking work.
    private static func writeIfIntact(_ received: ByteBuffer, as chunk: Chunk, into file: OwnedDescriptor) async throws -> XXH3Digest {
        do {
            return try await NIOThreadPool.singleton.runIfActive {
                try received.withUnsafeReadableBytes { bytes throws(IOError) -> XXH3Digest in
                    let actual = XXH3Hasher.hash(bytes)
                    if actual == chunk.digest { try file.writeAll(toAbsoluteOffset: chunk.range.offset, bytes) }
                    return actual
                }
            }
        } catch let error as IOError {
            throw ClientError.local(error)
        }
    }
}
