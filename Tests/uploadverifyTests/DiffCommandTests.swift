import Foundation
import Testing

@Suite struct DiffCommandTests {
    @Test func identicalFilesHaveNoDifferencesAndExit0() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        try workspace.copyFixture("several-chunks.bin", as: "a")
        try workspace.copyFixture("several-chunks.bin", as: "b")
        let result = try workspace.run("diff", "a", "b", "--chunk-size", "64KiB")
        #expect(result.status == 0)
        #expect(result.stdout.contains("identical"))
    }

    @Test func differingChunksAreListedWithRangesAndExit1() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        try workspace.copyFixture("several-chunks.bin", as: "a")
        try workspace.copyFixture("several-chunks.bin", as: "b")
        try workspace.damage("b", at: 0)
        try workspace.damage("b", at: 200_000)
        let result = try workspace.run("diff", "a", "b", "--chunk-size", "64KiB", "--json")
        #expect(result.status == 1)
        let chunks = try #require(try json(result.stdout)["chunks"] as? [[String: Any]])
        #expect(chunks.compactMap { $0["index"] as? Int } == [0, 3])
        #expect(chunks.compactMap { $0["offset"] as? Int } == [0, 196_608])
        #expect(chunks.compactMap { $0["length"] as? Int } == [65_536, 65_536])
        #expect(chunks.compactMap { $0["reason"] as? String } == ["differs", "differs"])
    }

    @Test func aFileIsComparedWithAMapInTheMapsGeometry() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        try workspace.copyFixture("several-chunks.bin", as: "a")
        _ = try workspace.run("map", "a", "--chunk-size", "64KiB")
        try workspace.damage("a", at: 262_144)
        let result = try workspace.run("diff", "a.chunkmap", "a")
        #expect(result.status == 1)
        #expect(result.stdout.contains("chunk 4\tbytes 262144-263143"))
    }

    @Test func filesOfDifferentSizesAreRefused() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        try workspace.copyFixture("one-chunk.bin")
        try workspace.copyFixture("chunk-plus-one.bin")
        expectOneLineError(try workspace.run("diff", "one-chunk.bin", "chunk-plus-one.bin"), status: 2, mentioning: "one size")
    }

    @Test func mapsOfDifferentChunkSizesAreRefused() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        try workspace.copyFixture("several-chunks.bin", as: "a")
        _ = try workspace.run("map", "a", "--chunk-size", "64KiB", "-o", "small.chunkmap")
        _ = try workspace.run("map", "a", "--chunk-size", "128KiB", "-o", "large.chunkmap")
        expectOneLineError(try workspace.run("diff", "small.chunkmap", "large.chunkmap"), status: 2, mentioning: "different geometry")
    }
}
