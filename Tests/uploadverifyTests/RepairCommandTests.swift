import Foundation
import Testing
import UploadKit

/// `audit`, `verify URL`, `diff` with URLs and `repair`, end to end: an
/// upload is damaged at rest on the server (or a local copy is), and only
/// the damaged chunks move.
@Suite(.serialized) struct RepairCommandTests {
    static let chunk = 65_536

    func randomFile(_ workspace: Workspace, name: String, chunks: Int) throws -> String {
        let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: "/dev/urandom"))
        defer { try? handle.close() }
        return try workspace.write([UInt8](try handle.read(upToCount: chunks * Self.chunk) ?? Data()), to: name)
    }

    func run(_ workspace: Workspace, _ arguments: String...) throws -> CommandResult {
        setenv("XDG_CACHE_HOME", workspace.path("cache"), 1)
        return try UploadVerifyBinary.run(arguments, in: workspace.url)
    }

    /// Flips one byte in each of `chunks` chunks of `path`.
    func damage(_ path: String, chunks: [Int]) throws {
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        for index in chunks {
            try handle.seek(toOffset: UInt64(index * Self.chunk + 17))
            let byte = try handle.read(upToCount: 1)![0]
            try handle.seek(toOffset: UInt64(index * Self.chunk + 17))
            try handle.write(contentsOf: Data([byte ^ 0x5A]))
        }
    }

    /// A server holding a complete upload of `f` (20 chunks); returns its URL and data file.
    func uploaded(_ workspace: Workspace) throws -> (server: ServerProcess, url: String, data: String) {
        let server = try ServerProcess(dataDirectory: workspace.url.appendingPathComponent("uploads"), arguments: ["--no-fsync"])
        _ = try randomFile(workspace, name: "f", chunks: 20)
        let upload = try json(try run(workspace, "upload", "f", "--server", server.base, "--chunk-size", "64KiB", "--json").stdout)
        let id = try #require(upload["id"] as? String)
        return (server, try #require(upload["url"] as? String), workspace.url.appendingPathComponent("uploads/\(id)").path)
    }

    func bytesReceived(_ server: ServerProcess) throws -> Int {
        let metrics = String(decoding: try Curl.request("GET", server.base + "/metrics").body, as: UTF8.self)
        let line = metrics.split(separator: "\n").first { $0.hasPrefix("uploadverify_bytes_received_total ") }
        return Int(line?.split(separator: " ").last ?? "") ?? -1
    }

    @Test func auditFindsDamageAtRestMarksItAndPrintsTheRepairCommand() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        let (server, url, data) = try uploaded(workspace)
        try damage(data, chunks: [3, 11])
        let audit = try run(workspace, "audit", "--data-dir", "uploads", "--json")
        #expect(audit.status == 1)
        let uploads = try #require(try json(audit.stdout)["uploads"] as? [[String: Any]])
        #expect(uploads.first?["corrupt"] as? [Int] == [3, 11])
        // The running server sees the marks at once.
        let status = try json(String(decoding: try Curl.request("GET", url).body, as: UTF8.self))
        #expect(status["corrupt"] as? [Int] == [3, 11])
        #expect(status["state"] as? String == "damaged")
        let text = try run(workspace, "audit", "--data-dir", "uploads")
        #expect(text.stdout.contains("uploadverify repair http://HOST:PORT/uploads/"))
        withExtendedLifetime(server) {}
    }

    @Test func anAuditCanLeaveTheSHA256ToTheNextCompletion() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        let (server, url, data) = try uploaded(workspace)
        defer { withExtendedLifetime(server) {} }
        try damage(data, chunks: [4])
        let chunksOnly = try json(String(decoding: try Curl.request("POST", url + "/audit?sha256=skip").body, as: UTF8.self))
        #expect(chunksOnly["corrupt"] as? [Int] == [4])
        #expect(chunksOnly["sha256Matches"] is NSNull)
        let full = try json(String(decoding: try Curl.request("POST", url + "/audit").body, as: UTF8.self))
        #expect(full["sha256Matches"] as? Bool == false)
    }

    @Test func verifyOfAnUploadURLAsksTheServerToAudit() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        let (server, url, data) = try uploaded(workspace)
        defer { withExtendedLifetime(server) {} }
        #expect(try run(workspace, "verify", url).status == 0)
        try damage(data, chunks: [7])
        let result = try run(workspace, "verify", url, "--json")
        #expect(result.status == 1)
        let corrupt = try #require(try json(result.stdout)["corrupt"] as? [[String: Any]])
        #expect(corrupt.first?["index"] as? Int == 7)
        #expect(corrupt.first?["offset"] as? Int == 7 * Self.chunk)
    }

    @Test func diffComparesALocalFileWithAnUpload() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        let (server, url, _) = try uploaded(workspace)
        defer { withExtendedLifetime(server) {} }
        try FileManager.default.copyItem(atPath: workspace.path("f"), toPath: workspace.path("g"))
        try damage(workspace.path("g"), chunks: [5])
        let result = try run(workspace, "diff", "g", url, "--json")
        #expect(result.status == 1)
        let chunks = try #require(try json(result.stdout)["chunks"] as? [[String: Any]])
        #expect(chunks.map { $0["index"] as? Int } == [5])
    }

    @Test func pushRepairSendsOnlyTheDamagedChunksAndConfirmsTheSHA256() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        let (server, url, data) = try uploaded(workspace)
        try damage(data, chunks: [0, 9, 19])
        let before = try bytesReceived(server)
        let result = try run(workspace, "repair", url, "--from", "f", "--json")
        #expect(result.status == 0, "\(result.stderr)")
        let object = try json(result.stdout)
        #expect(object["ok"] as? Bool == true)
        #expect(object["chunksMoved"] as? Int == 3)
        #expect(try bytesReceived(server) - before == 3 * Self.chunk, "bytes that crossed the wire")
        let expected = SHA256Hasher.hash([UInt8](try Data(contentsOf: URL(fileURLWithPath: workspace.path("f"))))).description
        #expect(object["sha256"] as? String == expected)
        #expect(try run(workspace, "verify", url).status == 0)
    }

    @Test func pullRepairFetchesOnlyTheDamagedChunks() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        let (server, url, _) = try uploaded(workspace)
        defer { withExtendedLifetime(server) {} }
        let original = try Data(contentsOf: URL(fileURLWithPath: workspace.path("f")))
        try damage(workspace.path("f"), chunks: [2, 4])
        let result = try run(workspace, "repair", "f", "--from", url, "--json")
        #expect(result.status == 0, "\(result.stderr)")
        #expect(try json(result.stdout)["chunksMoved"] as? Int == 2)
        #expect(try Data(contentsOf: URL(fileURLWithPath: workspace.path("f"))) == original)
    }

    @Test func aDamagedSourceIsRefusedAndNothingIsOverwritten() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        let (server, url, data) = try uploaded(workspace)
        defer { withExtendedLifetime(server) {} }
        try damage(data, chunks: [6])
        try damage(workspace.path("f"), chunks: [1])
        let damagedLocal = try Data(contentsOf: URL(fileURLWithPath: workspace.path("f")))
        expectOneLineError(try run(workspace, "repair", "f", "--from", url), status: 1, mentioning: "damaged too")
        #expect(try Data(contentsOf: URL(fileURLWithPath: workspace.path("f"))) == damagedLocal)
    }

    @Test func localRepairCopiesOnlyTheDifferingChunks() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        let good = try randomFile(workspace, name: "good", chunks: 3 * 128)
        try FileManager.default.copyItem(atPath: good, toPath: workspace.path("bad"))
        try damage(workspace.path("bad"), chunks: [5, 300])
        let result = try run(workspace, "repair", "bad", "--from", "good", "--json")
        #expect(result.status == 0, "\(result.stderr)")
        let object = try json(result.stdout)
        // Local copies use the default 8 MiB chunks: both damaged bytes fall in chunk 0 or 2 of 3.
        #expect(object["bytesMoved"] as? Int ?? 0 <= 2 * 8 << 20)
        #expect(try Data(contentsOf: URL(fileURLWithPath: workspace.path("bad"))) == (try Data(contentsOf: URL(fileURLWithPath: good))))
    }

    @Test func repairFromAnotherFileIsRefused() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        let (server, url, data) = try uploaded(workspace)
        defer { withExtendedLifetime(server) {} }
        try damage(data, chunks: [3])
        _ = try randomFile(workspace, name: "other", chunks: 20)
        expectOneLineError(try run(workspace, "repair", url, "--from", "other"), status: 1, mentioning: "not a good copy")
    }
}
