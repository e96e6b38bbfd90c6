import Foundation
import SystemPackage
import Testing
import UploadKit

/// Block-level `repair`, end to end: 3 bytes flipped in 3 chunks of an
/// 8 MiB upload in 1 MiB chunks, repaired through `FaultProxy`, which counts
/// the request and answer body bytes that cross it (headers not counted):
/// only the three damaged 64 KiB blocks move, in either direction, and the
/// repair ends as before, with the SHA-256 confirmed. Then crashes inside a
/// block write, which leave every verified chunk holding its bytes.
@Suite(.serialized) struct BlockRepairTests {
    static let chunk = 1 << 20
    static let chunkCount = 8
    static let block = 65_536
    /// The blocks a few damaged bytes are narrowed down to.
    static let smallBlock = 4096
    /// One byte in a different block of each of three chunks.
    static let flipped = [1 * chunk + 17, 4 * chunk + 5 * block + 300, 6 * chunk + 15 * block + block - 1]
    static let damagedChunks = [1, 4, 6]
    /// What block-level repair may move at most: the three (64 KiB) blocks, and 5% more.
    static let allowance = 3 * block + 3 * block / 20

    func run(_ workspace: Workspace, _ arguments: String...) throws -> CommandResult {
        setenv("XDG_CACHE_HOME", workspace.path("cache"), 1)
        return try UploadVerifyBinary.run(arguments, in: workspace.url)
    }

    typealias Uploaded = (server: ServerProcess, url: String, data: String)

    /// A server holding a complete upload of the random 8 MiB file `f`: its URL and data file.
    func uploaded(_ workspace: Workspace, environment: [String: String] = [:], fsync: Bool = false) throws -> Uploaded {
        let server = try ServerProcess(
            dataDirectory: workspace.url.appendingPathComponent("uploads"), arguments: fsync ? [] : ["--no-fsync"], environment: environment)
        try Subprocess.writeRandomFile(workspace.path("f"), count: Self.chunkCount * Self.chunk)
        let upload = try run(workspace, "upload", "f", "--server", server.base, "--chunk-size", "1MiB", "--json")
        try #require(upload.status == 0, "\(upload.stderr)")
        let object = try json(upload.stdout)
        let id = try #require(object["id"] as? String)
        return (server, try #require(object["url"] as? String), workspace.url.appendingPathComponent("uploads/\(id)").path)
    }

    /// Flips the bits of the byte at each offset of `path`, in place.
    func flip(_ path: String, at offsets: [Int]) throws {
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        for offset in offsets {
            try handle.seek(toOffset: UInt64(offset))
            let byte = try #require(try handle.read(upToCount: 1)).first ?? 0
            try handle.seek(toOffset: UInt64(offset))
            try handle.write(contentsOf: Data([byte ^ 0xFF]))
        }
    }

    func contents(_ path: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: path)) }

    @Test func pushRepairOfThreeFlippedBytesMovesOnlyTheirBlocks() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        let (server, url, data) = try uploaded(workspace)
        defer { withExtendedLifetime(server) {} }
        try flip(data, at: Self.flipped)
        let proxy = try FaultProxy(target: server.port)
        let result = try run(workspace, "repair", proxy.route(url), "--from", "f", "--json")
        #expect(result.status == 0, "\(result.stderr)")
        let object = try json(result.stdout)
        #expect(object["chunksMoved"] as? Int == 3)
        #expect(object["blocksMoved"] as? Int == 3)
        #expect(object["bytesMoved"] as? Int == 3 * Self.smallBlock, "each damaged block narrowed to the 4 KiB that hold the flipped byte")
        #expect(object["sha256"] as? String == SHA256Hasher.hash([UInt8](try contents(workspace.path("f")))).description)
        let stats = try proxy.stats()
        #expect(stats.requestBodyBytes == 3 * Self.smallBlock, "only the three 4 KiB blocks were sent")
        #expect(stats.requestBodyBytes + stats.responseBodyBytes <= Self.allowance, "bodies on the wire: \(stats)")
        #expect(try contents(data) == (try contents(workspace.path("f"))))
        #expect(try run(workspace, "verify", url).status == 0)
    }

    @Test func pullRepairOfThreeFlippedBytesFetchesOnlyTheirBlocks() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        let (server, url, _) = try uploaded(workspace)
        defer { withExtendedLifetime(server) {} }
        let original = try contents(workspace.path("f"))
        try flip(workspace.path("f"), at: Self.flipped)
        let proxy = try FaultProxy(target: server.port)
        let result = try run(workspace, "repair", "f", "--from", proxy.route(url), "--json")
        #expect(result.status == 0, "\(result.stderr)")
        let object = try json(result.stdout)
        #expect(object["chunksMoved"] as? Int == 3)
        #expect(object["blocksMoved"] as? Int == 3)
        #expect(object["sha256"] as? String == SHA256Hasher.hash([UInt8](original)).description)
        let stats = try proxy.stats()
        #expect(stats.dataRanges.count == 3, "one ranged GET per damaged block: \(stats.dataRanges)")
        #expect(stats.requestBodyBytes + stats.responseBodyBytes <= Self.allowance, "bodies on the wire: \(stats)")
        #expect(try contents(workspace.path("f")) == original)
    }

    @Test func aBlockThatArrivesWrongIsFetchedAgain() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        let (server, url, _) = try uploaded(workspace)
        defer { withExtendedLifetime(server) {} }
        let original = try contents(workspace.path("f"))
        try flip(workspace.path("f"), at: [Self.flipped[0]])
        let damagedBlock = Self.flipped[0] / Self.smallBlock * Self.smallBlock
        let proxy = try FaultProxy(target: server.port, corrupt: [damagedBlock: 1])
        let result = try run(workspace, "repair", "f", "--from", proxy.route(url), "--json")
        #expect(result.status == 0, "\(result.stderr)")
        let range = "bytes=\(damagedBlock)-\(damagedBlock + Self.smallBlock - 1)"
        #expect(try proxy.stats().dataRanges == [range, range])
        #expect(try contents(workspace.path("f")) == original)
    }

    @Test func aBlockSizeAtTheChunkSizeMovesWholeChunks() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        let (server, url, data) = try uploaded(workspace)
        defer { withExtendedLifetime(server) {} }
        try flip(data, at: Self.flipped)
        let result = try run(workspace, "repair", url, "--from", "f", "--block-size", "1MiB", "--json")
        #expect(result.status == 0, "\(result.stderr)")
        let object = try json(result.stdout)
        #expect(object["blocksMoved"] as? Int == 0)
        #expect(object["bytesMoved"] as? Int == 3 * Self.chunk)
    }

    @Test func aServerWithoutBlocksIsAskedOnceAndGetsWholeChunks() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        let (server, url, data) = try uploaded(workspace)
        defer { withExtendedLifetime(server) {} }
        try flip(data, at: Self.flipped)
        // As a server from before block-level repair answers the blocks endpoint.
        let proxy = try FaultProxy(target: server.port, missing: [(method: "GET", suffix: "/blocks")])
        let result = try run(workspace, "repair", proxy.route(url), "--from", "f", "--concurrency", "1", "--json")
        #expect(result.status == 0, "\(result.stderr)")
        let object = try json(result.stdout)
        #expect(object["blocksMoved"] as? Int == 0)
        #expect(object["bytesMoved"] as? Int == 3 * Self.chunk)
        #expect(try proxy.stats().missingRequests == 1, "not asked again once it had no blocks")
        #expect(try contents(data) == (try contents(workspace.path("f"))))
    }

    @Test(arguments: ["3000", "2KiB", "12KiB", "512MiB", "big"])
    func aBlockSizeOutsideTheContractIsBadInput(_ size: String) throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        _ = try workspace.write([1, 2, 3], to: "a")
        _ = try workspace.write([1, 2, 4], to: "b")
        let result = try run(workspace, "repair", "b", "--from", "a", "--block-size", size)
        #expect(result.status == 2, "\(result.stderr)")
        #expect(result.stderr.hasPrefix("uploadverify: "))
    }

    /// The server killed (as `kill -9`) at each point of its second block
    /// write (one chunk at a time, so the first damaged chunk was repaired
    /// before it), then restarted on the same directory: every chunk the map
    /// calls verified holds the source's bytes, the chunk being written is
    /// verified only if its entry was written, and a second repair completes.
    @Test(arguments: CrashPoint.inBlockWrite)
    func aCrashInsideABlockRepairLeavesEveryVerifiedChunkHoldingItsBytes(_ point: CrashPoint) throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        let (crashing, url, data) = try uploaded(workspace, environment: [CrashSwitch.environmentVariable: "\(point.rawValue):2"], fsync: true)
        let source = [UInt8](try contents(workspace.path("f")))
        try flip(data, at: Self.flipped)
        let interrupted = try run(workspace, "repair", url, "--from", "f", "--concurrency", "1")
        #expect(interrupted.status != 0)
        try #require(crashing.waitForExit(timeout: 60), "the server did not crash \(point.rawValue)")
        #expect(crashing.process.terminationReason == .uncaughtSignal && crashing.process.terminationStatus == SIGKILL)

        let verified = try verifiedChunksHoldingTheirBytes(data: data, source: source)
        let entryWritten = point == .afterBlockEntry
        let expected = Self.chunkCount - Self.damagedChunks.count + 1 + (entryWritten ? 1 : 0)
        #expect(verified == expected, "verified after a crash \(point.rawValue)")

        let restarted = try ServerProcess(dataDirectory: crashing.dataDirectory)
        defer { withExtendedLifetime(restarted) {} }
        let id = URL(fileURLWithPath: data).lastPathComponent
        let again = try run(workspace, "repair", "\(restarted.base)/uploads/\(id)", "--from", "f", "--json")
        #expect(again.status == 0, "\(again.stderr)")
        #expect(try json(again.stdout)["sha256"] as? String == SHA256Hasher.hash(source).description)
        #expect(try contents(data) == Data(source))
    }

    /// Reads the chunk map from disk; every verified entry's bytes must be
    /// the source's and hash to its digest. Returns how many are verified.
    private func verifiedChunksHoldingTheirBytes(data: String, source: [UInt8]) throws -> Int {
        let map = try ChunkMapFile.open(FilePath(data + ".chunkmap"))
        defer { try? map.close() }
        let stored = [UInt8](try contents(data))
        #expect(stored.count == source.count, "the data file's size drifted")
        var verified = 0
        for (index, state) in try map.readEntries().enumerated() {
            guard case .verified(let digest) = state else { continue }
            verified += 1
            let range = index * Self.chunk..<(index + 1) * Self.chunk
            #expect(XXH3Hasher.hash(Array(stored[range])) == digest && Array(stored[range]) == Array(source[range]), "chunk \(index)")
        }
        return verified
    }
}
