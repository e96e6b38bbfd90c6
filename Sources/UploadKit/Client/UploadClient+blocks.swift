import AsyncHTTPClient
import NIOCore
import NIOHTTP1

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// What a block write left on the server.
public struct BlockWriteOutcome: Sendable, Hashable {
    /// The chunk hashes to its recorded XXH3 again, and is verified.
    public let verified: Bool
    /// The XXH3 of the whole chunk on the server's disk now.
    public let digest: XXH3Digest
}

extension UploadClient {
    /// The XXH3 of each block of one chunk on the server, as its bytes are
    /// on disk now. A server without block-level repair answers
    /// `ClientError.server` for which `meansNoBlockRepair` holds.
    public func blockDigests(_ url: UploadURL, chunk blocks: ChunkBlocks) async throws(ClientError) -> [XXH3Digest] {
        let answer = try await send(.GET, url.description + "/chunks/\(blocks.index.value)/blocks?size=\(blocks.blockSize)")
        guard answer.status == 200 else { throw failure(answer) }
        let document: BlockDigestsDocument
        do { document = try JSONDecoder().decode(BlockDigestsDocument.self, from: Data(answer.body.readableBytesView)) } catch {
            throw .badAnswer("its block digests: \(error)")
        }
        guard document.chunk == blocks.index.value, document.offset == blocks.chunk.offset, document.length == blocks.chunk.length,
            document.blockSize == blocks.blockSize, document.xxh3.count == blocks.count
        else {
            throw .badAnswer(
                "it gave \(document.xxh3.count) digests of \(document.blockSize)-byte blocks of chunk \(document.chunk) (bytes \(document.offset), \(document.length) long) "
                    + "for the \(blocks.count) blocks of \(blocks.blockSize) bytes of chunk \(blocks.index) (\(blocks.chunk))")
        }
        var digests = [XXH3Digest]()
        digests.reserveCapacity(document.xxh3.count)
        for hex in document.xxh3 {
            guard let digest = try? XXH3Digest(hex: hex) else { throw .badAnswer("block digest '\(hex)' is not 16 hex digits") }
            digests.append(digest)
        }
        return digests
    }

    /// Writes `bytes` over `range` (inside chunk `index`, a corrupt chunk on
    /// the server) with the `xxh3` of exactly these bytes, and answers what
    /// the chunk is now. The bytes are the caller's, already read: the digest
    /// sent is the digest of what is sent.
    public func writeBlocks(
        _ bytes: ByteBuffer, at range: ByteRange, chunk index: ChunkIndex, to url: UploadURL, totalLength: Int64
    ) async throws(ClientError) -> BlockWriteOutcome {
        let digest = bytes.withUnsafeReadableBytes { XXH3Hasher.hash($0) }
        let headers = [
            ("Content-Range", "bytes \(range.offset)-\(range.lastByte)/\(totalLength)"),
            ("Content-Digest", DigestField(xxh3: digest).headerValue),
        ]
        let answer = try await send(.PATCH, url.description + "/chunks/\(index.value)", headers: headers, body: .bytes(bytes))
        guard answer.status == 200 else { throw failure(answer) }
        let document: BlockWriteDocument
        do { document = try JSONDecoder().decode(BlockWriteDocument.self, from: Data(answer.body.readableBytesView)) } catch {
            throw .badAnswer("its block write receipt: \(error)")
        }
        guard document.chunk == index.value, ["verified", "corrupt"].contains(document.state), let now = try? XXH3Digest(hex: document.xxh3) else {
            throw .badAnswer("its block write receipt for chunk \(index) names chunk \(document.chunk), state '\(document.state)', xxh3 '\(document.xxh3)'")
        }
        return BlockWriteOutcome(verified: document.state == "verified", digest: now)
    }
}

extension ClientError {
    /// The server has no block-level repair (one older than it): no such
    /// route (`404 http-404`, this server's answer for a path or method it
    /// does not know) or a `405` from another server.
    public var meansNoBlockRepair: Bool {
        guard case .server(let status, _, _) = self else { return false }
        return status == 405 || (status == 404 && problemSlug == "http-404")
    }
}
