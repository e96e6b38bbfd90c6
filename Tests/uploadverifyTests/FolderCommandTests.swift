import Foundation
import Testing
import UploadKit

/// Many files per command, end to end: `upload DIR` (one queue of requests
/// across the files, a line per file, a manifest), `map DIR`, `verify DIR`
/// and `download --manifest`.
@Suite(.serialized) struct FolderCommandTests {
    static let nobody = "65534"

    /// Runs the binary with the workspace's own resume records.
    func run(_ workspace: Workspace, _ arguments: [String]) throws -> CommandResult {
        try UploadVerifyBinary.run(arguments, in: workspace.url, environment: ["XDG_CACHE_HOME": workspace.path("cache")])
    }

    /// `count` files of the given sizes under `folder`, named f000, f001, ...
    func makeTree(_ workspace: Workspace, _ folder: String, sizes: [Int]) throws -> [String: Data] {
        try FileManager.default.createDirectory(atPath: workspace.path(folder + "/sub"), withIntermediateDirectories: true)
        var contents = [String: Data]()
        for (index, size) in sizes.enumerated() {
            // Every tenth file one folder down, so that the walk descends.
            let name = String(format: index % 10 == 9 ? "sub/f%03d" : "f%03d", index)
            var bytes = [UInt8](repeating: 0, count: size)
            var state = UInt64(index + 1) &* 0x9E37_79B9_7F4A_7C15
            for offset in stride(from: 0, to: size, by: 8) {
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                withUnsafeBytes(of: state) { word in
                    for byte in 0..<min(8, size - offset) { bytes[offset + byte] = word[byte] }
                }
            }
            let data = Data(bytes)
            try data.write(to: URL(fileURLWithPath: workspace.path(folder + "/" + name)))
            contents[folder + "/" + name] = data
        }
        return contents
    }

    func lines(_ result: CommandResult) throws -> [[String: Any]] {
        try result.stdout.split(separator: "\n").map { try json(String($0)) }
    }

    @Test func aFolderIsUploadedWholeWithLinksAndUnreadableFilesReportedAndOneManifest() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        let server = try ServerProcess(dataDirectory: workspace.url.appendingPathComponent("uploads"), arguments: ["--no-fsync"])
        // 198 readable files from 0 B to 64 MiB, one unreadable, one link: 200 entries.
        var sizes = (0..<197).map { index in index < 3 ? index : (index * index * 131) % (512 << 10) }
        sizes.append(64 << 20)
        let files = try makeTree(workspace, "tree", sizes: sizes)
        try Data("secret".utf8).write(to: URL(fileURLWithPath: workspace.path("tree/unreadable")))
        try FileManager.default.setAttributes([.posixPermissions: 0o000], ofItemAtPath: workspace.path("tree/unreadable"))
        try FileManager.default.createSymbolicLink(atPath: workspace.path("tree/link"), withDestinationPath: "f005")
        // Root reads any file: the command then runs as nobody, for whom the
        // workspace is readable and its cache and manifest folder writable.
        let asNobody = geteuid() == 0
        if asNobody {
            for folder in ["", "cache", "out"] {
                try FileManager.default.createDirectory(atPath: workspace.path(folder), withIntermediateDirectories: true)
                try FileManager.default.setAttributes([.posixPermissions: 0o777], ofItemAtPath: workspace.path(folder))
            }
        } else {
            try FileManager.default.createDirectory(atPath: workspace.path("out"), withIntermediateDirectories: true)
        }
        let command = ["upload", "tree", "--server", server.base, "--json", "--manifest", "out/manifest.json", "--chunk-size", "1MiB"]
        let result =
            asNobody
            ? try Subprocess.run(
                "/usr/bin/setpriv", ["--reuid=\(Self.nobody)", "--regid=\(Self.nobody)", "--clear-groups", UploadVerifyBinary.url.path] + command,
                in: workspace.url, environment: ["XDG_CACHE_HOME": workspace.path("cache")])
            : try run(workspace, command)

        // An unreadable file is bad input: exit 2, after every other file was sent.
        #expect(result.status == 2, "\(result.stderr)")
        let reported = try lines(result)
        #expect(reported.count == 200)
        let byPath = Dictionary(uniqueKeysWithValues: reported.map { ($0["path"] as? String ?? "", $0) })
        #expect(byPath["tree/link"]?["status"] as? String == "skipped")
        #expect((byPath["tree/link"]?["reason"] as? String)?.contains("symbolic link") == true)
        #expect(byPath["tree/unreadable"]?["status"] as? String == "failed")
        #expect((byPath["tree/unreadable"]?["error"] as? String)?.lowercased().contains("permission denied") == true)
        let uploaded = reported.filter { $0["status"] as? String == "uploaded" }
        #expect(uploaded.count == 198)

        let manifest = try UploadManifest.read(from: workspace.path("out/manifest.json"))
        #expect(manifest.files.count == 198)
        for entry in manifest.files {
            let bytes = try #require(files[entry.path], "the manifest names \(entry.path), which was not uploaded")
            #expect(entry.size == Int64(bytes.count))
            #expect(entry.sha256 == SHA256Hasher.hash([UInt8](bytes)).description, "\(entry.path)")
        }
        // The server holds each of them complete.
        let listed = try run(workspace, ["list", server.base, "--state", "complete"])
        #expect(listed.stdout.split(separator: "\n").count == 198)
    }

    @Test func aFolderUploadKeepsAtMostConcurrencyRequestsInFlightAcrossItsFiles() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        let server = try ServerProcess(dataDirectory: workspace.url.appendingPathComponent("uploads"), arguments: ["--no-fsync"])
        _ = try makeTree(workspace, "tree", sizes: Array(repeating: 10_000, count: 30))
        // Every answer held 50 ms, so that requests overlap whenever the client lets them.
        let proxy = try FaultProxy(target: server.port, holdAll: 0.05)
        let result = try run(workspace, ["upload", "tree", "--server", proxy.base, "--concurrency", "3"])
        #expect(result.status == 0, "\(result.stderr)")
        let stats = try proxy.stats()
        // 30 files are 30 creations, 30 chunks and 30 completions at least.
        #expect(stats.requests >= 90)
        #expect(stats.peakAllInFlight == 3, "the proxy saw \(stats.peakAllInFlight) requests at once")
    }

    @Test func aSecondRunOfTheSameFolderSendsNothing() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        let server = try ServerProcess(dataDirectory: workspace.url.appendingPathComponent("uploads"), arguments: ["--no-fsync"])
        _ = try makeTree(workspace, "tree", sizes: [0, 1, 70_000, 300_000])
        #expect(try run(workspace, ["upload", "tree", "--server", server.base]).status == 0)
        let again = try run(workspace, ["upload", "tree", "--server", server.base, "--json"])
        #expect(again.status == 0, "\(again.stderr)")
        let reported = try lines(again)
        #expect(reported.count == 4)
        #expect(reported.allSatisfy { $0["status"] as? String == "already-uploaded" && $0["bytesSent"] as? Int == 0 })
    }

    @Test func aManifestDownloadsTheWholeSetBackIntoAnotherFolder() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        let server = try ServerProcess(dataDirectory: workspace.url.appendingPathComponent("uploads"), arguments: ["--no-fsync"])
        let files = try makeTree(workspace, "tree", sizes: [0, 5, 65_536, 200_000, 1_500_000, 12, 7, 99, 4_096, 3_000_000, 1])
        let upload = try run(workspace, ["upload", "tree", "--server", server.base, "--manifest", "m.json", "--chunk-size", "64KiB"])
        #expect(upload.status == 0, "\(upload.stderr)")
        let download = try run(workspace, ["download", "--manifest", "m.json", "-o", "restore", "--json"])
        #expect(download.status == 0, "\(download.stderr)")
        #expect(try lines(download).count == files.count)
        for (path, bytes) in files {
            #expect(try Data(contentsOf: URL(fileURLWithPath: workspace.path("restore/" + path))) == bytes, "\(path)")
        }
        // Each copy has its map beside it: the set verifies without the server.
        _ = server.terminate()
        #expect(try run(workspace, ["verify", "restore"]).status == 0)
    }

    @Test func aManifestEntryOutsideTheOutputFolderIsRefusedBeforeAnythingIsWritten() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        let hostile = """
            {"version":1,"files":[{"path":"../escaped","size":1,"sha256":"\(String(repeating: "0", count: 64))","url":"http://127.0.0.1:9/uploads/0123456789abcdef0123456789abcdef"}]}
            """
        try Data(hostile.utf8).write(to: URL(fileURLWithPath: workspace.path("m.json")))
        let result = try run(workspace, ["download", "--manifest", "m.json", "-o", "restore"])
        #expect(result.status == 2)
        #expect(result.stderr.contains("../escaped"))
        #expect(!FileManager.default.fileExists(atPath: workspace.path("escaped")))
        #expect(!FileManager.default.fileExists(atPath: workspace.path("restore")))
    }

    @Test func verifyOfAFolderNamesExactlyTheDamagedFiles() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        _ = try makeTree(workspace, "tree", sizes: (0..<40).map { 1_000 + $0 * 7_919 })
        let mapped = try run(workspace, ["map", "tree", "--chunk-size", "64KiB"])
        #expect(mapped.status == 0, "\(mapped.stderr)")
        try workspace.damage("tree/f004", at: 10)
        try workspace.damage("tree/sub/f019", at: 100_000)
        let result = try run(workspace, ["verify", "tree", "--json"])
        #expect(result.status == 1)
        let reported = try lines(result)
        #expect(reported.count == 40)
        let damaged = Set(reported.filter { $0["status"] as? String == "damaged" }.compactMap { $0["path"] as? String })
        #expect(damaged == ["tree/f004", "tree/sub/f019"])
        #expect(reported.filter { $0["status"] as? String == "ok" }.count == 38)
    }

    @Test func verifyOfAFolderReportsAFileWhoseMapIsLeftAsMissing() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        _ = try makeTree(workspace, "tree", sizes: [100, 200, 300])
        #expect(try run(workspace, ["map", "tree"]).status == 0)
        try FileManager.default.removeItem(atPath: workspace.path("tree/f001"))
        let result = try run(workspace, ["verify", "tree"])
        #expect(result.status == 1)
        #expect(result.stdout.contains("tree/f001: missing"))
        #expect(result.stdout.contains("tree/f000: ok"))
    }

    @Test func mapOfAFolderKeepsTheMapsItFindsSoThatDamageStaysVisible() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        _ = try makeTree(workspace, "tree", sizes: [100_000, 200_000])
        #expect(try run(workspace, ["map", "tree"]).status == 0)
        try workspace.damage("tree/f000", at: 5)
        // A new file joins; mapping the folder again maps only it.
        try Data("new".utf8).write(to: URL(fileURLWithPath: workspace.path("tree/new")))
        let again = try run(workspace, ["map", "tree"])
        #expect(again.status == 0, "\(again.stderr)")
        #expect(again.stdout.contains("tree/f000: has a chunk map, kept"))
        #expect(FileManager.default.fileExists(atPath: workspace.path("tree/new.chunkmap")))
        #expect(try run(workspace, ["verify", "tree/f000"]).status == 1)
    }
}
