import Foundation
import SystemPackage
import Testing

@testable import UploadKit

/// What the store's audit finds, marks and reports.
@Suite struct StoreAuditTests {
    let file = SampleFile.standard

    func withCompleteUpload(_ body: (FileUploadStore, UploadID) async throws -> Void) async throws {
        let root = try TemporaryDirectory()
        defer { root.remove() }
        let store = try FileUploadStore(options: .init(directory: FilePath(root.path("data")), fsync: false))
        let id = try await store.create(
            length: ByteCount(Int64(file.length)), chunkSize: ByteCount(Int64(file.chunkSize)), expectedSHA256: nil, metadata: ""
        ).id
        _ = try await store.append(id, at: 0, checksum: nil, body: SampleFile.body([file.bytes]))
        _ = try await store.complete(id, sha256: file.sha256)
        try await body(store, id)
    }

    @Test func verifiedChunksPastTheEndOfATruncatedDataFileAreMarkedCorruptAndReported() async throws {
        try await withCompleteUpload { store, id in
            #expect(truncate(store.dataPath(id).string, off_t(2 * file.chunkSize)) == 0)
            let report = try await store.audit(id)
            #expect(report.corrupt == [ChunkIndex(2), ChunkIndex(3)])
            let map = try await store.snapshot(id).map
            #expect(map.status.state == .damaged)
            #expect(map[ChunkIndex(2)] == .corrupt(expected: XXH3Hasher.hash(file.chunk(2))))
        }
    }

    @Test func aChunkAlreadyMarkedCorruptIsReportedAgainWithWhatItHashesTo() async throws {
        try await withCompleteUpload { store, id in
            let data = try FileHandle(forWritingTo: URL(fileURLWithPath: store.dataPath(id).string))
            try data.seek(toOffset: 10)
            try data.write(contentsOf: [file.bytes[10] ^ 0x01])
            try data.close()
            _ = try await store.audit(id)
            let again = try await store.audit(id)
            guard case .corrupt(let index, _, let expected, let actual)? = again.findings.first else {
                Issue.record("expected the corrupt chunk reported again, got \(again.findings)")
                return
            }
            #expect(index == ChunkIndex(0) && expected == XXH3Hasher.hash(file.chunk(0)) && actual != expected)
        }
    }

    /// A damaged upload holds a confirmed file: its corrupt chunks take back
    /// only the bytes they were verified with.
    @Test func aCorruptChunkSentOtherBytesStaysCorrupt() async throws {
        try await withCompleteUpload { store, id in
            try flipByte(store, id, at: 10)
            _ = try await store.audit(id)
            let other = [UInt8](repeating: 7, count: file.chunkSize)
            await #expect(throws: UploadError.self) {
                try await store.receiveChunk(id, index: ChunkIndex(0), expected: ExpectedDigests(), body: SampleFile.body([other]))
            }
            let map = try await store.snapshot(id).map
            #expect(map[ChunkIndex(0)] == .corrupt(expected: XXH3Hasher.hash(file.chunk(0))))
            let receipt = try await store.receiveChunk(id, index: ChunkIndex(0), expected: ExpectedDigests(), body: SampleFile.body([file.chunk(0)]))
            #expect(receipt.written)
            #expect(try await store.snapshot(id).map[ChunkIndex(0)].isVerified)
        }
    }

    @Test func aCorruptChunkDeclaredWithOtherBytesIsRefusedBeforeAnythingIsWritten() async throws {
        try await withCompleteUpload { store, id in
            try flipByte(store, id, at: 10)
            _ = try await store.audit(id)
            let before = try Data(contentsOf: URL(fileURLWithPath: store.dataPath(id).string))
            let other = [UInt8](repeating: 7, count: file.chunkSize)
            do {
                _ = try await store.receiveChunk(
                    id, index: ChunkIndex(0), expected: ExpectedDigests(xxh3: XXH3Hasher.hash(other)), body: SampleFile.body([other]))
                Issue.record("other bytes were taken into a corrupt chunk")
            } catch {
                guard case UploadError.repairConflict = error else {
                    Issue.record("expected repairConflict, got \(error)")
                    return
                }
            }
            #expect(try Data(contentsOf: URL(fileURLWithPath: store.dataPath(id).string)) == before)
        }
    }

    /// The same rule for an append (tus, the IETF draft) as for a `PUT`.
    @Test func anAppendIntoACorruptChunkWithOtherBytesLeavesItCorrupt() async throws {
        try await withCompleteUpload { store, id in
            try flipByte(store, id, at: 10)
            _ = try await store.audit(id)
            let offset = try await store.snapshot(id).map.appendOffset
            #expect(offset == 0, "appends resume from the first corrupt chunk")
            let other = [UInt8](repeating: 7, count: file.chunkSize)
            do {
                _ = try await store.append(id, at: 0, checksum: nil, body: SampleFile.body([other]))
                Issue.record("other bytes were appended into a corrupt chunk")
            } catch {
                guard case UploadError.repairConflict(let index, _, _) = error else {
                    Issue.record("expected repairConflict, got \(error)")
                    return
                }
                #expect(index == ChunkIndex(0))
            }
            let map = try await store.snapshot(id).map
            #expect(map[ChunkIndex(0)] == .corrupt(expected: XXH3Hasher.hash(file.chunk(0))))
            _ = try await store.append(id, at: 0, checksum: nil, body: SampleFile.body([file.chunk(0)]))
            #expect(try await store.snapshot(id).map[ChunkIndex(0)].isVerified)
        }
    }

    @Test func aDamagedUploadIsCompletedAgainOnlyWithItsConfirmedSHA256() async throws {
        try await withCompleteUpload { store, id in
            try flipByte(store, id, at: 10)
            _ = try await store.audit(id)
            _ = try await store.receiveChunk(id, index: ChunkIndex(0), expected: ExpectedDigests(), body: SampleFile.body([file.chunk(0)]))
            let other = SHA256Hasher.hash([1, 2, 3])
            do {
                _ = try await store.complete(id, sha256: other)
                Issue.record("completed as another file")
            } catch {
                guard case UploadError.confirmedOtherwise(let confirmed, let given) = error else {
                    Issue.record("expected confirmedOtherwise, got \(error)")
                    return
                }
                #expect(confirmed == file.sha256 && given == other)
            }
            #expect(try await store.complete(id, sha256: file.sha256).state == .complete)
        }
    }

    /// Flips one byte of the data file at rest.
    func flipByte(_ store: FileUploadStore, _ id: UploadID, at offset: UInt64) throws {
        let data = try FileHandle(forUpdating: URL(fileURLWithPath: store.dataPath(id).string))
        defer { try? data.close() }
        try data.seek(toOffset: offset)
        let byte = try data.read(upToCount: 1)![0]
        try data.seek(toOffset: offset)
        try data.write(contentsOf: [byte ^ 0x01])
    }
}
