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
    public let output: ChunkOutput
    /// Where each chunk is gathered; `fetch` hands its buffer to the caller.
    public let buffers: ChunkBuffers
    /// Fetches per chunk in all, whether they arrived wrong or failed on the way.
    public var attempts: Int
    public var firstBackoff: Duration = .milliseconds(200)
    /// Hears each failed fetch that is about to be repeated (a progress bar counts them).
    public var onRetry: (@Sendable (ChunkIndex, ClientError) -> Void)?

    public init(
        client: UploadClient, url: UploadURL, output: ChunkOutput, buffers: ChunkBuffers, attempts: Int = 3,
        onRetry: (@Sendable (ChunkIndex, ClientError) -> Void)? = nil
    ) {
        precondition(attempts >= 1, "a chunk is fetched at least once")
        self.client = client
        self.url = url
        self.output = output
        self.buffers = buffers
        self.attempts = attempts
        self.onRetry = onRetry
    }

    /// Fetches `chunk` (its `digest` the one the server recorded), checks it
    /// and writes it at its offset; answers the buffer that holds its bytes,
    /// for the caller to give back to `buffers` when it is done with them.
    /// Throws `ClientError.chunkArrivedWrong` when it never arrived intact:
    /// nothing of it was written then.
    public func fetch(_ chunk: Chunk) async throws -> ChunkBuffer {
        let buffer = buffers.take()
        var attempt = 0
        var delay = firstBackoff
        while true {
            attempt += 1
            let failure: ClientError
            do {
                try await client.fetch(url, range: chunk.range, into: buffer)
                let actual = try await Self.writeIfIntact(buffer, as: chunk, into: output)
                if actual == chunk.digest { return buffer }
                failure = .chunkArrivedWrong(index: chunk.index, range: chunk.range, expected: chunk.digest, actual: actual, attempts: attempt)
            } catch let error as ClientError where error.isTransient {
                failure = error
            } catch {
                buffers.give(buffer)
                throw error
            }
            guard attempt < attempts else {
                buffers.give(buffer)
                throw failure
            }
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
    private static func writeIfIntact(_ buffer: ChunkBuffer, as chunk: Chunk, into output: ChunkOutput) async throws -> XXH3Digest {
        do {
            return try await NIOThreadPool.singleton.runIfActive { () throws(IOError) -> XXH3Digest in
                let actual = XXH3Hasher.hash(buffer.bytes)
                if actual == chunk.digest { try output.write(buffer, at: chunk.range.offset) }
                return actual
            }
        } catch let error as IOError {
            throw ClientError.local(error)
        }
    }
}
