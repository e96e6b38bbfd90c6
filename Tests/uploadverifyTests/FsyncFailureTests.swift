import Foundation
import Testing
import UploadKit

/// "fsync failure is final": after a failed fdatasync the chunk is not
/// acknowledged and never reported verified; sending it again (a fresh
/// write and a fresh fdatasync) succeeds once the fault is gone. Faults are
/// injected from outside with libfiu (Debian's fiu-utils).
@Suite(.serialized) struct FsyncFailureTests {
    static let haveFiu = FileManager.default.isExecutableFile(atPath: "/usr/bin/fiu-run")

    func fiuControl(_ command: String, _ server: ServerProcess) throws {
        let control = try Subprocess.run("/usr/bin/fiu-ctrl", ["-c", command, String(server.process.processIdentifier)])
        #expect(control.status == 0)
    }

    @Test(.enabled(if: haveFiu, "needs fiu-run (apt-get install fiu-utils)"))
    func aChunkWhoseFdatasyncFailsIsNeverVerifiedAndARetrySucceedsOnceTheFaultStops() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        let server = try ServerProcess(dataDirectory: workspace.url.appendingPathComponent("uploads"), wrapper: ["/usr/bin/fiu-run", "-x"])
        let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: "/dev/urandom"))
        let bytes = [UInt8](try handle.read(upToCount: 2 * 65_536) ?? Data())
        try handle.close()
        let parts = [try workspace.write(Array(bytes[0..<65_536]), to: "p0"), try workspace.write(Array(bytes[65_536...]), to: "p1")]
        let created = try Curl.request("POST", server.base + "/uploads", headers: ["Upload-Length": "131072", "Upload-Chunk-Size": "65536"])
        let url = server.base + (created.headers["location"] ?? "")
        func put(_ index: Int) throws -> HTTPResult {
            try Curl.request("PUT", url, headers: ["Content-Range": "bytes \(index * 65_536)-\(index * 65_536 + 65_535)/131072"], bodyFile: parts[index])
        }

        try fiuControl("enable name=posix/io/sync/fdatasync,failinfo=5", server)  // EIO
        let failed = try put(0)
        #expect(failed.status == 500)
        #expect(String(decoding: failed.body, as: UTF8.self).contains("storage-error"))
        let during = try json(String(decoding: try Curl.request("GET", url).body, as: UTF8.self))
        #expect(during["receivedChunks"] as? Int == 0)
        #expect(try Curl.request("HEAD", url).headers["upload-chunks"] == ":AA==:")

        try fiuControl("disable name=posix/io/sync/fdatasync", server)
        #expect(try put(0).status == 200)
        #expect(try put(1).status == 200)
        let digest = "sha-256=:\(Data(SHA256.digest(bytes)).base64EncodedString()):"
        #expect(try Curl.request("POST", url + "/complete", headers: ["Repr-Digest": digest]).status == 200)
    }
}

enum SHA256 {
    static func digest(_ bytes: [UInt8]) -> [UInt8] { SHA256Hasher.hash(bytes).bytes }
}
