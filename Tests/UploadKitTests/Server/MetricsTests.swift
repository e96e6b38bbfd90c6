import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import SystemPackage
import Testing
import UploadKit

/// `/metrics`: Prometheus text.
@Suite struct MetricsTests {
    /// The value of one unlabelled sample in Prometheus text.
    func sample(_ name: String, in text: String) -> Double? {
        text.split(separator: "\n").lazy
            .filter { !$0.hasPrefix("#") }
            .compactMap { line -> Double? in
                let parts = line.split(separator: " ")
                return parts.count == 2 && parts[0] == name ? Double(parts[1]) : nil
            }
            .first
    }

    @Test func chunksVerifiedCountsCommittedChunksOnly() async throws {
        try await ServerFixture().run { api in
            let file = SampleFile.standard
            let upload = try await api.create(file)
            for index in [0, 1, 3] { #expect(try await api.put(upload, chunk: index).status == .ok) }
            #expect(try await api.put(upload, chunk: 1).status == .ok)  // a duplicate writes nothing
            #expect(try await api.put(upload, chunk: 2, headers: [.contentDigest: xxh3Field([1])]).status == .unprocessableContent)
            let response = try await api.request(.get, "/metrics")
            #expect(response.status == .ok)
            #expect(response.headers[.contentType]?.hasPrefix("text/plain") == true)
            let text = String(buffer: response.body)
            #expect(text.contains("uploadverify_chunks_verified_total"))
            #expect(sample("uploadverify_chunks_verified_total", in: text) == 3)
            #expect(sample("uploadverify_bytes_received_total", in: text) == Double(2 * kib64 + 1000))
            #expect(sample("uploadverify_uploads_created_total", in: text) == 1)
        }
    }
}
