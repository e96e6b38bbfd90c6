import Foundation
import Testing
import UploadKit

/// `upload` behind a load balancer whose chosen node is down for a moment:
/// the balancer answers `502` and the client tries again, for the creation
/// and the completion as for chunks, instead of failing the command.
@Suite(.serialized) struct UploadThroughABalancerTests {
    func run(_ workspace: Workspace, _ arguments: String...) throws -> CommandResult {
        setenv("XDG_CACHE_HOME", workspace.path("cache"), 1)
        return try UploadVerifyBinary.run(arguments, in: workspace.url)
    }

    /// The uploads the server holds: its data directory's maps.
    func maps(in directory: URL) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".chunkmap") }
    }

    @Test func aCreationAnswered502IsTriedAgainAndMakesOneUpload() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        let uploads = workspace.url.appendingPathComponent("uploads")
        let server = try ServerProcess(dataDirectory: uploads, arguments: ["--no-fsync"])
        let proxy = try FaultProxy(target: server.port, fail: [("POST", "/uploads", 2)])
        try Subprocess.writeRandomFile(workspace.path("f"), count: 300_000)
        let result = try run(workspace, "upload", "f", "--server", proxy.base, "--chunk-size", "64KiB", "--json")
        #expect(result.status == 0, "\(result.stderr)")
        #expect(try maps(in: uploads).count == 1)
    }

    @Test func aCompletionAnswered502IsTriedAgainAndConfirmsTheSHA256() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        let server = try ServerProcess(dataDirectory: workspace.url.appendingPathComponent("uploads"), arguments: ["--no-fsync"])
        let proxy = try FaultProxy(target: server.port, fail: [("POST", "/complete", 2)])
        try Subprocess.writeRandomFile(workspace.path("f"), count: 300_000)
        let result = try run(workspace, "upload", "f", "--server", proxy.base, "--chunk-size", "64KiB", "--json")
        #expect(result.status == 0, "\(result.stderr)")
        let bytes = try Data(contentsOf: URL(fileURLWithPath: workspace.path("f")))
        #expect(try json(result.stdout)["sha256"] as? String == SHA256Hasher.hash([UInt8](bytes)).description)
    }

    @Test func aCreationThatKeepsFailingEndsTheCommandWithTheServersAnswer() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        let server = try ServerProcess(dataDirectory: workspace.url.appendingPathComponent("uploads"), arguments: ["--no-fsync"])
        let proxy = try FaultProxy(target: server.port, fail: [("POST", "/uploads", 100)])
        try Subprocess.writeRandomFile(workspace.path("f"), count: 100_000)
        let result = try run(workspace, "upload", "f", "--server", proxy.base)
        #expect(result.status != 0)
        #expect(result.stderr.contains("502"))
        #expect(result.stderr.split(separator: "\n").count == 1)
    }
}
