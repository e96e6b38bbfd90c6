import Foundation
import Testing

@Suite struct VerifyCommandTests {
    static let sha = "7a99465f4ce9a8eb71b087d4679589d33642e8009b083cad98cf757df835ff33"

    func mapped() throws -> Workspace {
        let workspace = try Workspace()
        try workspace.copyFixture("several-chunks.bin")
        _ = try workspace.run("map", "several-chunks.bin", "--chunk-size", "64KiB")
        return workspace
    }

    @Test func anIntactFileVerifiesWithExit0() throws {
        let workspace = try mapped()
        defer { workspace.remove() }
        let result = try workspace.run("verify", "several-chunks.bin", "--sha256", Self.sha)
        #expect(result.status == 0)
        #expect(result.stdout.contains("5 of 5 chunks verified"))
    }

    @Test func aCorruptChunkIsNamedWithItsByteRangeAndTheRepairCommand() throws {
        let workspace = try mapped()
        defer { workspace.remove() }
        try workspace.damage("several-chunks.bin", at: 70_000)
        let result = try workspace.run("verify", "several-chunks.bin")
        #expect(result.status == 1)
        #expect(result.stdout.contains("chunk 1 is corrupt: bytes 65536-131071"))
        #expect(result.stdout.contains("uploadverify repair several-chunks.bin --from"))
    }

    @Test func verifyJSONHasTheContractKeys() throws {
        let workspace = try mapped()
        defer { workspace.remove() }
        try workspace.damage("several-chunks.bin", at: 262_144 + 999)
        let result = try workspace.run("verify", "several-chunks.bin", "--sha256", Self.sha, "--json")
        #expect(result.status == 1)
        let object = try json(result.stdout)
        #expect(object["ok"] as? Bool == false)
        #expect(object["sha256Matches"] as? Bool == false)
        let corrupt = try #require(object["corrupt"] as? [[String: Any]])
        #expect(corrupt.count == 1)
        #expect(corrupt.first?["index"] as? Int == 4)
        #expect(corrupt.first?["offset"] as? Int == 262_144)
        #expect(corrupt.first?["length"] as? Int == 1000)
    }

    @Test func sha256MatchesIsNullWhenNoSHA256WasChecked() throws {
        let workspace = try mapped()
        defer { workspace.remove() }
        let result = try workspace.run("verify", "several-chunks.bin", "--json")
        #expect(result.status == 0)
        #expect(try json(result.stdout)["sha256Matches"] is NSNull)
    }

    @Test func aSHA256AloneIsCheckedWithoutAMap() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        try workspace.copyFixture("several-chunks.bin")
        #expect(try workspace.run("verify", "several-chunks.bin", "--sha256", Self.sha).status == 0)
        let wrong = String(repeating: "0", count: 64)
        #expect(try workspace.run("verify", "several-chunks.bin", "--sha256", wrong).status == 1)
    }

    @Test func aTruncatedFileIsAnIntegrityProblemNamingTheMissingChunks() throws {
        let workspace = try mapped()
        defer { workspace.remove() }
        try FileHandle(forWritingTo: URL(fileURLWithPath: workspace.path("several-chunks.bin"))).truncate(atOffset: 100_000)
        let result = try workspace.run("verify", "several-chunks.bin")
        #expect(result.status == 1)
        #expect(result.stdout.contains("100000 bytes long where its map records 263144"))
        #expect(result.stdout.contains("chunk 4 is missing"))
    }

    @Test func anExplicitMapIsUsed() throws {
        let workspace = try mapped()
        defer { workspace.remove() }
        try FileManager.default.moveItem(atPath: workspace.path("several-chunks.bin.chunkmap"), toPath: workspace.path("other.chunkmap"))
        #expect(try workspace.run("verify", "several-chunks.bin", "--map", "other.chunkmap").status == 0)
    }

    @Test func withNothingToCheckAgainstItSaysHowToMakeAMap() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        try workspace.copyFixture("one-byte.bin")
        expectOneLineError(try workspace.run("verify", "one-byte.bin"), status: 2, mentioning: "uploadverify map one-byte.bin")
    }

    @Test(arguments: ["abc", String(repeating: "z", count: 64), String(repeating: "0", count: 65)])
    func aMalformedSHA256IsBadInput(hex: String) throws {
        let workspace = try mapped()
        defer { workspace.remove() }
        expectOneLineError(try workspace.run("verify", "several-chunks.bin", "--sha256", hex), status: 2, mentioning: "hex")
    }

    @Test func aDamagedMapIsBadInput() throws {
        let workspace = try mapped()
        defer { workspace.remove() }
        try workspace.damage("several-chunks.bin.chunkmap", at: 40)
        expectOneLineError(try workspace.run("verify", "several-chunks.bin"), status: 2, mentioning: "damaged")
    }

    @Test func aMissingExplicitMapIsBadInput() throws {
        let workspace = try mapped()
        defer { workspace.remove() }
        expectOneLineError(try workspace.run("verify", "several-chunks.bin", "--map", "nope.chunkmap"), status: 2, mentioning: "nope.chunkmap")
    }
}
