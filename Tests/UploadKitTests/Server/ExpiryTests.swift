import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import SystemPackage
import Testing
import UploadKit

/// `--expire-after`: incomplete uploads idle that long are removed; complete
/// ones kept; and the server still stops promptly when asked.
@Suite struct ExpiryTests {
    /// Runs `body` against a server with `expireAfter = idle`, then asks the
    /// server to stop. Returns whether it stopped on its own within `grace`;
    /// if it did not, it is cancelled so that the test run goes on.
    func withExpiringServer(
        idle: Duration, grace: Duration = .seconds(3), _ body: @escaping @Sendable (UploadAPI) async throws -> Void
    ) async throws -> Bool {
        try await withExpiringServer(try ServerFixture { $0.expireAfter = idle }, grace: grace, body)
    }

    func withExpiringServer(
        _ fixture: ServerFixture, grace: Duration = .seconds(3), _ body: @escaping @Sendable (UploadAPI) async throws -> Void
    ) async throws -> Bool {
        let failure = ErrorBox()
        let (bodyFinished, finishBody) = AsyncStream.makeStream(of: Void.self)
        let (serverStopped, stopServer) = AsyncStream.makeStream(of: Void.self)
        let server = Task {
            defer { stopServer.finish() }
            try await fixture.run { api in
                do { try await body(api) } catch { failure.error = error }
                finishBody.finish()
            }
        }
        _ = await signalled(bodyFinished, within: .seconds(60))
        let stoppedOnItsOwn = await signalled(serverStopped, within: grace)
        if !stoppedOnItsOwn {
            server.cancel()
            _ = await server.result
            fixture.root.remove()
        }
        if let error = failure.error { throw error }
        return stoppedOnItsOwn
    }

    /// True if `stream` ends within `limit`.
    func signalled(_ stream: AsyncStream<Void>, within limit: Duration) async -> Bool {
        await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                for await _ in stream {}
                return !Task.isCancelled
            }
            group.addTask {
                try? await Task.sleep(for: limit)
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
    }

    @Test func anIdleIncompleteUploadIsRemoved() async throws {
        _ = try await withExpiringServer(idle: .seconds(1)) { api in
            let upload = try await api.create(SampleFile.standard)
            var gone = false
            for _ in 0..<80 where !gone {
                try await Task.sleep(for: .milliseconds(50))
                gone = try await api.request(.get, upload.path).status == .notFound
            }
            #expect(gone, "removed within four seconds of a one-second expiry")
            #expect(!fileExists(api.dataPath(upload.id)))
            #expect(!fileExists(api.mapPath(upload.id)))
        }
    }

    @Test func aCompleteUploadIsKept() async throws {
        let fixture = try ServerFixture { $0.expireAfter = .seconds(1) }
        // Completed before the server starts, so that no slow moment of a busy
        // test run can let it expire while it is still being sent.
        let file = SampleFile.standard
        let store = try FileUploadStore(options: .init(directory: fixture.options.dataDirectory, fsync: false))
        let id = try await store.create(
            length: ByteCount(Int64(file.length)), chunkSize: ByteCount(Int64(file.chunkSize)), expectedSHA256: nil, metadata: ""
        ).id
        for index in 0..<file.chunkCount {
            let body = AsyncThrowingStream<ByteBuffer, any Error> {
                $0.yield(ByteBuffer(bytes: file.chunk(index)))
                $0.finish()
            }
            _ = try await store.receiveChunk(id, index: ChunkIndex(index), expected: ExpectedDigests(), body: body)
        }
        _ = try await store.complete(id, sha256: file.sha256)
        try await Task.sleep(for: .milliseconds(1100))

        _ = try await withExpiringServer(fixture) { api in
            try await Task.sleep(for: .milliseconds(1500))
            #expect(try await api.status(Upload(id: id.rawValue, file: file)).state == "complete")
        }
    }

    @Test func aServerWithExpiryStopsPromptlyWhenAskedTo() async throws {
        // Well under the 30 s shutdown grace the sweeper used to hold the server for,
        // with room for a loaded CI machine.
        let stopped = try await withExpiringServer(idle: .seconds(3600), grace: .seconds(10)) { api in
            let response = try await api.request(.get, "/healthz")
            #expect(response.status == .ok)
        }
        #expect(stopped)
    }
}

/// An error handed from one task to another.
final class ErrorBox: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: (any Error)?
    var error: (any Error)? {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue } }
    }
}
