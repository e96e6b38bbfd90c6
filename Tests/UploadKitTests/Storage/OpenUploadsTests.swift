import HTTPTypes
import SystemPackage
import Testing
@testable import UploadKit

@Suite struct OpenUploadsTests {
    let a = UploadID.random()
    let b = UploadID.random()

    @Test func anUploadIsAdmittedOnlyIfTheFreeDiskMinusWhatOthersStillNeedHoldsIt() throws {
        let open = OpenUploads(limit: 10)
        try open.admit(a, length: 600, available: 1000)
        #expect(throws: UploadError.self) { try open.admit(b, length: 600, available: 1000) }
        try open.admit(b, length: 400, available: 1000)
        #expect(open.bytesStillNeeded == 1000)
    }

    @Test func writtenChunksNoLongerCountAsNeeded() throws {
        let open = OpenUploads(limit: 10)
        try open.admit(a, length: 600, available: 1000)
        open.wrote(500, to: a)
        #expect(open.bytesStillNeeded == 100)
        // The disk's free space shrank by what was written: 500 free, 100 still owed to a.
        try open.admit(b, length: 400, available: 500)
    }

    @Test func aReleasedUploadGivesItsBytesAndItsPlaceBack() throws {
        let open = OpenUploads(limit: 1)
        try open.admit(a, length: 600, available: 1000)
        #expect(throws: UploadError.self) { try open.admit(b, length: 1, available: 1000) }
        open.release(a)
        #expect(open.count == 0 && open.bytesStillNeeded == 0)
        try open.admit(b, length: 1000, available: 1000)
    }

    @Test func theLimitOnOpenUploadsIsA503NamingIt() throws {
        let open = OpenUploads(limit: 1)
        try open.admit(a, length: 1, available: 1000)
        #expect {
            try open.admit(b, length: 1, available: 1000)
        } throws: { error in
            guard let error = error as? UploadError, case .tooManyUploads(let limit) = error else { return false }
            return limit == 1 && Problem(error).status.code == 503
        }
    }

    @Test func aStoreCountsTheIncompleteUploadsAlreadyOnDiskAtStartUp() async throws {
        let root = try TemporaryDirectory()
        defer { root.remove() }
        let options = FileUploadStore.Options(directory: FilePath(root.path("data")), fsync: false)
        let first = try FileUploadStore(options: options)
        _ = try await first.create(length: ByteCount(1000), chunkSize: nil, expectedSHA256: nil, metadata: "")
        _ = try await first.create(length: ByteCount(2000), chunkSize: nil, expectedSHA256: nil, metadata: "")
        let restarted = try FileUploadStore(options: options)
        #expect(restarted.openUploads.count == 2)
        #expect(restarted.openUploads.bytesStillNeeded == 3000)
    }
}
