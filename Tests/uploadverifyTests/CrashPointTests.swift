import Foundation
import SystemPackage
import Testing
import UploadKit

/// The server killed (SIGKILL, as `kill -9`) at each named point of a chunk
/// write (`UPLOADVERIFY_CRASH_AT`), then restarted on the same directory:
/// every chunk the chunk map calls verified matches its bytes, the chunk
/// that was being written is verified only if its entry was written, and
/// the client's resume completes with the right SHA-256.
@Suite(.serialized) struct CrashPointTests {
    static let chunkSize = 65_536
    static let chunkCount = 12
    /// The crash comes as the third chunk passes the point, one chunk at a
    /// time, so two chunks were committed before it.
    static let crashingChunk = 3

    @Test(arguments: CrashPoint.inChunkWrite)
    func aCrashAtThisPointLosesNothingVerifiedAndTheUploadResumes(_ point: CrashPoint) throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        setenv("XDG_CACHE_HOME", workspace.path("cache"), 1)
        let data = workspace.url.appendingPathComponent("uploads")
        let bytes = pseudoRandom(Self.chunkCount * Self.chunkSize - 777)
        let file = try workspace.write(bytes, to: "f")

        let crashing = try ServerProcess(
            dataDirectory: data, environment: [CrashSwitch.environmentVariable: "\(point.rawValue):\(Self.crashingChunk)"])
        let client = try UploadVerifyBinary.start(["upload", file, "--server", crashing.base, "--chunk-size", "64KiB", "--concurrency", "1"])
        // The client would retry against a dead server for a while: the test has seen enough once it died.
        defer {
            client.terminate()
            client.waitUntilExit()
        }
        try #require(crashing.waitForExit(timeout: 60), "the server did not crash \(point.rawValue)")
        #expect(crashing.process.terminationReason == .uncaughtSignal && crashing.process.terminationStatus == SIGKILL)

        let id = try #require(try FileManager.default.contentsOfDirectory(atPath: data.path).first { $0.hasSuffix(".chunkmap") })
            .dropLast(".chunkmap".count)
        let verified = try verifiedChunksMatchingTheirBytes(data: data.appendingPathComponent(String(id)).path, source: bytes)
        // The entry is written after the data and its sync: a crash before it leaves the chunk missing.
        let entryWritten = point == .afterMapEntry || point == .beforeResponse
        #expect(verified == Self.crashingChunk - (entryWritten ? 0 : 1), "verified after a crash \(point.rawValue)")

        let restarted = try ServerProcess(dataDirectory: data)
        let resumed = try UploadVerifyBinary.run(["upload", file, "--id", "\(restarted.base)/uploads/\(id)", "--json"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(resumed.stdout.utf8)) as? [String: Any])
        #expect(report["sha256"] as? String == SHA256Hasher.hash(bytes).description)
        #expect(report["chunksSent"] as? Int == Self.chunkCount - verified, "resume sends only the chunks not verified")
        withExtendedLifetime(restarted) {}
    }

    /// Reads the chunk map from disk; every verified entry's bytes must be
    /// the source's and hash to its digest. Returns how many are verified.
    private func verifiedChunksMatchingTheirBytes(data: String, source: [UInt8]) throws -> Int {
        let map = try ChunkMapFile.open(FilePath(data + ".chunkmap"))
        defer { try? map.close() }
        let stored = [UInt8](try Data(contentsOf: URL(fileURLWithPath: data)))
        #expect(stored.count == source.count, "the data file's size drifted")
        var verified = 0
        for (index, state) in try map.readEntries().enumerated() {
            guard case .verified(let digest) = state else { continue }
            verified += 1
            let range = index * Self.chunkSize..<min((index + 1) * Self.chunkSize, source.count)
            #expect(XXH3Hasher.hash(Array(stored[range])) == digest && Array(stored[range]) == Array(source[range]), "chunk \(index)")
        }
        return verified
    }

    private func pseudoRandom(_ count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }
}
