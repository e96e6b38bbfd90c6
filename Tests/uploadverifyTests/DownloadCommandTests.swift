import Foundation
import SystemPackage
import Testing
import UploadKit

/// `uploadverify download`, end to end: a server holds a complete upload,
/// and the download reaches it directly or through `FaultProxy`, which
/// counts the ranged GETs and flips bytes on the way. The last test is pull
/// `repair`, which fetches through the same checked path.
@Suite(.serialized) struct DownloadCommandTests {
    static let chunk = 65_536
    /// 20 whole chunks and a short last one.
    static let size = 20 * chunk + 1_000
    static let chunkCount = 21

    /// The `Range` header the client sends for chunk `index`.
    static func rangeHeader(_ index: Int) -> String {
        "bytes=\(index * chunk)-\(min((index + 1) * chunk, size) - 1)"
    }

    /// Runs the binary with its own state directory, so tests never share resume records.
    func run(_ workspace: Workspace, _ arguments: String...) throws -> CommandResult {
        setenv("XDG_CACHE_HOME", workspace.path("cache"), 1)
        return try UploadVerifyBinary.run(arguments, in: workspace.url)
    }

    /// A server holding a complete upload of the random file `f`; its URL and bytes.
    func uploaded(_ workspace: Workspace) throws -> (server: ServerProcess, url: String, bytes: Data) {
        let server = try ServerProcess(dataDirectory: workspace.url.appendingPathComponent("uploads"), arguments: ["--no-fsync"])
        try Subprocess.writeRandomFile(workspace.path("f"), count: Self.size)
        let upload = try run(workspace, "upload", "f", "--server", server.base, "--chunk-size", "64KiB", "--json")
        try #require(upload.status == 0, "\(upload.stderr)")
        let url = try #require(try json(upload.stdout)["url"] as? String)
        return (server, url, try contents(workspace, "f"))
    }

    func contents(_ workspace: Workspace, _ name: String) throws -> Data {
        try Data(contentsOf: URL(fileURLWithPath: workspace.path(name)))
    }

    /// A local map's entries, read as `verify` reads them.
    func entries(_ path: String) throws -> [ChunkState] {
        let map = try ChunkMapFile.open(FilePath(path))
        defer { try? map.close() }
        return try map.readEntries()
    }

    @Test func aDownloadHasTheServersBytesAndItsConfirmedSHA256() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        let (server, url, bytes) = try uploaded(workspace)
        let result = try run(workspace, "download", url, "-o", "copy", "--json")
        #expect(result.status == 0, "\(result.stderr)")
        let object = try json(result.stdout)
        #expect(object["ok"] as? Bool == true)
        #expect(object["sha256"] as? String == SHA256Hasher.hash([UInt8](bytes)).description)
        #expect(object["chunksFetched"] as? Int == Self.chunkCount)
        #expect(object["bytesFetched"] as? Int == Self.size)
        #expect(try contents(workspace, "copy") == bytes)
        // The map beside the copy checks it with the server gone.
        _ = server.terminate()
        let map = try ChunkMapFile.open(FilePath(workspace.path("copy.chunkmap")))
        defer { try? map.close() }
        #expect(try map.readStatus().state == .complete)
        #expect(try run(workspace, "verify", "copy").status == 0)
    }

    @Test func theDefaultNameIsTheUploadsFilename() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        let (server, url, bytes) = try uploaded(workspace)
        defer { withExtendedLifetime(server) {} }
        let elsewhere = workspace.url.appendingPathComponent("elsewhere")
        try FileManager.default.createDirectory(at: elsewhere, withIntermediateDirectories: true)
        let result = try UploadVerifyBinary.run(["download", url], in: elsewhere)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(try Data(contentsOf: elsewhere.appendingPathComponent("f")) == bytes)
        #expect(FileManager.default.fileExists(atPath: elsewhere.appendingPathComponent("f.chunkmap").path))
    }

    @Test func aFileThatIsNotADownloadOfThisUploadIsNotOverwritten() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        let (server, url, _) = try uploaded(workspace)
        defer { withExtendedLifetime(server) {} }
        let other = try workspace.write(Array("someone else's file\n".utf8), to: "other")
        expectOneLineError(try run(workspace, "download", url, "-o", "other"), status: 2, mentioning: "--force")
        #expect(try contents(workspace, "other") == Data("someone else's file\n".utf8))
        #expect(!FileManager.default.fileExists(atPath: other + ".chunkmap"))
    }

    @Test func forceTakesOverAFileAndKeepsTheChunksItAlreadyHas() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        let (server, url, bytes) = try uploaded(workspace)
        defer { withExtendedLifetime(server) {} }
        // The uploaded file itself, two chunks damaged, has no map beside it.
        try workspace.damage("f", at: 2 * Self.chunk + 17)
        try workspace.damage("f", at: 9 * Self.chunk + 17)
        let result = try run(workspace, "download", url, "-o", "f", "--force", "--json")
        #expect(result.status == 0, "\(result.stderr)")
        let object = try json(result.stdout)
        #expect(object["chunksFetched"] as? Int == 2)
        #expect(object["chunksOnDisk"] as? Int == Self.chunkCount - 2)
        #expect(try contents(workspace, "f") == bytes)
    }

    @Test func atMostConcurrencyRequestsAreInFlight() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        let (server, url, bytes) = try uploaded(workspace)
        defer { withExtendedLifetime(server) {} }
        // Answers held 100 ms, so that requests overlap whenever the client lets them.
        let proxy = try FaultProxy(target: server.port, hold: 0.1)
        let result = try run(workspace, "download", proxy.route(url), "-o", "copy", "--concurrency", "2")
        #expect(result.status == 0, "\(result.stderr)")
        let stats = try proxy.stats()
        #expect(stats.dataRanges.count == Self.chunkCount)
        #expect(stats.peakInFlight == 2, "the proxy saw \(stats.peakInFlight) data requests at once")
        #expect(try contents(workspace, "copy") == bytes)
    }

    @Test func aDownloadOf256MiBHasTheServersBytesWithAtMostConcurrencyRequestsInFlight() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        let server = try ServerProcess(dataDirectory: workspace.url.appendingPathComponent("uploads"), arguments: ["--no-fsync"])
        try Subprocess.writeRandomFile(workspace.path("big"), count: 256 << 20)
        let upload = try run(workspace, "upload", "big", "--server", server.base, "--json")
        try #require(upload.status == 0, "\(upload.stderr)")
        let url = try #require(try json(upload.stdout)["url"] as? String)
        let proxy = try FaultProxy(target: server.port)
        let result = try run(workspace, "download", proxy.route(url), "-o", "copy", "--concurrency", "3")
        #expect(result.status == 0, "\(result.stderr)")
        let stats = try proxy.stats()
        #expect(stats.dataRanges.count == 32, "32 chunks of 8 MiB, each fetched once")
        #expect(stats.peakInFlight >= 1 && stats.peakInFlight <= 3, "the proxy saw \(stats.peakInFlight) data requests at once")
        #expect(try Subprocess.run("cmp", ["-s", workspace.path("big"), workspace.path("copy")]).status == 0, "the copy has the server's bytes")
        #expect(try run(workspace, "verify", "copy").status == 0)
    }

    @Test func aChunkThatArrivesWrongIsFetchedAgain() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        let (server, url, bytes) = try uploaded(workspace)
        defer { withExtendedLifetime(server) {} }
        let proxy = try FaultProxy(target: server.port, corrupt: [5 * Self.chunk: 1])
        let result = try run(workspace, "download", proxy.route(url), "-o", "copy")
        #expect(result.status == 0, "\(result.stderr)")
        #expect(try contents(workspace, "copy") == bytes)
        let ranges = try proxy.stats().dataRanges
        #expect(ranges.filter { $0 == Self.rangeHeader(5) }.count == 2)
        #expect(ranges.count == Self.chunkCount + 1)
    }

    @Test func aChunkThatAlwaysArrivesWrongFailsTheDownloadNamingIt() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        let (server, url, _) = try uploaded(workspace)
        defer { withExtendedLifetime(server) {} }
        let proxy = try FaultProxy(target: server.port, corrupt: [5 * Self.chunk: -1])
        let result = try run(workspace, "download", proxy.route(url), "-o", "copy")
        expectOneLineError(result, status: 1, mentioning: "chunk 5 (bytes \(5 * Self.chunk)-\(6 * Self.chunk - 1)")
        #expect(try proxy.stats().dataRanges.filter { $0 == Self.rangeHeader(5) }.count == 3)
        #expect(try entries(workspace.path("copy.chunkmap"))[5] == .missing)
    }

    @Test func aSecondRunFetchesOnlyTheChunksNotOnDisk() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        let (server, url, bytes) = try uploaded(workspace)
        defer { withExtendedLifetime(server) {} }
        let proxy = try FaultProxy(target: server.port)
        #expect(try run(workspace, "download", proxy.route(url), "-o", "copy").status == 0)
        let before = try proxy.stats().dataRanges.count
        // One chunk changed under a map that still says verified, and the last one cut off.
        try workspace.damage("copy", at: 3 * Self.chunk + 17)
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: workspace.path("copy")))
        try handle.truncate(atOffset: UInt64(20 * Self.chunk))
        try handle.close()
        let again = try run(workspace, "download", proxy.route(url), "-o", "copy", "--json")
        #expect(again.status == 0, "\(again.stderr)")
        #expect(try json(again.stdout)["chunksFetched"] as? Int == 2)
        let fetched = Array(try proxy.stats().dataRanges.dropFirst(before))
        #expect(fetched.sorted() == [Self.rangeHeader(3), Self.rangeHeader(20)].sorted())
        #expect(try contents(workspace, "copy") == bytes)
    }

    @Test func afterKill9TheSameCommandFetchesOnlyWhatIsNotOnDisk() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        let (server, url, bytes) = try uploaded(workspace)
        defer { withExtendedLifetime(server) {} }
        // One request at a time, 100 ms each: about 2 s for the whole download.
        let proxy = try FaultProxy(target: server.port, hold: 0.1)
        setenv("XDG_CACHE_HOME", workspace.path("cache"), 1)
        let interrupted = try UploadVerifyBinary.start(["download", proxy.route(url), "-o", "copy", "--concurrency", "1"], in: workspace.url)
        for _ in 0..<500 {
            Thread.sleep(forTimeInterval: 0.01)
            if try proxy.stats().completed >= 6 { break }
        }
        kill(interrupted.processIdentifier, SIGKILL)
        interrupted.waitUntilExit()
        let kept = try entries(workspace.path("copy.chunkmap")).enumerated().filter { $0.element.isVerified }.map { $0.offset }
        #expect(kept.count >= 3 && kept.count < Self.chunkCount, "killed with \(kept.count) chunks verified")
        let before = try proxy.stats().dataRanges.count
        let again = try run(workspace, "download", proxy.route(url), "-o", "copy", "--json")
        #expect(again.status == 0, "\(again.stderr)")
        let fetched = Array(try proxy.stats().dataRanges.dropFirst(before))
        #expect(Set(fetched).isDisjoint(with: kept.map { Self.rangeHeader($0) }), "nothing the map held verified is fetched again")
        #expect(fetched.count <= Self.chunkCount - kept.count)
        #expect(try contents(workspace, "copy") == bytes)
    }

    /// The `.chunkmap` is written before the file: a run stopped between the
    /// two (here the file cannot be created, a dangling link in its place)
    /// leaves a map without its file, and the same command, run again,
    /// starts afresh from it instead of refusing a file without a map.
    @Test func aRunStoppedBetweenTheMapAndTheFileIsResumedByTheSameCommand() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        let (server, url, bytes) = try uploaded(workspace)
        defer { withExtendedLifetime(server) {} }
        try FileManager.default.createSymbolicLink(atPath: workspace.path("copy"), withDestinationPath: workspace.path("nowhere/copy"))
        let stopped = try run(workspace, "download", url, "-o", "copy")
        #expect(stopped.status != 0)
        #expect(FileManager.default.fileExists(atPath: workspace.path("copy.chunkmap")), "the map is written first")
        try FileManager.default.removeItem(atPath: workspace.path("copy"))
        let again = try run(workspace, "download", url, "-o", "copy", "--json")
        #expect(again.status == 0, "\(again.stderr)")
        let object = try json(again.stdout)
        #expect(object["chunksFetched"] as? Int == Self.chunkCount)
        #expect(object["chunksOnDisk"] as? Int == 0)
        #expect(try contents(workspace, "copy") == bytes)
    }

    @Test func anUploadThatIsNotCompleteIsRefused() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        let server = try ServerProcess(dataDirectory: workspace.url.appendingPathComponent("uploads"), arguments: ["--no-fsync"])
        defer { withExtendedLifetime(server) {} }
        let created = try Curl.request("POST", server.base + "/uploads", headers: ["Upload-Length": "131072", "Upload-Chunk-Size": "65536"])
        let url = server.base + (created.headers["location"] ?? "")
        expectOneLineError(try run(workspace, "download", url, "-o", "copy"), status: 1, mentioning: "not complete")
        #expect(!FileManager.default.fileExists(atPath: workspace.path("copy")))
        #expect(!FileManager.default.fileExists(atPath: workspace.path("copy.chunkmap")), "nor its map, written first")
    }

    @Test func pullRepairFetchesAChunkThatArrivesWrongAgain() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        let (server, url, bytes) = try uploaded(workspace)
        defer { withExtendedLifetime(server) {} }
        try workspace.damage("f", at: 4 * Self.chunk + 17)
        let proxy = try FaultProxy(target: server.port, corrupt: [4 * Self.chunk: 1])
        let result = try run(workspace, "repair", "f", "--from", proxy.route(url), "--json")
        #expect(result.status == 0, "\(result.stderr)")
        #expect(try proxy.stats().dataRanges == [Self.rangeHeader(4), Self.rangeHeader(4)])
        #expect(try contents(workspace, "f") == bytes)
    }
}
