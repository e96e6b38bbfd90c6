import HTTPTypes
import SystemPackage
import Testing

@testable import UploadKit

@Suite struct UploadAdmissionTests {
    @Test func anUploadIsAdmittedOnlyIfTheFreeDiskMinusWhatOthersStillNeedHoldsIt() throws {
        try UploadAdmission.check(length: 400, open: [600], available: 1000, limit: 10)
        #expect(throws: UploadError.self) { try UploadAdmission.check(length: 600, open: [600], available: 1000, limit: 10) }
    }

    @Test func theLimitOnOpenUploadsIsA503NamingIt() throws {
        #expect {
            try UploadAdmission.check(length: 1, open: [1], available: 1000, limit: 1)
        } throws: { error in
            guard let error = error as? UploadError, case .tooManyUploads(let limit) = error else { return false }
            return limit == 1 && Problem(error).status.code == 503
        }
    }

    @Test func writtenChunksNoLongerCountAsNeeded() async throws {
        let root = try TemporaryDirectory()
        defer { root.remove() }
        let store = try FileUploadStore(options: .init(directory: FilePath(root.path("data")), fsync: false, maxOpenUploads: 10))
        let file = SampleFile.standard
        let id = try await store.create(length: ByteCount(Int64(file.length)), chunkSize: ByteCount(Int64(file.chunkSize)), expectedSHA256: nil, metadata: "")
            .id
        let before = try #require(store.openUploadsStillNeeding().first)
        _ = try await store.receiveChunk(id, index: ChunkIndex(0), expected: ExpectedDigests(), body: SampleFile.body([file.chunk(0)]))
        let after = try #require(store.openUploadsStillNeeding().first)
        #expect(before == Int64(file.length))
        #expect(after <= before - Int64(file.chunkSize))
    }

    @Test func storesSharingADirectoryCountEachOthersOpenUploads() async throws {
        let root = try TemporaryDirectory()
        defer { root.remove() }
        let options = FileUploadStore.Options(directory: FilePath(root.path("data")), fsync: false, maxOpenUploads: 2)
        let first = try FileUploadStore(options: options)
        let second = try FileUploadStore(options: options)
        _ = try await first.create(length: ByteCount(1000), chunkSize: nil, expectedSHA256: nil, metadata: "")
        _ = try await second.create(length: ByteCount(2000), chunkSize: nil, expectedSHA256: nil, metadata: "")
        #expect(first.openUploadsStillNeeding().sorted() == [1000, 2000])
        await #expect {
            _ = try await first.create(length: ByteCount(1), chunkSize: nil, expectedSHA256: nil, metadata: "")
        } throws: { error in
            guard case .tooManyUploads(limit: 2)? = error as? UploadError else { return false }
            return true
        }
    }

    @Test func storesSharingADirectoryDoNotEachAdmitTheWholeDisk() async throws {
        let root = try TemporaryDirectory()
        defer { root.remove() }
        let directory = FilePath(root.path("data"))
        let first = try FileUploadStore(options: .init(directory: directory, fsync: false))
        let second = try FileUploadStore(options: .init(directory: directory, fsync: false))
        let free = try DiskSpace.available(at: directory)
        let most = min(ChunkLayout.maximumFileSize.bytes, free * 3 / 4)
        _ = try await first.create(length: ByteCount(most), chunkSize: nil, expectedSHA256: nil, metadata: "")
        await #expect {
            _ = try await second.create(length: ByteCount(most), chunkSize: nil, expectedSHA256: nil, metadata: "")
        } throws: { error in
            guard case .insufficientStorage? = error as? UploadError else { return false }
            return true
        }
    }
}
