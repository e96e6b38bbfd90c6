import Foundation
import Testing
import UploadKit

/// `serve --parity`: every upload gets `ID.parity` at completion; the
/// server's audit heals from it, and so does the offline `audit --heal`.
@Suite(.serialized) struct ServerParityTests {
    static let chunk = 65_536
    static let size = 40 * chunk + 999

    func run(_ workspace: Workspace, _ arguments: String...) throws -> CommandResult {
        try UploadVerifyBinary.run(arguments, in: workspace.url, environment: ["XDG_CACHE_HOME": workspace.path("cache")])
    }

    /// A `serve --parity 10` holding a complete upload of a random file; the upload's URL and data file.
    func uploaded(_ workspace: Workspace, parity: Bool = true) throws -> (ServerProcess, url: String, data: String, bytes: Data) {
        let server = try ServerProcess(
            dataDirectory: workspace.url.appendingPathComponent("uploads"), arguments: ["--no-fsync"] + (parity ? ["--parity", "10"] : []))
        try Subprocess.writeRandomFile(workspace.path("f"), count: Self.size)
        let upload = try run(workspace, "upload", "f", "--server", server.base, "--chunk-size", "64KiB", "--json")
        try #require(upload.status == 0, "\(upload.stderr)")
        let object = try json(upload.stdout)
        let id = try #require(object["id"] as? String)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: workspace.path("f")))
        return (server, try #require(object["url"] as? String), workspace.path("uploads/\(id)"), bytes)
    }

    func damage(_ path: String, chunks: [Int]) throws {
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        for index in chunks {
            try handle.seek(toOffset: UInt64(index * Self.chunk + 33))
            try handle.write(contentsOf: [0xA5, 0x5A])
        }
    }

    func post(_ url: String) throws -> (status: Int, body: [String: Any]) {
        let answer = try Curl.request("POST", url)
        return (answer.status, try json(String(decoding: answer.body, as: UTF8.self)))
    }

    @Test func aCompletedUploadHasItsParityBesideIt() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        let (server, _, data, _) = try uploaded(workspace)
        defer { withExtendedLifetime(server) {} }
        #expect(FileManager.default.fileExists(atPath: data + ".parity"))
    }

    @Test func theServersAuditHealsDamagedChunksFromTheParity() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        let (server, url, data, bytes) = try uploaded(workspace)
        defer { withExtendedLifetime(server) {} }
        try damage(data, chunks: [2, 17])
        let (status, audit) = try post(url + "/audit")
        #expect(status == 200)
        #expect(audit["corrupt"] as? [Int] == [2, 17])
        let heal = try #require(audit["heal"] as? [String: Any])
        #expect(heal["result"] as? String == "healed")
        #expect(heal["chunks"] as? [Int] == [2, 17])
        #expect(try Data(contentsOf: URL(fileURLWithPath: data)) == bytes)
        let after = try json(String(decoding: try Curl.request("GET", url).body, as: UTF8.self))
        #expect(after["state"] as? String == "complete")
    }

    @Test func healNoOnlyMarksTheDamage() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        let (server, url, data, bytes) = try uploaded(workspace)
        defer { withExtendedLifetime(server) {} }
        try damage(data, chunks: [5])
        let (_, audit) = try post(url + "/audit?heal=no")
        #expect(audit["heal"] is NSNull)
        #expect(try Data(contentsOf: URL(fileURLWithPath: data)) != bytes)
        let after = try json(String(decoding: try Curl.request("GET", url).body, as: UTF8.self))
        #expect(after["state"] as? String == "damaged")
    }

    @Test func anUnknownHealIsAProblem() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        let (server, url, _, _) = try uploaded(workspace)
        defer { withExtendedLifetime(server) {} }
        let (status, problem) = try post(url + "/audit?heal=maybe")
        #expect(status == 400)
        #expect((problem["type"] as? String)?.hasSuffix("invalid-query") == true)
    }

    @Test func theOfflineAuditHealsWithHeal() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        let (server, url, data, bytes) = try uploaded(workspace)
        defer { withExtendedLifetime(server) {} }
        try damage(data, chunks: [0, 39])
        let audit = try run(workspace, "audit", "--data-dir", "uploads", "--heal")
        // Healed: nothing is left to repair.
        #expect(audit.status == 0, "\(audit.stdout)\(audit.stderr)")
        #expect(audit.stdout.contains("healed from its parity: chunks 0, 39"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: data)) == bytes)
        #expect(try run(workspace, "verify", url).status == 0)
    }

    @Test func damageBeyondTheParityIsReportedWithTheRepairCommand() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        let (server, _, data, _) = try uploaded(workspace)
        defer { withExtendedLifetime(server) {} }
        try damage(data, chunks: Array(0..<40))
        let audit = try run(workspace, "audit", "--data-dir", "uploads", "--heal")
        #expect(audit.status == 1)
        #expect(audit.stdout.contains("parity cannot heal it: more damage than the parity covers"))
        #expect(audit.stdout.contains("--from GOOD-COPY"))
    }

    @Test func aServerWithoutParityWritesNone() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        let (server, url, data, _) = try uploaded(workspace, parity: false)
        defer { withExtendedLifetime(server) {} }
        #expect(!FileManager.default.fileExists(atPath: data + ".parity"))
        let (_, audit) = try post(url + "/audit?heal=parity")
        #expect((audit["heal"] as? [String: Any])?["result"] as? String == "no-parity")
    }
}
