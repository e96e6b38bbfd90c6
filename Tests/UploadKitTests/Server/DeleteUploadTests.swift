import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import SystemPackage
import Testing
import UploadKit

/// `DELETE /uploads/{id}`: the data file and its chunk map are removed.
@Suite struct DeleteUploadTests {
    let file = SampleFile.standard

    @Test func deletingAnswers204AndRemovesBothFiles() async throws {
        try await ServerFixture().run { api in
            let upload = try await api.create(file)
            #expect(try await api.put(upload, chunk: 0).status == .ok)
            let response = try await api.request(.delete, upload.path)
            #expect(response.status == .noContent)
            #expect(!fileExists(api.dataPath(upload.id)))
            #expect(!fileExists(api.mapPath(upload.id)))
            #expect(try FileManager.default.contentsOfDirectory(atPath: api.dataDirectory).isEmpty)
        }
    }

    @Test func aDeletedUploadIsGoneForEveryRequest() async throws {
        try await ServerFixture().run { api in
            let upload = try await api.uploadWhole(file)
            #expect(try await api.request(.delete, upload.path).status == .noContent)
            try expectProblem(try await api.request(.get, upload.path), .notFound)
            #expect(try await api.head(upload).status == .notFound)
            try expectProblem(try await api.put(upload, chunk: 0), .notFound)
            try expectProblem(try await api.data(upload), .notFound)
            try expectProblem(try await api.request(.delete, upload.path), .notFound)
        }
    }

    @Test func deletingOneUploadLeavesTheOthers() async throws {
        try await ServerFixture().run { api in
            let first = try await api.create(file)
            let second = try await api.create(file)
            #expect(try await api.request(.delete, first.path).status == .noContent)
            #expect(fileExists(api.dataPath(second.id)) && fileExists(api.mapPath(second.id)))
            #expect(try await api.status(second).id == second.id)
        }
    }

    @Test func deletingAnInvalidIDIs404() async throws {
        try await ServerFixture().run { api in
            let upload = try await api.create(file)
            try expectProblem(try await api.request(.delete, upload.path + ".chunkmap"), .notFound)
            #expect(fileExists(api.mapPath(upload.id)))
        }
    }
}
