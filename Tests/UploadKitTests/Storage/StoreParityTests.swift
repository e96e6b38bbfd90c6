import Foundation
import SystemPackage
import Testing

@testable import UploadKit

/// `serve --parity`: the store writes `ID.parity` at completion, and an
/// audit that heals rebuilds damaged chunks from it.
@Suite struct StoreParityTests {
    /// 40 chunks of 64 KiB and a short last one.
    let file = SampleFile(length: 40 * kib64 + 777, seed: 0x9A21)

    func withCompleteUpload(percent: Int? = 10, _ body: (FileUploadStore, UploadID) async throws -> Void) async throws {
        let root = try TemporaryDirectory()
        defer { root.remove() }
        let store = try FileUploadStore(options: .init(directory: FilePath(root.path("data")), fsync: false, parityPercent: percent))
        let id = try await store.create(
            length: ByteCount(Int64(file.length)), chunkSize: ByteCount(Int64(file.chunkSize)), expectedSHA256: nil, metadata: ""
        ).id
        _ = try await store.append(id, at: 0, checksum: nil, body: SampleFile.body([file.bytes]))
        _ = try await store.complete(id, sha256: file.sha256)
        try await body(store, id)
    }

    /// Flips one byte of the data file at `offset`, as rot at rest would.
    func flip(_ store: FileUploadStore, _ id: UploadID, at offset: Int) throws {
        let data = try FileHandle(forUpdating: URL(fileURLWithPath: store.dataPath(id).string))
        defer { try? data.close() }
        try data.seek(toOffset: UInt64(offset))
        let byte = try data.read(upToCount: 1)![0]
        try data.seek(toOffset: UInt64(offset))
        try data.write(contentsOf: [byte ^ 0x5A])
    }

    func dataFile(_ store: FileUploadStore, _ id: UploadID) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: URL(fileURLWithPath: store.dataPath(id).string)))
    }

    @Test func completionWritesAParityOfTheUploadBesideIt() async throws {
        try await withCompleteUpload { store, id in
            let parity = try ParityFile.open(store.parityPath(id))
            defer { try? parity.close() }
            #expect(parity.header.sha256 == file.sha256)
            #expect(parity.mismatch(with: try await store.snapshot(id).map) == nil)
            #expect(try parity.damagedShards().isEmpty)
        }
    }

    @Test func withoutParityNoParityFileIsWritten() async throws {
        try await withCompleteUpload(percent: nil) { store, id in
            #expect(access(store.parityPath(id).string, F_OK) != 0)
            let report = try await store.audit(id, checkSHA256: true, heal: true)
            #expect(report.heal == .noParity)
        }
    }

    @Test func anAuditThatHealsRebuildsDamagedChunksAndCompletesTheUploadAgain() async throws {
        try await withCompleteUpload { store, id in
            try flip(store, id, at: 5 * kib64 + 100)
            try flip(store, id, at: 21 * kib64 + 7)
            let report = try await store.audit(id, checkSHA256: true, heal: true)
            #expect(report.corrupt == [ChunkIndex(5), ChunkIndex(21)])
            guard case .healed(let chunks, _, let sha256)? = report.heal else {
                Issue.record("not healed: \(String(describing: report.heal))")
                return
            }
            #expect(chunks == [ChunkIndex(5), ChunkIndex(21)])
            #expect(sha256 == file.sha256)
            #expect(try dataFile(store, id) == file.bytes)
            let map = try await store.snapshot(id).map
            #expect(map.status.state == .complete)
            #expect(map.verifiedCount == map.layout.chunkCount)
        }
    }

    @Test func anAuditThatDoesNotHealOnlyMarksTheDamage() async throws {
        try await withCompleteUpload { store, id in
            try flip(store, id, at: 3)
            let report = try await store.audit(id, checkSHA256: true, heal: false)
            #expect(report.heal == nil)
            #expect(try await store.snapshot(id).map.status.state == .damaged)
            #expect(try dataFile(store, id) != file.bytes)
        }
    }

    @Test func damageBeyondTheParityIsRefusedAndNothingIsWritten() async throws {
        try await withCompleteUpload { store, id in
            for chunk in 0..<file.chunkCount { try flip(store, id, at: chunk * kib64) }
            let damaged = try dataFile(store, id)
            let report = try await store.audit(id, checkSHA256: true, heal: true)
            guard case .refused(let why)? = report.heal else {
                Issue.record("expected a refusal, got \(String(describing: report.heal))")
                return
            }
            #expect(why.contains("more damage than the parity covers"))
            #expect(try dataFile(store, id) == damaged)
            #expect(try await store.snapshot(id).map.status.state == .damaged)
        }
    }

    @Test func aDamagedParityShardIsRebuiltWhenTheDataIsIntact() async throws {
        try await withCompleteUpload { store, id in
            let parity = try ParityFile.open(store.parityPath(id))
            let firstShard = ParityFormat.shardsOffset(shardCount: parity.layout.shardCount)
            try parity.close()
            let handle = try FileHandle(forUpdating: URL(fileURLWithPath: store.parityPath(id).string))
            try handle.seek(toOffset: UInt64(firstShard + 10))
            try handle.write(contentsOf: [0xEE, 0xEE])
            try handle.close()
            let report = try await store.audit(id, checkSHA256: true, heal: true)
            guard case .healed(let chunks, let shards, _)? = report.heal else {
                Issue.record("not healed: \(String(describing: report.heal))")
                return
            }
            #expect(chunks.isEmpty)
            #expect(shards == [0])
            let reopened = try ParityFile.open(store.parityPath(id))
            defer { try? reopened.close() }
            #expect(try reopened.damagedShards().isEmpty)
        }
    }

    @Test func anIntactUploadHasNothingToHeal() async throws {
        try await withCompleteUpload { store, id in
            let report = try await store.audit(id, checkSHA256: true, heal: true)
            #expect(report.heal == .nothingToHeal)
        }
    }

    @Test func aCompletionThatFindsDamageLeavesNoParityAndNoTemporaryFile() async throws {
        let root = try TemporaryDirectory()
        defer { root.remove() }
        let store = try FileUploadStore(options: .init(directory: FilePath(root.path("data")), fsync: false, parityPercent: 10))
        let id = try await store.create(
            length: ByteCount(Int64(file.length)), chunkSize: ByteCount(Int64(file.chunkSize)), expectedSHA256: nil, metadata: ""
        ).id
        _ = try await store.append(id, at: 0, checksum: nil, body: SampleFile.body([file.bytes]))
        try flip(store, id, at: 7 * kib64)
        await #expect(throws: UploadError.self) { try await store.complete(id, sha256: file.sha256) }
        let names = try FileManager.default.contentsOfDirectory(atPath: root.path("data")).sorted()
        #expect(names == [id.rawValue, id.rawValue + ".chunkmap"])
    }

    @Test func deletingAnUploadRemovesItsParity() async throws {
        try await withCompleteUpload { store, id in
            try await store.delete(id)
            #expect(access(store.parityPath(id).string, F_OK) != 0)
        }
    }
}
