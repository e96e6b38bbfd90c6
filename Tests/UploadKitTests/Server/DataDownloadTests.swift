import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import SystemPackage
import Testing
import UploadKit

/// `GET /uploads/{id}/data`: the bytes of a complete upload, one range at a time.
@Suite struct DataDownloadTests {
    let file = SampleFile.standard

    @Test func dataIsRefusedUntilTheUploadIsComplete() async throws {
        try await ServerFixture().run { api in
            let upload = try await api.create(file)
            try expectProblem(try await api.data(upload), .conflict, type: "upload-not-complete")
            try await api.putAll(upload)
            try expectProblem(try await api.data(upload), .conflict, type: "upload-not-complete")
            #expect(try await api.complete(upload, reprDigest: file.reprDigest).status == .ok)
            #expect(try await api.data(upload).status == .ok)
        }
    }

    @Test func theWholeBodyIsTheFile() async throws {
        try await ServerFixture().run { api in
            let upload = try await api.uploadWhole(file)
            let response = try await api.data(upload)
            #expect(response.status == .ok)
            #expect(response.headers[.acceptRanges] == "bytes")
            #expect(Array(buffer: response.body) == file.bytes)
        }
    }

    @Test func aRangeIsAnsweredWith206AndItsContentRange() async throws {
        try await ServerFixture().run { api in
            let upload = try await api.uploadWhole(file)
            let response = try await api.data(upload, range: "bytes=100-199")
            #expect(response.status == .partialContent)
            #expect(response.headers[.contentRange] == "bytes 100-199/\(file.length)")
            #expect(Array(buffer: response.body) == Array(file.bytes[100..<200]))
        }
    }

    @Test func anOpenEndedRangeRunsToTheEnd() async throws {
        try await ServerFixture().run { api in
            let upload = try await api.uploadWhole(file)
            let start = file.length - 1500
            let response = try await api.data(upload, range: "bytes=\(start)-")
            #expect(response.status == .partialContent)
            #expect(response.headers[.contentRange] == "bytes \(start)-\(file.length - 1)/\(file.length)")
            #expect(Array(buffer: response.body) == Array(file.bytes[start...]))
        }
    }

    @Test func aSuffixRangeIsTheLastBytes() async throws {
        try await ServerFixture().run { api in
            let upload = try await api.uploadWhole(file)
            let response = try await api.data(upload, range: "bytes=-500")
            #expect(response.status == .partialContent)
            #expect(response.headers[.contentRange] == "bytes \(file.length - 500)-\(file.length - 1)/\(file.length)")
            #expect(Array(buffer: response.body) == Array(file.bytes.suffix(500)))
        }
    }

    @Test func aRangePastTheEndIsClippedToTheFile() async throws {
        try await ServerFixture().run { api in
            let upload = try await api.uploadWhole(file)
            let response = try await api.data(upload, range: "bytes=\(file.length - 10)-\(file.length + 1000)")
            #expect(response.status == .partialContent)
            #expect(Array(buffer: response.body) == Array(file.bytes.suffix(10)))
        }
    }

    @Test(arguments: ["bytes=197608-", "bytes=300000-400000", "bytes=-0"])
    func anUnsatisfiableRangeIs416WithTheFilesLength(_ range: String) async throws {
        try await ServerFixture().run { api in
            let upload = try await api.uploadWhole(file)
            let response = try await api.data(upload, range: range)
            try expectProblem(response, .rangeNotSatisfiable)
            #expect(response.headers[.contentRange] == "bytes */\(file.length)")
        }
    }

    @Test(arguments: [
        "bytes=0-9223372036854775807", "bytes=-9223372036854775807", "bytes=9223372036854775807-", "bytes=99999999999999999999-",
        "bytes=0-99999999999999999999",
    ])
    func rangeNumbersNearOrPastSixtyFourBitsNeverTrap(_ range: String) async throws {
        try await ServerFixture().run { api in
            let upload = try await api.uploadWhole(file)
            let response = try await api.data(upload, range: range)
            #expect([.ok, .partialContent, .rangeNotSatisfiable].contains(response.status))
            if response.status == .ok || response.status == .partialContent {
                #expect(Array(buffer: response.body) == file.bytes)
            }
        }
    }

    @Test func dataOfAnUnknownUploadIs404() async throws {
        try await ServerFixture().run { api in
            try expectProblem(try await api.request(.get, "/uploads/0123456789abcdef0123456789abcdef/data"), .notFound)
        }
    }
}
