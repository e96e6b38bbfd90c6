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
}
