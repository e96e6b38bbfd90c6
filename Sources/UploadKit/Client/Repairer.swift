import NIOPosix
import SystemPackage

public struct RepairOutcome: Sendable {
    /// Chunks repaired, whether whole or by their blocks.
    public let chunksMoved: Int
    /// Blocks moved by block-level repair (a chunk moved whole counts none).
    public let blocksMoved: Int
    /// Bytes of chunk and block data that crossed the wire.
    public let bytesMoved: Int64
    /// The SHA-256 confirmed after the repair: by the server (push) or by
    /// re-reading the repaired file (pull, local).
    public let sha256: SHA256Digest
}

/// `repair TARGET --from SOURCE`: moves only the chunks where TARGET
/// differs from SOURCE, then confirms the whole file's SHA-256. It refuses,
/// and touches nothing, when SOURCE is damaged too or is another file.
/// Between a file and a server, a chunk both sides hold with other bytes
/// moves by its blocks when few of them differ (see `BlockRepair`).
public struct Repairer: Sendable {
    public var concurrency = 3
    /// Fetches per chunk for a pull (see `ChunkFetcher`).
    public var attempts = 3
    /// The blocks compared inside a chunk that differs (see `ChunkBlocks`);
    /// at or above the upload's chunk size, chunks move whole.
    public var blockSize = ChunkBlocks.defaultBlockSize

    public init() {}

    /// The server's copy is damaged, the local file is good.
    public func push(from path: String, to url: UploadURL, client: UploadClient) async throws -> RepairOutcome {
        let file = try OwnedDescriptor.open(FilePath(path), .readOnly)
        defer { try? file.close() }
        // The geometry and the SHA-256 first: the local pass needs them, and
        // runs while the server audits its copy (two reads of a file, on two
        // machines or two cores, at once rather than one after the other).
        let before = try await client.chunkMap(url)
        let size = try file.size()
        guard size == before.layout.fileSize.bytes else {
            throw ClientError.cannotRepair("\(path) is \(size) bytes, the upload \(before.layout.fileSize.bytes): it is another file")
        }
        // With the upload's SHA-256 known, the local file is checked chunk by
        // chunk against the digests the server recorded (one XXH3 pass on two
        // cores) and the server confirms that SHA-256 from its disk; without it,
        // the local pass computes the SHA-256 to complete with.
        let known = before.status.sha256 ?? before.header.expectedSHA256
        async let scanned = Self.map(file, layout: before.layout, computeSHA256: known == nil)
        // Marks damage at rest `corrupt`, so those chunks may be sent again. The
        // SHA-256 is left to the completion below, which reads the disk anyway.
        _ = try await client.audit(url, checkSHA256: false)
        let remote = try await client.chunkMap(url)
        let local = try await scanned
        guard remote.layout == before.layout else { throw ClientError.badAnswer("the upload's geometry changed during the repair") }
        let sha256 = known ?? local.status.sha256!
        for index in remote.layout.indices {
            guard let theirs = remote[index].digest, theirs != local[index].digest else { continue }
            if known != nil || remote[index].isVerified {
                throw ClientError.cannotRepair(
                    "chunk \(index) of \(path) is not the upload's (its XXH3 differs from the one the server recorded): it is not a good copy")
            }
        }
        let chunks = remote.indices { !$0.isVerified }.map { Chunk(index: $0, range: remote.layout.range(of: $0), digest: local[$0].digest!) }
        let tally = RepairTally()
        let blocks = BlockRepair(
            client: client, url: url, file: file, layout: remote.layout, blockSize: blockSize, attempts: attempts, tally: tally)
        try await WorkerQueue(concurrency: concurrency).run(AsyncStream(chunks)) { chunk in
            // Blocks only reach a corrupt chunk that must become what it
            // recorded, which the local chunk is; any other is sent whole.
            var byBlocks = false
            if remote[chunk.index] == .corrupt(expected: chunk.digest) { byBlocks = try await blocks.push(chunk) }
            if !byBlocks {
                try await client.put(chunk, of: file, to: url, totalLength: size)
                tally.moved(bytes: chunk.range.length)
            }
            tally.repairedChunk()
        }
        // Every chunk verified again: the upload completes again from its disk.
        let confirmed = try await client.complete(url, sha256: sha256)
        guard confirmed == sha256 else { throw ClientError.sha256Mismatch(local: sha256, confirmed: confirmed) }
        return RepairOutcome(chunksMoved: tally.chunks, blocksMoved: tally.blocks, bytesMoved: tally.bytes, sha256: confirmed)
    }

    /// The local copy is damaged (or absent), the server's is complete.
    public func pull(from url: UploadURL, to path: String, client: UploadClient) async throws -> RepairOutcome {
        let audit = try await client.audit(url)
        guard audit.corrupt.isEmpty, audit.sha256Matches != false else {
            throw ClientError.cannotRepair(
                "the upload at \(url) is damaged too (chunks \(audit.corrupt.map(String.init).joined(separator: ", "))): repair it first")
        }
        let remote = try await client.chunkMap(url)
        guard remote.status.state == .complete, let expected = remote.status.sha256 else {
            throw ClientError.cannotRepair("the upload at \(url) is not complete, so it is no good copy")
        }
        let file = try OwnedDescriptor.open(FilePath(path), .readWrite, options: [.create], permissions: [.ownerReadWrite, .groupRead, .otherRead])
        defer { try? file.close() }
        // The bytes the local file held before: past them (a new file, or
        // one grown to the upload's size) there is nothing for blocks to keep.
        let held = try file.size()
        if held != remote.layout.fileSize.bytes { try file.resize(to: remote.layout.fileSize.bytes) }
        let local = try await Self.map(file, layout: remote.layout, computeSHA256: false)
        // Each chunk is checked against the server's XXH3 before it is
        // written (`ChunkFetcher`, shared with `download`): a byte flipped on
        // the way is fetched again, never written over the local copy. A
        // chunk repaired by blocks is checked block by block as they arrive,
        // and then as a whole.
        let chunks = try ChunkMapDiff.differences(local, remote).map { Chunk(index: $0.index, range: $0.range, digest: remote[$0.index].digest!) }
        let buffers = ChunkBuffers(chunkSize: Int(remote.layout.chunkSize.bytes))
        let fetcher = ChunkFetcher(client: client, url: url, output: ChunkOutput(file), buffers: buffers, attempts: attempts)
        let tally = RepairTally()
        let blocks = BlockRepair(
            client: client, url: url, file: file, layout: remote.layout, blockSize: blockSize, attempts: attempts, tally: tally)
        try await WorkerQueue(concurrency: concurrency).run(AsyncStream(chunks)) { chunk in
            var byBlocks = false
            if chunk.range.end <= held { byBlocks = try await blocks.pull(chunk) }
            if !byBlocks {
                buffers.give(try await fetcher.fetch(chunk))
                tally.moved(bytes: chunk.range.length)
            }
            tally.repairedChunk()
        }
        try Self.sync(file)
        let repaired = try await Self.map(file, layout: remote.layout, computeSHA256: true).status.sha256!
        guard repaired == expected else { throw ClientError.sha256Mismatch(local: repaired, confirmed: expected) }
        return RepairOutcome(chunksMoved: tally.chunks, blocksMoved: tally.blocks, bytesMoved: tally.bytes, sha256: repaired)
    }

    /// Both copies are local files; SOURCE is checked against its own map
    /// (`SOURCE.chunkmap`) first when it has one.
    public func local(from source: String, to target: String) async throws -> RepairOutcome {
        let input = try OwnedDescriptor.open(FilePath(source), .readOnly)
        defer { try? input.close() }
        let layout = try ChunkLayout.automatic(fileSize: ByteCount(try input.size()))
        let good = try await Self.map(input, layout: layout, computeSHA256: true)
        if let sourceMap = try? ChunkMapFile.open(FilePath(source + ".chunkmap")) {
            defer { try? sourceMap.close() }
            let recorded = try sourceMap.readMap()
            let findings = try await NIOThreadPool.singleton.runIfActive {
                try FileVerifier.verify(input, map: recorded, expectedSHA256: recorded.status.sha256).findings
            }
            guard findings.isEmpty else {
                throw ClientError.cannotRepair("\(source) is damaged too: \(findings.first!) (\(findings.count) findings against \(source).chunkmap)")
            }
        }
        let output = try OwnedDescriptor.open(FilePath(target), .readWrite, options: [.create], permissions: [.ownerReadWrite, .groupRead, .otherRead])
        defer { try? output.close() }
        if try output.size() != layout.fileSize.bytes { try output.resize(to: layout.fileSize.bytes) }
        let damaged = try await Self.map(output, layout: layout, computeSHA256: false)
        let ranges = try ChunkMapDiff.differences(damaged, good).map(\.range)
        try await NIOThreadPool.singleton.runIfActive {
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: FileRangeReader.blockSize, alignment: 4096)
            defer { buffer.deallocate() }
            for range in ranges {
                var offset = range.offset
                while offset < range.end {
                    let block = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<Int(min(Int64(buffer.count), range.end - offset))])
                    guard try input.readAll(fromAbsoluteOffset: offset, into: block) == block.count else { throw ClientError.fileChanged(source) }
                    try output.writeAll(toAbsoluteOffset: offset, UnsafeRawBufferPointer(block))
                    offset += Int64(block.count)
                }
            }
        }
        try Self.sync(output)
        let repaired = try await Self.map(output, layout: layout, computeSHA256: true).status.sha256!
        let expected = good.status.sha256!
        guard repaired == expected else { throw ClientError.sha256Mismatch(local: repaired, confirmed: expected) }
        return RepairOutcome(chunksMoved: ranges.count, blocksMoved: 0, bytesMoved: ranges.reduce(0) { $0 + $1.length }, sha256: repaired)
    }

    /// A file's chunk map, from one pass on NIO's thread pool.
    static func map(_ file: OwnedDescriptor, layout: ChunkLayout, computeSHA256: Bool) async throws -> ChunkMap {
        let scan = try await NIOThreadPool.singleton.runIfActive {
            try FileScan.scan(file, layout: layout, computeSHA256: computeSHA256)
        }
        return ChunkMap(layout: layout, digests: scan.chunkDigests, sha256: scan.sha256)
    }

    static func sync(_ file: OwnedDescriptor) throws {
        do { try file.dataSync() } catch { throw ClientError.local(error) }
    }
}

extension AsyncStream where Element: Sendable {
    /// A stream of the elements of an array, already finished.
    init(_ elements: [Element]) {
        let (stream, feed) = AsyncStream.makeStream(of: Element.self)
        for element in elements { feed.yield(element) }
        feed.finish()
        self = stream
    }
}
