import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import SystemPackage
import Testing
import UploadKit

/// SQLite's method: fail the 1st, 2nd, … N-th data write, data fdatasync,
/// chunk map write and chunk map fdatasync of an upload, with ENOSPC and
/// with EIO, once or from then on, until a run no longer reaches the fault.
/// Every run must end in a clear problem for the client, leave verified
/// exactly the chunks that were acknowledged (each matching its bytes),
/// leak no descriptor, and complete once the disk works again.
@Suite struct FaultInjectionTests {
    /// Three whole chunks and a short one.
    static let file = SampleFile(length: 3 * kib64 + 1000)

    @Test(arguments: DiskFault.kinds)
    func everyFailingDiskOperationEndsInAClearErrorAndARetrySucceeds(_ kind: DiskFault) async throws {
        var unreachable = kind
        unreachable.nth = .max
        let occurrences = try await uploadThrough(unreachable).count(of: kind.operation)
        #expect(occurrences >= (kind.operation == .mapWrite || kind.operation == .mapSync ? 5 : 4))
        var nth = 1
        while true {
            var fault = kind
            fault.nth = nth
            guard try await uploadThrough(fault).fired > 0 else { break }
            nth += 1
        }
        #expect(nth == occurrences + 1, "\(kind.operation) was failed at \(nth - 1) places of \(occurrences)")
    }

    /// One upload with one fault; returns its plan, which tells whether the fault was reached.
    private func uploadThrough(_ fault: DiskFault) async throws -> FaultPlan {
        let root = try TemporaryDirectory()
        defer { root.remove() }
        let directory = root.path("data")
        let store = try FaultInjectingStore(directory: FilePath(directory), fault: fault)
        let router = buildRouter(store: store, metrics: ServerMetrics(), options: ServerOptions())
        let file = Self.file
        return try await Application(router: router).test(.router) { client in
            let api = UploadAPI(client: client, dataDirectory: directory)
            let upload = try await api.create(file)
            var acknowledged = Set<Int>()
            for index in 0..<file.chunkCount {
                let response = try await api.put(upload, chunk: index)
                if response.status == .ok { acknowledged.insert(index) } else { try expectStorageProblem(response, fault) }
            }
            if acknowledged.count == file.chunkCount {
                let response = try await api.complete(upload, reprDigest: file.reprDigest)
                if response.status != .ok { try expectStorageProblem(response, fault) }
            }
            guard store.plan.fired > 0 else { return store.plan }

            try expectVerifiedExactly(acknowledged, upload: upload, api: api, fault: fault)
            #expect(try await descriptorsLeftOpen(under: directory).isEmpty, "descriptors left open after \(fault)")

            store.plan.disarm()
            for index in 0..<file.chunkCount where !acknowledged.contains(index) {
                let response = try await api.put(upload, chunk: index)
                #expect(response.status == .ok, "retry of chunk \(index) after \(fault): \(response.status)")
            }
            let completion = try await api.complete(upload, reprDigest: file.reprDigest)
            #expect(completion.status == .ok, "completion after \(fault): \(String(buffer: completion.body))")
            #expect(try decode(StatusJSON.self, completion).sha256 == file.sha256.description)
            #expect(try readFile(api.dataPath(upload.id)) == file.bytes)
            return store.plan
        }
    }

    /// ENOSPC is the disk-full problem (507); EIO a storage error (500).
    private func expectStorageProblem(_ response: TestResponse, _ fault: DiskFault, sourceLocation: SourceLocation = #_sourceLocation) throws {
        if fault.errno == .noSpace {
            let problem = try expectProblem(response, .init(code: 507), type: "insufficient-storage", sourceLocation: sourceLocation)
            #expect(problem.detail.contains("disk is full"), sourceLocation: sourceLocation)
        } else {
            let problem = try expectProblem(response, .internalServerError, type: "storage-error", sourceLocation: sourceLocation)
            #expect(problem.detail.contains(fault.operation.rawValue), sourceLocation: sourceLocation)
        }
    }

    /// The chunk map on disk says verified for exactly the acknowledged
    /// chunks, and each verified chunk's bytes are the file's.
    private func expectVerifiedExactly(_ acknowledged: Set<Int>, upload: Upload, api: UploadAPI, fault: DiskFault) throws {
        let map = try ChunkMapFile.open(FilePath(api.mapPath(upload.id)))
        defer { try? map.close() }
        let data = try readFile(api.dataPath(upload.id))
        #expect(data.count == upload.file.length, "the data file's size drifted after \(fault)")
        var verified = Set<Int>()
        for (index, state) in try map.readEntries().enumerated() {
            guard case .verified(let digest) = state else { continue }
            verified.insert(index)
            let bytes = Array(data[upload.file.range(index)])
            #expect(XXH3Hasher.hash(bytes) == digest && bytes == upload.file.chunk(index), "chunk \(index) wrongly verified after \(fault)")
        }
        #expect(verified == acknowledged, "after \(fault)")
        #expect(try map.readStatus().state == .receiving, "an upload completed in spite of \(fault)")
    }
}

/// The descriptors still open under `directory` once `limit` has passed
/// (or none, as soon as none is): the store's background SHA-256 of the
/// verified prefix may be reading an upload's files for a moment after a
/// request ends, and closes them when it stops; a leak stays open.
func descriptorsLeftOpen(under directory: String, within limit: Duration = .seconds(5)) async throws -> [String] {
    let deadline = ContinuousClock.now + limit
    while true {
        let open = try descriptorsOpen(under: directory)
        if open.isEmpty || ContinuousClock.now >= deadline { return open }
        try await Task.sleep(for: .milliseconds(20))
    }
}

/// This process's descriptors open on files under `directory`, from /proc.
func descriptorsOpen(under directory: String) throws -> [String] {
    try FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").compactMap { fd in
        guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(fd)") else { return nil }
        return target.hasPrefix(directory) ? target : nil
    }
}
