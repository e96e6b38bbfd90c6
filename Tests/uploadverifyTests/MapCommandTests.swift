import Foundation
import Testing

@Suite struct MapCommandTests {
    @Test func mapWritesTheMapBesideTheFileWithXxhsumDigests() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        try workspace.copyFixture("several-chunks.bin")
        let result = try workspace.run("map", "several-chunks.bin", "--chunk-size", "64KiB")
        #expect(result.status == 0)
        #expect(FileManager.default.fileExists(atPath: workspace.path("several-chunks.bin.chunkmap")))
        let shown = try json(try workspace.run("map", "show", "several-chunks.bin.chunkmap", "--json").stdout)
        let chunks = try #require(shown["chunks"] as? [[String: Any]])
        // Values printed by `xxhsum -H3` and `sha256sum` (fixtures/README.md).
        #expect(
            chunks.compactMap { $0["xxh3"] as? String } == [
                "46c2df1efbbc14f8", "f363826747165e57", "27c043cf41497a0e", "20080f36b89cfd4e", "a7c6b128ee510bec",
            ])
        #expect(chunks.last?["length"] as? Int == 1000)
        #expect(chunks.last?["offset"] as? Int == 262_144)
        #expect(shown["sha256"] as? String == "7a99465f4ce9a8eb71b087d4679589d33642e8009b083cad98cf757df835ff33")
        #expect(shown["algorithm"] as? String == "xxh3-64")
        #expect(shown["size"] as? Int == 263_144)
        #expect(shown["chunkSize"] as? Int == 65_536)
    }

    @Test func mapHonoursOutputAndDefaultsTo8MiBChunks() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        try workspace.copyFixture("chunk-plus-one.bin")
        #expect(try workspace.run("map", "chunk-plus-one.bin", "-o", "elsewhere.chunkmap").status == 0)
        let shown = try json(try workspace.run("map", "show", "elsewhere.chunkmap", "--json").stdout)
        #expect(shown["chunkSize"] as? Int == 8 << 20)
        #expect((shown["chunks"] as? [Any])?.count == 1)
    }

    @Test func mapOfAnEmptyFileHasNoChunksAndTheEmptySHA256() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        try workspace.copyFixture("empty.bin")
        #expect(try workspace.run("map", "empty.bin").status == 0)
        let shown = try json(try workspace.run("map", "show", "empty.bin.chunkmap", "--json").stdout)
        #expect((shown["chunks"] as? [Any])?.isEmpty == true)
        #expect(shown["sha256"] as? String == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }

    @Test func mapShowPrintsAHeaderAndALinePerChunk() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        try workspace.copyFixture("chunk-plus-one.bin")
        _ = try workspace.run("map", "chunk-plus-one.bin", "--chunk-size", "65536")
        let result = try workspace.run("map", "show", "chunk-plus-one.bin.chunkmap")
        #expect(result.status == 0)
        #expect(result.stdout.contains("1\t65536\t1\tverified\t1ee11a1315aa365c"))
        #expect(result.stdout.contains("sha256      10277a2136a56d6bfa018bd53b5378084286c268dad789bcfa9849d017e839c9"))
    }

    @Test(arguments: [("12XB", "unknown unit"), ("1KiB", "below the minimum"), ("512MiB", "above the maximum"), ("lots", "not a byte count")])
    func aBadChunkSizeIsRefusedInOneLine(chunkSize: String, message: String) throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        try workspace.copyFixture("one-byte.bin")
        expectOneLineError(try workspace.run("map", "one-byte.bin", "--chunk-size", chunkSize), status: 2, mentioning: message)
    }

    @Test func mappingAMissingFileIsBadInput() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        expectOneLineError(try workspace.run("map", "nope.bin"), status: 2, mentioning: "nope.bin")
    }

    /// A folder's maps go beside its files (`map DIR`, in FolderCommandTests): one output cannot hold them.
    @Test func mappingAFolderToOneOutputIsBadInput() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        expectOneLineError(try workspace.run("map", ".", "-o", "all.chunkmap"), status: 2, mentioning: "folder")
    }

    @Test(arguments: [
        ("damaged", "header is damaged"), ("truncated", "truncated"), ("foreign", "not a chunk map"),
    ])
    func showingABadMapIsRefusedInOneLine(kind: String, message: String) throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        try workspace.copyFixture("several-chunks.bin")
        _ = try workspace.run("map", "several-chunks.bin", "--chunk-size", "64KiB")
        let mapPath = workspace.path("several-chunks.bin.chunkmap")
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: mapPath)))
        switch kind {
        case "damaged": bytes[20] ^= 1
        case "truncated": bytes.removeLast(5)
        default: bytes = Array("just some text, no map here\n".utf8)
        }
        try Data(bytes).write(to: URL(fileURLWithPath: mapPath))
        expectOneLineError(try workspace.run("map", "show", "several-chunks.bin.chunkmap"), status: 2, mentioning: message)
    }
}
