import Foundation
import Testing
import UploadKit

/// `map --parity`, `verify` with a parity beside the file, and `repair FILE`
/// healing from it, end to end.
@Suite struct ParityCommandTests {
    static let chunk = 65_536
    /// 65 chunks: with --parity 10, 3 interleaved stripes (chunk i in stripe i % 3) of 32 chunks + 4 parity shards.
    static let size = (4 << 20) + 12_345

    /// A workspace with `f` (random bytes) mapped with parity; returns its bytes.
    func mapped(_ percent: String = "10") throws -> (Workspace, [UInt8]) {
        let workspace = try Workspace()
        let bytes = Self.bytes(Self.size, seed: 3)
        _ = try workspace.write(bytes, to: "f")
        let result = try workspace.run("map", "f", "--chunk-size", "64KiB", "--parity", percent)
        #expect(result.status == 0, "\(result.stderr)")
        return (workspace, bytes)
    }

    static func bytes(_ count: Int, seed: UInt64) -> [UInt8] {
        var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        var bytes = [UInt8]()
        bytes.reserveCapacity(count)
        while bytes.count < count {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            withUnsafeBytes(of: state) { bytes.append(contentsOf: $0.prefix(count - bytes.count)) }
        }
        return bytes
    }

    func contents(_ workspace: Workspace, _ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: URL(fileURLWithPath: workspace.path(name))))
    }

    /// Flips one byte in each of `chunks` chunks of `name`.
    func damage(_ workspace: Workspace, _ name: String = "f", chunks: [Int]) throws {
        for index in chunks { try workspace.damage(name, at: index * Self.chunk + 17) }
    }

    @Test func mapWithParityWritesTheMapAndTheParityBesideTheFile() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        _ = try workspace.write(Self.bytes(Self.size, seed: 3), to: "f")
        let result = try workspace.run("map", "f", "--chunk-size", "64KiB", "--parity", "10%")
        #expect(result.status == 0)
        #expect(FileManager.default.fileExists(atPath: workspace.path("f.chunkmap")))
        #expect(FileManager.default.fileExists(atPath: workspace.path("f.parity")))
        #expect(result.stdout.contains("f.parity: 3 stripes of 32 chunks + 4 parity shards"))
        #expect(result.stdout.contains("heals up to 4 damaged chunks per stripe"))
        // 12 shards of 64 KiB after a 4 KiB header.
        #expect(try contents(workspace, "f.parity").count == 4096 + 12 * Self.chunk)
        let verify = try workspace.run("verify", "f")
        #expect(verify.status == 0)
        #expect(verify.stdout.contains("f.parity: intact"))
    }

    @Test func repairWithoutFromHealsDamagedChunksFromTheParity() throws {
        let (workspace, bytes) = try mapped()
        defer { workspace.remove() }
        try damage(workspace, chunks: [3, 4, 40, 64])
        let verify = try workspace.run("verify", "f")
        #expect(verify.status == 1)
        #expect(verify.stdout.contains("to repair: uploadverify repair f   (heals from f.parity"))
        let repair = try workspace.run("repair", "f", "--json")
        #expect(repair.status == 0, "\(repair.stderr)")
        let object = try json(repair.stdout)
        #expect(object["ok"] as? Bool == true)
        #expect(object["chunksMoved"] as? Int == 4)
        #expect(object["parityShardsRebuilt"] as? Int == 0)
        #expect(object["sha256"] as? String == SHA256Hasher.hash(bytes).description)
        #expect(try contents(workspace, "f") == bytes)
        #expect(try workspace.run("verify", "f").status == 0)
    }

    @Test func aDamagedParityShardIsReportedByVerifyAndRebuiltByRepair() throws {
        let (workspace, _) = try mapped()
        defer { workspace.remove() }
        let parity = try contents(workspace, "f.parity")
        try workspace.damage("f.parity", at: 4096 + 5 * Self.chunk + 99)
        let verify = try workspace.run("verify", "f")
        #expect(verify.status == 1)
        #expect(verify.stdout.contains("0 damaged chunks and 1 damaged parity shards"))
        let repair = try workspace.run("repair", "f")
        #expect(repair.status == 0)
        #expect(repair.stdout.contains("0 chunks healed from f.parity (0 bytes), 1 parity shards rebuilt"))
        #expect(try contents(workspace, "f.parity") == parity)
    }

    @Test func damageBeyondTheParityIsRefusedNamingTheStripeAndChangesNothing() throws {
        let (workspace, _) = try mapped()
        defer { workspace.remove() }
        // Stripe 0 holds chunks 0, 3, 6, ...: five damaged where the parity heals four.
        try damage(workspace, chunks: [0, 3, 6, 9, 12, 1])
        let before = try contents(workspace, "f")
        let parityBefore = try contents(workspace, "f.parity")
        let verify = try workspace.run("verify", "f")
        #expect(verify.status == 1)
        #expect(verify.stdout.contains("stripe 0 cannot be healed: chunks 0, 3, 6, 9, 12 damaged"))
        #expect(verify.stdout.contains("uploadverify repair f --from SOURCE"))
        let repair = try workspace.run("repair", "f")
        expectOneLineError(repair, status: 1, mentioning: "nothing was changed")
        #expect(repair.stderr.contains("uploadverify repair f --from SOURCE"))
        #expect(repair.stdout.contains("stripe 0 cannot be healed"))
        #expect(repair.stdout.contains("stripe 1 heals: chunk 1 damaged"))
        #expect(try contents(workspace, "f") == before)
        #expect(try contents(workspace, "f.parity") == parityBefore)
    }

    @Test func aMissingParityIsBadInputSayingHowToMakeOne() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        _ = try workspace.write(Self.bytes(200_000, seed: 5), to: "f")
        #expect(try workspace.run("map", "f").status == 0)
        expectOneLineError(try workspace.run("repair", "f"), status: 2, mentioning: "uploadverify map f --parity")
    }

    @Test func aMissingMapIsBadInput() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        _ = try workspace.write(Self.bytes(200_000, seed: 5), to: "f")
        expectOneLineError(try workspace.run("repair", "f"), status: 2, mentioning: "f.chunkmap does not exist")
    }

    @Test func aTruncatedParityIsBadInput() throws {
        let (workspace, bytes) = try mapped()
        defer { workspace.remove() }
        try damage(workspace, chunks: [7])
        try FileHandle(forWritingTo: URL(fileURLWithPath: workspace.path("f.parity"))).truncate(atOffset: 100_000)
        expectOneLineError(try workspace.run("repair", "f"), status: 2, mentioning: "truncated")
        #expect(try contents(workspace, "f") != bytes)
    }

    @Test func anotherFilesParityIsBadInput() throws {
        let (workspace, _) = try mapped()
        defer { workspace.remove() }
        _ = try workspace.write(Self.bytes(3 << 20, seed: 11), to: "g")
        #expect(try workspace.run("map", "g", "--chunk-size", "64KiB", "--parity", "10").status == 0)
        try FileManager.default.removeItem(atPath: workspace.path("f.parity"))
        try FileManager.default.copyItem(atPath: workspace.path("g.parity"), toPath: workspace.path("f.parity"))
        expectOneLineError(try workspace.run("repair", "f"), status: 2, mentioning: "parity of another file")
    }

    @Test func theParityOfAnOlderVersionIsBadInput() throws {
        let (workspace, _) = try mapped()
        defer { workspace.remove() }
        // The file changes on purpose and is mapped again, without parity.
        try damage(workspace, chunks: [10])
        #expect(try workspace.run("map", "f", "--chunk-size", "64KiB").status == 0)
        expectOneLineError(try workspace.run("repair", "f"), status: 2, mentioning: "older version")
        let verify = try workspace.run("verify", "f")
        #expect(verify.status == 1)
        #expect(verify.stdout.contains("parity cannot be used"))
        #expect(verify.stdout.contains("to make a new parity: uploadverify map f --parity PERCENT"))
    }

    @Test(arguments: ["0", "101", "ten", "12.5"])
    func aBadPercentIsRefused(percent: String) throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        _ = try workspace.write(Self.bytes(1000, seed: 1), to: "f")
        expectOneLineError(try workspace.run("map", "f", "--parity", percent), status: 2, mentioning: "whole percent")
    }

    @Test func parityNeedsTheSHA256() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        _ = try workspace.write(Self.bytes(1000, seed: 1), to: "f")
        expectOneLineError(try workspace.run("map", "f", "--parity", "10", "--no-sha256"), status: 2, mentioning: "--no-sha256")
    }

    @Test func repairOfAnUploadWithoutFromIsBadInput() throws {
        expectOneLineError(
            try UploadVerifyBinary.run(["repair", "http://127.0.0.1:9/uploads/0123456789abcdef0123456789abcdef"]), status: 2, mentioning: "--from")
    }

    @Test func verifyJSONReportsWhatTheParityCanHeal() throws {
        let (workspace, _) = try mapped()
        defer { workspace.remove() }
        try damage(workspace, chunks: [2])
        let result = try workspace.run("verify", "f", "--json")
        #expect(result.status == 1)
        let parity = try #require(try json(result.stdout)["parity"] as? [String: Any])
        #expect(parity["usable"] as? Bool == true)
        #expect(parity["problem"] is NSNull)
        #expect(parity["healsEverything"] as? Bool == true)
        #expect(parity["dataShards"] as? Int == 32)
        #expect(parity["parityShards"] as? Int == 4)
        #expect(parity["stripes"] as? Int == 3)
        #expect((parity["damagedParityShards"] as? [Int])?.isEmpty == true)
        #expect((parity["unhealable"] as? [Any])?.isEmpty == true)
    }

    @Test func verifyJSONHasANullParityWithoutAParityFile() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        try workspace.copyFixture("several-chunks.bin")
        _ = try workspace.run("map", "several-chunks.bin", "--chunk-size", "64KiB")
        let result = try workspace.run("verify", "several-chunks.bin", "--json")
        #expect(result.status == 0)
        #expect(try json(result.stdout)["parity"] is NSNull)
    }
}
