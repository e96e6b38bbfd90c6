import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import SystemPackage
import Testing
import UploadKit

/// `POST /uploads/{id}/audit`: re-read the disk, mark what changed, re-check the SHA-256.
@Suite struct AuditTests {
    let file = SampleFile.standard

    @Test func anIntactCompleteUploadAuditsClean() async throws {
        try await ServerFixture().run { api in
            let upload = try await api.uploadWhole(file)
            let response = try await api.audit(upload)
            #expect(response.status == .ok)
            let report = try decode(AuditJSON.self, response)
            #expect(report.checkedChunks == 4)
            #expect(report.corrupt == [])
            #expect(report.sha256Matches == true)
            #expect(try await api.status(upload).state == "complete")
        }
    }

    @Test func aDamagedByteIsFoundMarkedCorruptAndTheUploadDamaged() async throws {
        try await ServerFixture().run { api in
            let upload = try await api.uploadWhole(file)
            try flipByte(api.dataPath(upload.id), at: Int64(kib64 + 7))
            let report = try decode(AuditJSON.self, try await api.audit(upload))
            #expect(report.checkedChunks == 4)
            #expect(report.corrupt == [1])
            #expect(report.sha256Matches == false)
            let status = try await api.status(upload)
            #expect(status.state == "damaged")
            #expect(status.corrupt == [1])
            let handshake = try await api.head(upload)
            #expect(handshake.headers[.uploadComplete] == "?0")
            #expect(decodeBitmap(handshake.headers[.uploadChunks], chunkCount: 4) == [true, false, true, true])
            #expect(try await api.chunkMap(upload).chunks[1].state == "corrupt")
        }
    }

    @Test func aDamagedUploadsDataCannotBeDownloaded() async throws {
        try await ServerFixture().run { api in
            let upload = try await api.uploadWhole(file)
            try flipByte(api.dataPath(upload.id), at: 10)
            _ = try await api.audit(upload)
            try expectProblem(try await api.data(upload), .conflict)
        }
    }

    @Test func aDamagedChunkSentAgainIsAcceptedAndTheUploadCompletesAgain() async throws {
        try await ServerFixture().run { api in
            let upload = try await api.uploadWhole(file)
            try flipByte(api.dataPath(upload.id), at: Int64(kib64 + 7))
            _ = try await api.audit(upload)
            let put = try await api.put(upload, chunk: 1)
            #expect(put.status == .ok)
            #expect(try decode(ReceiptJSON.self, put).written == true)
            let response = try await api.complete(upload)
            #expect(response.status == .ok, "completes against the SHA-256 it was confirmed with")
            #expect(try decode(StatusJSON.self, response).state == "complete")
            #expect(try readFile(api.dataPath(upload.id)) == file.bytes)
            let report = try decode(AuditJSON.self, try await api.audit(upload))
            #expect(report.corrupt == [] && report.sha256Matches == true)
        }
    }

    @Test func anAuditOfAnUploadStillReceivingChecksItsVerifiedChunksAndNoSHA256() async throws {
        try await ServerFixture().run { api in
            let upload = try await api.create(file)
            for index in [0, 2] { #expect(try await api.put(upload, chunk: index).status == .ok) }
            try flipByte(api.dataPath(upload.id), at: Int64(2 * kib64))
            try flipByte(api.dataPath(upload.id), at: Int64(kib64))  // a missing chunk: nothing to check it against
            let response = try await api.audit(upload)
            #expect(response.status == .ok)
            let report = try decode(AuditJSON.self, response)
            #expect(report.checkedChunks == 2)
            #expect(report.corrupt == [2])
            #expect(report.sha256Matches == nil)
            #expect(String(buffer: response.body).contains("\"sha256Matches\":null"))
            let status = try await api.status(upload)
            #expect(status.state == "receiving")
            #expect(status.corrupt == [2])
            #expect(status.missing == [1, 3])
        }
    }

    @Test func anAuditOfAnUnknownUploadIs404() async throws {
        try await ServerFixture().run { api in
            try expectProblem(try await api.request(.post, "/uploads/0123456789abcdef0123456789abcdef/audit"), .notFound)
        }
    }
}
