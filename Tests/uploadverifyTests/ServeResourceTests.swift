import Foundation
import Testing
import UploadKit

/// The server under pressure: a disk that fills up, and memory while large
/// chunks stream in over several connections.
@Suite(.serialized) struct ServeResourceTests {
    static let isRoot = getuid() == 0

    /// A 64 MiB tmpfs as the data directory, unmounted at the end.
    final class SmallDisk {
        let url: URL

        init(in workspace: Workspace) throws {
            url = workspace.url.appendingPathComponent("small-disk")
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
            guard try Subprocess.run("/bin/mount", ["-t", "tmpfs", "-o", "size=64m", "tmpfs", url.path]).status == 0 else { throw MountFailure() }
        }

        deinit {
            _ = try? Subprocess.run("/bin/umount", ["-l", url.path])
        }
    }

    struct MountFailure: Error {}

    func randomBytes(_ count: Int) throws -> [UInt8] {
        let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: "/dev/urandom"))
        defer { try? handle.close() }
        return [UInt8](try handle.read(upToCount: count) ?? Data())
    }

    @Test(.enabled(if: isRoot, "mounting a tmpfs needs root"))
    func aFullDiskAnswers507LosesNothingVerifiedAndTheUploadFinishesOnceSpaceIsFreed() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        let disk = try SmallDisk(in: workspace)
        let server = try ServerProcess(dataDirectory: disk.url.appendingPathComponent("uploads"), arguments: ["--no-fsync"])

        // More than the disk holds: refused at creation.
        let tooBig = try Curl.request("POST", server.base + "/uploads", headers: ["Upload-Length": "\(100 << 20)"])
        #expect(tooBig.status == 507)
        #expect(tooBig.headers["content-type"] == "application/problem+json")

        let chunk = 4 << 20
        let size = 12 * chunk
        let bytes = try randomBytes(size)
        let created = try Curl.request("POST", server.base + "/uploads", headers: ["Upload-Length": "\(size)", "Upload-Chunk-Size": "\(chunk)"])
        #expect(created.status == 201)
        let url = server.base + (created.headers["location"] ?? "")
        let parts = try (0..<12).map { index in
            try workspace.write(Array(bytes[index * chunk..<(index + 1) * chunk]), to: "part\(index)")
        }
        // Space vanishes: a filler leaves room for a few chunks only.
        let filler = disk.url.appendingPathComponent("filler")
        try Data(count: 44 << 20).write(to: filler)
        var statuses = [Int]()
        for index in 0..<12 {
            let first = index * chunk
            statuses.append(
                try Curl.request("PUT", url, headers: ["Content-Range": "bytes \(first)-\(first + chunk - 1)/\(size)"], bodyFile: parts[index]).status)
        }
        #expect(statuses.contains(507), "statuses: \(statuses)")
        #expect(statuses.contains(200), "statuses: \(statuses)")
        let verifiedBefore = statuses.enumerated().filter { $0.element == 200 }.map(\.offset)

        // Space returns: the rest goes through, nothing verified was lost.
        try FileManager.default.removeItem(at: filler)
        let map = try json(String(decoding: try Curl.request("GET", url + "/chunks").body, as: UTF8.self))
        let entries = try #require(map["chunks"] as? [[String: Any]])
        for index in verifiedBefore { #expect(entries[index]["state"] as? String == "verified") }
        for entry in entries where entry["state"] as? String != "verified" {
            let index = try #require(entry["index"] as? Int)
            let first = index * chunk
            #expect(
                try Curl.request("PUT", url, headers: ["Content-Range": "bytes \(first)-\(first + chunk - 1)/\(size)"], bodyFile: parts[index]).status == 200)
        }
        let digest = "sha-256=:\(Data(SHA256Hasher.hash(bytes).bytes).base64EncodedString()):"
        #expect(try Curl.request("POST", url + "/complete", headers: ["Repr-Digest": digest]).status == 200)
    }

    /// If chunks were held in memory, three 64 MiB chunks at once would take
    /// the server far past 100 MiB.
    @Test(.disabled(if: underSanitizer, "sanitizer shadow memory")) func memoryStaysFlatWhileLargeChunksStreamInOverThreeConnections() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        let server = try ServerProcess(dataDirectory: workspace.url.appendingPathComponent("uploads"), arguments: ["--no-fsync"])
        let size = 6 * (64 << 20)
        let file = workspace.path("big")
        try Subprocess.writeRandomFile(file, count: size)
        let uploader = try Subprocess.run(
            "python3",
            [
                Workspace.fixtures.deletingLastPathComponent().appendingPathComponent("scripts/bench_upload.py").path,
                server.base, file, "--chunk-size", "\(64 << 20)", "--connections", "3",
            ])
        #expect(uploader.status == 0, "\(uploader.stderr)")
        let status = try String(contentsOfFile: "/proc/\(server.process.processIdentifier)/status", encoding: .utf8)
        let peakKiB =
            status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") }
            .flatMap { Int($0.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") } ?? Int.max
        #expect(peakKiB < 100 * 1024, "server peak RSS \(peakKiB / 1024) MiB")
    }
}
