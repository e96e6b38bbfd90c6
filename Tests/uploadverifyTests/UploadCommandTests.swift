import Foundation
import SystemPackage
import Testing
import UploadKit

/// `uploadverify upload` and `status` against a real server, as a user runs them.
@Suite(.serialized) struct UploadCommandTests {
    func randomFile(_ workspace: Workspace, name: String, bytes: Int) throws -> String {
        let path = workspace.path(name)
        try Subprocess.writeRandomFile(path, count: bytes)
        return path
    }

    /// Runs the binary with its own state directory, so tests never share resume records.
    func run(_ workspace: Workspace, _ arguments: String...) throws -> CommandResult {
        setenv("XDG_CACHE_HOME", workspace.path("cache"), 1)
        return try UploadVerifyBinary.run(arguments, in: workspace.url)
    }

    func sha256(_ path: String) throws -> String {
        SHA256Hasher.hash([UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))).description
    }

    @Test func uploadSendsEveryChunkAndPrintsTheConfirmedSHA256() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        let server = try ServerProcess(dataDirectory: workspace.url.appendingPathComponent("uploads"), arguments: ["--no-fsync"])
        let file = try randomFile(workspace, name: "f", bytes: 10 * 65_536 + 123)
        let result = try run(workspace, "upload", "f", "--server", server.base, "--chunk-size", "64KiB", "--json")
        #expect(result.status == 0, "\(result.stderr)")
        let object = try json(result.stdout)
        let expected = try sha256(file)
        #expect(object["sha256"] as? String == expected)
        #expect(object["chunksSent"] as? Int == 11)
        #expect(object["bytesSent"] as? Int == 10 * 65_536 + 123)
        let url = try #require(object["url"] as? String)
        #expect(url == "\(server.base)/uploads/\(object["id"] as? String ?? "")")
        let stored = workspace.url.appendingPathComponent("uploads").appendingPathComponent(object["id"] as? String ?? "").path
        #expect(try sha256(stored) == expected)
    }

    @Test func aFileAlreadyUploadedAndConfirmedIsNotSentAgain() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        let server = try ServerProcess(dataDirectory: workspace.url.appendingPathComponent("uploads"), arguments: ["--no-fsync"])
        _ = try randomFile(workspace, name: "f", bytes: 3 * 65_536)
        let first = try json(try run(workspace, "upload", "f", "--server", server.base, "--chunk-size", "64KiB", "--json").stdout)
        let again = try run(workspace, "upload", "f", "--server", server.base, "--json")
        #expect(again.status == 0)
        let second = try json(again.stdout)
        #expect(second["chunksSent"] as? Int == 0)
        #expect(second["url"] as? String == first["url"] as? String)
        #expect(second["alreadyComplete"] as? Bool == true)
    }

    @Test func afterKill9TheSameCommandSendsOnlyWhatTheServerLacks() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        let server = try ServerProcess(dataDirectory: workspace.url.appendingPathComponent("uploads"))
        let file = try randomFile(workspace, name: "f", bytes: 256 * 65_536)
        setenv("XDG_CACHE_HOME", workspace.path("cache"), 1)
        let interrupted = try UploadVerifyBinary.start(["upload", "f", "--server", server.base, "--chunk-size", "64KiB"], in: workspace.url)
        // Wait until some, but not all, chunks are on the server, then kill the client.
        let uploads = workspace.url.appendingPathComponent("uploads")
        var verifiedAtKill = 0
        for _ in 0..<400 {
            Thread.sleep(forTimeInterval: 0.01)
            guard let map = try FileManager.default.contentsOfDirectory(atPath: uploads.path).first(where: { $0.hasSuffix(".chunkmap") }),
                let chunkMap = try? ChunkMapFile.open(FilePath(uploads.appendingPathComponent(map).path)),
                let entries = try? chunkMap.readEntries()
            else { continue }
            try? chunkMap.close()
            verifiedAtKill = entries.filter(\.isVerified).count
            if verifiedAtKill >= 20 { break }
        }
        kill(interrupted.processIdentifier, SIGKILL)
        interrupted.waitUntilExit()
        #expect(verifiedAtKill >= 20 && verifiedAtKill < 256, "killed with \(verifiedAtKill) chunks on the server")
        let map = try #require(try FileManager.default.contentsOfDirectory(atPath: uploads.path).first { $0.hasSuffix(".chunkmap") })
        let onServer = try ChunkMapFile.open(FilePath(uploads.appendingPathComponent(map).path)).readEntries().filter(\.isVerified).count

        let resumed = try run(workspace, "upload", "f", "--server", server.base, "--json")
        #expect(resumed.status == 0, "\(resumed.stderr)")
        let object = try json(resumed.stdout)
        let expected = try sha256(file)
        #expect(object["chunksSent"] as? Int == 256 - onServer)
        #expect(object["sha256"] as? String == expected)
        #expect(object["id"] as? String == String(map.dropLast(".chunkmap".count)))
    }

    @Test func aChangedFileIsNeverResumedIntoItsOldUpload() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        let server = try ServerProcess(dataDirectory: workspace.url.appendingPathComponent("uploads"), arguments: ["--no-fsync"])
        let file = try randomFile(workspace, name: "f", bytes: 4 * 65_536)
        let first = try json(try run(workspace, "upload", "f", "--server", server.base, "--chunk-size", "64KiB", "--json").stdout)
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: file)))
        bytes[10] ^= 1
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        let second = try json(try run(workspace, "upload", "f", "--server", server.base, "--chunk-size", "64KiB", "--json").stdout)
        #expect(second["url"] as? String != first["url"] as? String)
        let expected = try sha256(file)
        #expect(second["chunksSent"] as? Int == 4)
        #expect(second["sha256"] as? String == expected)
    }

    @Test func statusShowsReceivedOfTotalAndTheBitmap() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        let server = try ServerProcess(dataDirectory: workspace.url.appendingPathComponent("uploads"), arguments: ["--no-fsync"])
        _ = try randomFile(workspace, name: "f", bytes: 3 * 65_536)
        let url = try #require(try json(try run(workspace, "upload", "f", "--server", server.base, "--chunk-size", "64KiB", "--json").stdout)["url"] as? String)
        let shown = try run(workspace, "status", url)
        #expect(shown.status == 0)
        #expect(shown.stdout.contains("received  3 of 3 chunks"))
        #expect(shown.stdout.contains("[###]"))
        let object = try json(try run(workspace, "status", url, "--json").stdout)
        #expect((object["chunks"] as? [Any])?.count == 3)
        #expect(object["complete"] as? Bool == true)
    }

    @Test func aServerThatIsDownIsAnIOErrorInOneLine() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        _ = try randomFile(workspace, name: "f", bytes: 1000)
        expectOneLineError(try run(workspace, "upload", "f", "--server", "http://127.0.0.1:9"), status: 3, mentioning: "cannot reach")
    }

    @Test func aURLThatIsNotAnUploadIsBadInput() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        expectOneLineError(try run(workspace, "status", "http://127.0.0.1:9/files/x"), status: 2, mentioning: "not an upload URL")
    }

    @Test func resumingAnUploadOfAnotherSizeIsRefused() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        let server = try ServerProcess(dataDirectory: workspace.url.appendingPathComponent("uploads"), arguments: ["--no-fsync"])
        _ = try randomFile(workspace, name: "f", bytes: 65_536)
        _ = try randomFile(workspace, name: "g", bytes: 70_000)
        let url = try #require(try json(try run(workspace, "upload", "f", "--server", server.base, "--json").stdout)["url"] as? String)
        expectOneLineError(try run(workspace, "upload", "g", "--id", url), status: 2, mentioning: "another file's upload")
    }
}
