import Foundation
import SystemPackage
import Testing
import UploadKit

@Suite struct ChunkMapFileTests {
    @Test func aWrittenMapReadsBackTheSame() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let map = try ChunkMapCodecTests.sampleMap()
        let path = FilePath(directory.path("a.chunkmap"))
        try ChunkMapFile.write(map, to: path)
        let file = try ChunkMapFile.open(path)
        #expect(try file.readMap() == map)
        try file.close()
    }

    @Test func updatingAnEntryRewritesOnlyItsSixteenBytes() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path("a.chunkmap")
        try ChunkMapFile.write(try ChunkMapCodecTests.sampleMap(), to: FilePath(path))
        let before = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let file = try ChunkMapFile.open(FilePath(path), writable: true)
        try file.write(.verified(XXH3Digest(42)), at: ChunkIndex(1))
        #expect(try file.readEntry(ChunkIndex(1)) == .verified(XXH3Digest(42)))
        try file.close()
        let after = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let changed = zip(before, after).enumerated().filter { $0.element.0 != $0.element.1 }.map(\.offset)
        let entry1 = 128 + 64 + 32 + 16
        #expect(!changed.isEmpty)
        #expect(changed.allSatisfy { (entry1..<entry1 + 16).contains($0) })
        #expect(before.count == after.count)
    }

    @Test func updatingTheStatusKeepsEveryEntry() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = FilePath(directory.path("a.chunkmap"))
        let map = try ChunkMapCodecTests.sampleMap()
        try ChunkMapFile.write(map, to: path)
        let file = try ChunkMapFile.open(path, writable: true)
        let status = ChunkMapStatus(state: .complete, sha256: SHA256Hasher.hash([UInt8]()), updatedAt: Timestamp(millisecondsSinceEpoch: 5))
        try file.write(status)
        let reread = try file.readMap()
        #expect(reread.status == status)
        #expect(reread.chunks == map.chunks)
        try file.close()
    }

    @Test func aTornEntryOnDiskReadsAsMissing() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path("a.chunkmap")
        try ChunkMapFile.write(try ChunkMapCodecTests.sampleMap(), to: FilePath(path))
        // A torn write: the first half of chunk 3's entry replaced.
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.seek(toOffset: UInt64(128 + 64 + 32 + 3 * 16))
        try handle.write(contentsOf: Data([1, 2, 3, 4, 5, 6, 7, 8]))
        try handle.close()
        let file = try ChunkMapFile.open(FilePath(path))
        #expect(try file.readEntry(ChunkIndex(3)) == .missing)
        #expect(try file.readEntry(ChunkIndex(0)) == .verified(XXH3Digest(1)))
        try file.close()
    }

    @Test func aTruncatedMapOnDiskIsRefusedWithItsPath() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path("a.chunkmap")
        try ChunkMapFile.write(try ChunkMapCodecTests.sampleMap(), to: FilePath(path))
        try FileHandle(forWritingTo: URL(fileURLWithPath: path)).truncate(atOffset: 200)
        do {
            _ = try ChunkMapFile.open(FilePath(path))
            Issue.record("a truncated map opened")
        } catch {
            #expect(error.description.contains(path))
            #expect(error.description.contains("truncated"))
        }
    }

    @Test func openingAMissingMapIsAnIOErrorNamingThePath() {
        #expect {
            _ = try ChunkMapFile.open(FilePath("/nonexistent/x.chunkmap"))
        } throws: { error in
            "\(error)".contains("/nonexistent/x.chunkmap") && "\(error)".contains("No such file")
        }
    }

    @Test func writingAMapLeavesNoTemporaryFileBehind() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try ChunkMapFile.write(try ChunkMapCodecTests.sampleMap(), to: FilePath(directory.path("a.chunkmap")))
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.url.path) == ["a.chunkmap"])
    }
}
