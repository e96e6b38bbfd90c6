import Foundation
import Testing
import UploadKit

/// `uploadverify list`, `delete`, `completions` and `manual`, as a user runs them.
@Suite(.serialized) struct ListDeleteCommandTests {
    func startServer(_ workspace: Workspace, _ arguments: [String] = []) throws -> ServerProcess {
        try ServerProcess(dataDirectory: workspace.url.appendingPathComponent("uploads"), arguments: ["--no-fsync"] + arguments)
    }

    /// A new upload of `length` bytes, made with curl; answers its id.
    func create(_ server: ServerProcess, length: Int = 100, headers extra: [String: String] = [:]) throws -> String {
        let answer = try Curl.request("POST", server.base + "/uploads", headers: ["Upload-Length": "\(length)"].merging(extra) { $1 })
        try #require(answer.status == 201, "create answered \(answer.status): \(String(decoding: answer.body, as: UTF8.self))")
        let location = try #require(answer.headers["location"])
        return String(location.dropFirst("/uploads/".count))
    }

    /// A complete upload: an empty one, completed with the SHA-256 of nothing.
    func createComplete(_ server: ServerProcess) throws -> String {
        let id = try create(server, length: 0)
        let digest = DigestField(sha256: SHA256Hasher.hash([UInt8]())).headerValue
        let answer = try Curl.request("POST", server.base + "/uploads/\(id)/complete", headers: ["Repr-Digest": digest])
        try #require(answer.status == 200, "complete answered \(answer.status)")
        return id
    }

    func lines(_ result: CommandResult) -> [[String]] {
        result.stdout.split(separator: "\n").map { $0.split(separator: "\t", omittingEmptySubsequences: false).map(String.init) }
    }

    @Test func listPrintsEveryUploadAcrossPagesInIDOrder() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        let server = try startServer(workspace)
        let ids = try (0..<5).map { _ in try create(server) }.sorted()
        let result = try UploadVerifyBinary.run(["list", server.base, "--page-size", "2"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(lines(result) == ids.map { [$0, "receiving", "100", "0/1", "\(server.base)/uploads/\($0)"] })
    }

    @Test func listStopsAfterLimitUploads() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        let server = try startServer(workspace)
        let ids = try (0..<5).map { _ in try create(server) }.sorted()
        let result = try UploadVerifyBinary.run(["list", server.base, "--limit", "3", "--page-size", "2"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(lines(result).map { $0[0] } == Array(ids.prefix(3)))
    }

    @Test func listWithAStateShowsOnlyUploadsInIt() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        let server = try startServer(workspace)
        _ = try create(server)
        let complete = try createComplete(server)
        let result = try UploadVerifyBinary.run(["list", server.base, "--state", "complete"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(lines(result) == [[complete, "complete", "0", "0/0", "\(server.base)/uploads/\(complete)"]])
    }

    @Test func listJSONPrintsOneObjectPerLineWithAbsoluteURLs() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        let server = try startServer(workspace)
        let ids = try (0..<3).map { _ in try create(server, headers: ["Upload-Metadata": "filename aGVsbG8udHh0"]) }.sorted()
        let result = try UploadVerifyBinary.run(["list", server.base, "--json", "--page-size", "2"])
        #expect(result.status == 0, "\(result.stderr)")
        let objects = try result.stdout.split(separator: "\n").map { try json(String($0)) }
        #expect(objects.compactMap { $0["id"] as? String } == ids)
        for object in objects {
            #expect(object["url"] as? String == "\(server.base)/uploads/\(object["id"] as? String ?? "")")
            #expect(object["state"] as? String == "receiving")
            #expect(object["filename"] as? String == "hello.txt")
            #expect(object["size"] as? Int == 100)
        }
    }

    @Test func listOfAnUnknownStateIsBadInput() throws {
        expectOneLineError(try UploadVerifyBinary.run(["list", "http://127.0.0.1:9", "--state", "lost"]), status: 2, mentioning: "lost")
    }

    @Test func listNeedsTheTokenOfAServerThatHasOne() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        let server = try startServer(workspace, ["--token", "s3cret"])
        expectOneLineError(try UploadVerifyBinary.run(["list", server.base]), status: 3, mentioning: "401")
        #expect(try UploadVerifyBinary.run(["list", server.base, "--token", "s3cret"]).status == 0)
    }

    @Test func deleteRemovesTheUploadAndASecondDeleteExitsNotFound() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        let server = try startServer(workspace)
        let id = try create(server)
        let url = "\(server.base)/uploads/\(id)"
        let deleted = try UploadVerifyBinary.run(["delete", url])
        #expect(deleted.status == 0, "\(deleted.stderr)")
        #expect(deleted.stdout == "deleted \(url)\n")
        #expect(!FileManager.default.fileExists(atPath: server.dataDirectory.appendingPathComponent(id + ".chunkmap").path))
        #expect(!FileManager.default.fileExists(atPath: server.dataDirectory.appendingPathComponent(id).path))
        expectOneLineError(try UploadVerifyBinary.run(["delete", url]), status: 3, mentioning: "404")
    }

    @Test func deleteOfSomethingThatIsNotAnUploadURLIsBadInput() throws {
        expectOneLineError(try UploadVerifyBinary.run(["delete", "http://127.0.0.1:9/files/x"]), status: 2, mentioning: "not an upload URL")
    }

    @Test func completionsBashPrintsAScriptThatCompletesTheCommands() throws {
        let result = try UploadVerifyBinary.run(["completions", "bash"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("upload"))
        #expect(result.stdout.contains("list"))
        #expect(result.stdout.contains("complete -o filenames -F"), "a bash completion script registers itself")
    }

    @Test func completionsOfAnUnknownShellIsAUsageError() throws {
        #expect(try UploadVerifyBinary.run(["completions", "tcsh"]).status == 2)
    }

    @Test func manualIsARoffPageWithASectionPerCommandAndTheExitCodes() throws {
        let result = try UploadVerifyBinary.run(["manual"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.hasPrefix(".TH UPLOADVERIFY 1 "))
        for command in ["serve", "upload", "list", "delete", "map show", "completions", "manual"] {
            #expect(result.stdout.contains(".SS \"uploadverify \(command)\""), "a section for \(command)")
        }
        #expect(result.stdout.contains(".SH EXIT STATUS"))
        // No line a roff reader would take for an unknown request.
        for line in result.stdout.split(separator: "\n") where line.hasPrefix("'") {
            Issue.record("line read as a request: \(line)")
        }
    }

    /// The manual's EXIT STATUS is docs/PROTOCOL.md's exit-code table, word
    /// for word (its code marks dropped), every code in it.
    @Test func theManualsExitStatusIsTheProtocolsTableWordForWord() throws {
        let protocolURL = Workspace.fixtures.deletingLastPathComponent().appendingPathComponent("docs").appendingPathComponent("PROTOCOL.md")
        let contract = try String(contentsOf: protocolURL, encoding: .utf8)
        let section = try #require(contract.range(of: "### Exit codes"))
        var table = [String: String]()
        for line in contract[section.upperBound...].split(separator: "\n").prefix(8) where line.hasPrefix("| `") {
            let cells = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "`", with: "") }
            table[cells[0]] = cells[1]
        }
        #expect(table.keys.sorted() == ["0", "1", "2", "3"])
        let manual = try UploadVerifyBinary.run(["manual"])
        #expect(manual.status == 0, "\(manual.stderr)")
        let lines = manual.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        for (code, meaning) in table {
            let at = try #require(lines.firstIndex(of: ".B \(code)"), "no entry for exit code \(code)")
            let shown = lines[at + 1].replacingOccurrences(of: "\\-", with: "-").replacingOccurrences(of: "\\e", with: "\\")
            #expect(shown == meaning, "exit code \(code)")
        }
    }
}
