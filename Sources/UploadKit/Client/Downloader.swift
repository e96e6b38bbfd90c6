import NIOPosix
import SystemPackage

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

public struct DownloadOutcome: Sendable {
    public let path: String
    /// The SHA-256 read back from the local disk, equal to the server's confirmed one.
    public let sha256: SHA256Digest
    public let chunksFetched: Int
    public let bytesFetched: Int64
    /// Chunks already on disk with the server's bytes (a download resumed,
    /// or a file taken over with `force`), kept and not fetched.
    public let chunksOnDisk: Int
}

/// Why a download does not start or does not end with a confirmed file.
public enum DownloadError: Error, Sendable, CustomStringConvertible {
    /// The upload is still receiving, or damaged: it has no bytes to vouch for.
    case notComplete(UploadURL, state: UploadState, verified: Int, chunkCount: Int)
    /// The output exists and is not a download of this upload.
    case wouldOverwrite(String)
    case notAFile(String)
    /// A chunk written and checked no longer reads back with its digest.
    case changedOnDisk(String, IntegrityFinding)

    public var description: String {
        switch self {
        case .notComplete(let url, let state, let verified, let chunkCount):
            if state == .damaged {
                return
                    "the upload at \(url) is damaged (an audit found changed chunks): repair it first with 'uploadverify repair \(url) --from GOOD-COPY'"
            }
            return
                "the upload at \(url) is not complete (\(verified) of \(chunkCount) chunks received, no SHA-256 confirmed): download it once its upload has completed"
        case .wouldOverwrite(let path):
            return "\(path) exists and is not a download of this upload (no .chunkmap of it beside it): give another -o, or --force to overwrite it"
        case .notAFile(let path):
            return "\(path) is not a regular file: give another -o"
        case .changedOnDisk(let path, let finding):
            return "\(path) changed on disk while it was being downloaded (\(finding)): run the same download again"
        }
    }
}

/// `download URL [-o FILE]`: the chunks of a complete upload, fetched with
/// ranged GETs through a worker queue (at most `concurrency` in flight),
/// each checked against the server's XXH3 before it is written in place
/// (`ChunkFetcher`), into a file created at its full size (sparse). Beside
/// it, and written before it, `FILE.chunkmap` (the upload's header, so a later run knows it is a
/// download of the same upload) marks each chunk verified once its bytes
/// are synced, so `verify FILE` works later without the server. Run again
/// over a partial output, it re-hashes what is on disk and fetches only
/// the chunks that do not have the server's digest. The end is the whole
/// file's SHA-256, read back from the disk, against the server's confirmed one.
public struct Downloader: Sendable {
    public var concurrency = 3
    /// Fetches per chunk (see `ChunkFetcher`).
    public var attempts = 3
    /// Take over an existing file that is not a download of this upload;
    /// its chunks that already hold the upload's bytes are kept.
    public var force = false

    public init() {}

    /// `requestedPath` nil saves under `defaultName(for:id:)`. Progress hears the bytes
    /// already on disk as `alreadyOnServer` (what needs no transfer).
    public func download(from url: UploadURL, to requestedPath: String?, client: UploadClient, progress: any UploadProgress) async throws -> DownloadOutcome {
        let remote = try await client.chunkMap(url)
        let layout = remote.layout
        guard remote.status.state == .complete, let confirmed = remote.status.sha256, remote.chunks.allSatisfy(\.isVerified) else {
            throw DownloadError.notComplete(url, state: remote.status.state, verified: remote.verifiedCount, chunkCount: layout.chunkCount)
        }
        let path = requestedPath ?? Self.defaultName(for: remote.header, id: url.id)
        let mapPath = FilePath(path + ".chunkmap")
        let (file, fresh) = try openOutput(path, mapPath: mapPath, header: remote.header)
        defer { try? file.close() }
        if try file.size() != layout.fileSize.bytes { try file.resize(to: layout.fileSize.bytes) }

        // Nothing on disk is taken on trust, not even what an earlier run's
        // map says: each chunk is re-hashed and kept only with the server's digest.
        var onDisk: ChunkMap?
        if !fresh { onDisk = try await Repairer.map(file, layout: layout, computeSHA256: false) }
        var states = [ChunkState]()
        states.reserveCapacity(layout.chunkCount)
        for index in layout.indices {
            if let digest = onDisk?[index].digest, digest == remote[index].digest {
                states.append(.verified(digest))
            } else {
                states.append(.missing)
            }
        }
        let local = ChunkMap(header: remote.header, status: ChunkMapStatus(state: .receiving), chunks: states)
        // The chunks kept must be durable before the map first vouches for them.
        try Repairer.sync(file)
        try ChunkMapFile.write(local, to: mapPath)
        let mapFile = try ChunkMapFile.open(mapPath, writable: true)
        defer { try? mapFile.close() }

        let wanted = local.indices(where: { !$0.isVerified }).map { Chunk(index: $0, range: layout.range(of: $0), digest: remote[$0].digest!) }
        progress.started(totalBytes: layout.fileSize.bytes, alreadyOnServer: local.verifiedBytes, chunkCount: layout.chunkCount)
        let fetched = SentCounter()
        let (sha256, findings) = try await fetch(
            wanted, of: url, into: file, mapFile: mapFile, keeping: local, expected: remote, client: client, progress: progress, fetched: fetched)
        for case .corrupt(let index, _, let expected, _) in findings {
            try mapFile.write(.corrupt(expected: expected), at: index)
        }
        if let damage = findings.first {
            try? mapFile.sync()
            throw DownloadError.changedOnDisk(path, damage)
        }
        guard sha256 == confirmed else { throw ClientError.sha256Mismatch(local: sha256, confirmed: confirmed) }
        try mapFile.write(ChunkMapStatus(state: .complete, sha256: sha256))
        try mapFile.sync()
        return DownloadOutcome(
            path: path, sha256: sha256, chunksFetched: fetched.chunks, bytesFetched: fetched.bytes, chunksOnDisk: local.verifiedCount)
    }

    /// Fetches `wanted` into `file` and marks each chunk verified in
    /// `mapFile` once it is synced, while the whole file's SHA-256 is carried
    /// on in chunk order (`DownloadDigest`) over the chunks fetched and those
    /// `keeping` has verified, read back. Answers that SHA-256 and the kept
    /// chunks that no longer read back with their digest.
    private func fetch(
        _ wanted: [Chunk], of url: UploadURL, into file: OwnedDescriptor, mapFile: ChunkMapFile, keeping local: ChunkMap,
        expected remote: ChunkMap, client: UploadClient, progress: any UploadProgress, fetched: SentCounter
    ) async throws -> (sha256: SHA256Digest, findings: [IntegrityFinding]) {
        let layout = remote.layout
        let buffers = ChunkBuffers(chunkSize: Int(layout.chunkSize.bytes))
        let output = ChunkOutput(file, directly: true)
        defer { output.close() }
        let fetcher = ChunkFetcher(
            client: client, url: url, output: output, buffers: buffers, attempts: attempts,
            onRetry: { index, error in progress.retrying(chunk: index, after: error) })
        // As on the server: a chunk's bytes reach the disk before its entry
        // says `verified`, so that a crash never leaves the map vouching for
        // bytes that were lost; one sync covers the chunks written meanwhile.
        let marks = DurableMarks(file: file, mapFile: mapFile)
        let marking = Task { try await marks.run() }
        let digest = DownloadDigest(
            file: file, layout: layout, expected: remote.chunks.map { $0.digest! }, buffers: buffers, concurrency: concurrency)
        for index in local.indices(where: \.isVerified) { digest.kept(index) }
        let hashing = Task { try await digest.run() }
        do {
            try await WorkerQueue(concurrency: concurrency).run(AsyncStream(wanted)) { chunk in
                let buffer = try await fetcher.fetch(chunk)
                marks.written(chunk)
                fetched.add(chunk.range.length)
                progress.chunkSent(bytes: chunk.range.length)
                await digest.written(chunk.index, from: buffer)
            }
            // The last chunks' hashing and the last sync run together.
            digest.finish()
            marks.finish()
            try await marking.value
            try await marks.flush()
        } catch {
            digest.finish()
            marks.finish()
            // The chunks fetched are marked once synced: the next run starts from them.
            _ = try? await marking.value
            try? await marks.flush()
            try? mapFile.sync()
            _ = try? await hashing.value
            throw error
        }
        try mapFile.sync()
        // Every chunk is written, so the hashing reaches the end.
        return try await hashing.value!
    }

    /// Opens the output for writing; `fresh` when it was created just now.
    /// An existing file is taken over only when it is a download of this
    /// upload (its `.chunkmap` has the upload's header), or with `force`.
    /// A new one is created after its `.chunkmap` (every chunk missing): a
    /// run killed between the two leaves a map without its file, which the
    /// next run starts afresh, never a file without its map, which it would
    /// refuse to overwrite.
    private func openOutput(_ path: String, mapPath: FilePath, header: ChunkMapHeader) throws -> (file: OwnedDescriptor, fresh: Bool) {
        let existing: OwnedDescriptor
        do {
            existing = try OwnedDescriptor.open(FilePath(path), .readWrite)
        } catch let error as IOError where error.errno == .noSuchFileOrDirectory {
            let empty = ChunkMap(
                header: header, status: ChunkMapStatus(state: .receiving), chunks: Array(repeating: .missing, count: header.layout.chunkCount))
            try ChunkMapFile.write(empty, to: mapPath)
            let created = try OwnedDescriptor.open(
                FilePath(path), .readWrite, options: [.create, .exclusiveCreate], permissions: [.ownerReadWrite, .groupRead, .otherRead])
            return (created, true)
        }
        guard try existing.status().type == .regular else { throw DownloadError.notAFile(path) }
        if !force, Self.recordedHeader(at: mapPath) != header { throw DownloadError.wouldOverwrite(path) }
        return (existing, false)
    }

    private static func recordedHeader(at path: FilePath) -> ChunkMapHeader? {
        guard let map = try? ChunkMapFile.open(path) else { return nil }
        defer { try? map.close() }
        return map.header
    }

    /// The name a download is saved under when none is given, in the
    /// current directory: the upload's `filename` metadata when it is a plain
    /// file name, else the upload's id. The server does not get to choose
    /// where a file lands: a name with a `/`, `.` or `..`, a control
    /// character or bytes that are not UTF-8 is not taken.
    public static func defaultName(for header: ChunkMapHeader, id: UploadID) -> String {
        guard let pairs = try? UploadMetadata.validate(header.metadata),
            let encoded = pairs.first(where: { $0.key == "filename" })?.value,
            let decoded = Data(base64Encoded: encoded)
        else { return id.rawValue }
        let name = String(decoding: decoded, as: UTF8.self)
        return isPlainName(name) ? name : id.rawValue
    }

    static func isPlainName(_ name: String) -> Bool {
        guard !name.isEmpty, name != ".", name != "..", name.utf8.count <= 255, !name.hasSuffix(".chunkmap") else { return false }
        return !name.unicodeScalars.contains { $0 == "/" || $0 == "\u{FFFD}" || $0.value < 0x20 || $0.value == 0x7F }
    }
}
