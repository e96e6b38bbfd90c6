import NIOCore
import Synchronization
import SystemPackage
import UploadKit

/// One fault: the N-th operation of a kind fails with `errno`, once or
/// from then on.
struct DiskFault: Sendable, CustomStringConvertible {
    enum Persistence: String, Sendable, CaseIterable {
        case once
        case fromThenOn = "from then on"
    }

    var operation: DiskOperation
    var errno: Errno
    var persistence: Persistence
    var nth = 1

    var description: String { "\(operation) #\(nth) fails with \(errno) \(persistence)" }

    /// Every kind of operation, with ENOSPC and EIO, once and for good.
    static let kinds: [DiskFault] = DiskOperation.allCases.flatMap { operation in
        [Errno.noSpace, .ioError].flatMap { errno in
            Persistence.allCases.map { DiskFault(operation: operation, errno: errno, persistence: $0) }
        }
    }
}

/// Counts the store's disk operations and fails the one its fault names.
final class FaultPlan: DiskFaultInjector {
    private struct State {
        var fault: DiskFault?
        var seen: [DiskOperation: Int] = [:]
        var fired = 0
    }
    private let state: Locked<State>

    init(_ fault: DiskFault) { state = Locked(State(fault: fault)) }

    func failure(before operation: DiskOperation) -> Errno? {
        state.withLock { state in
            let count = state.seen[operation, default: 0] + 1
            state.seen[operation] = count
            guard let fault = state.fault, fault.operation == operation else { return nil }
            let fails = fault.persistence == .once ? count == fault.nth : count >= fault.nth
            if fails { state.fired += 1 }
            return fails ? fault.errno : nil
        }
    }

    /// How many operations of this kind were asked for so far.
    func count(of operation: DiskOperation) -> Int { state.withLock { $0.seen[operation, default: 0] } }

    /// How many operations failed so far.
    var fired: Int { state.withLock { $0.fired } }

    /// The fault stops: the disk works again.
    func disarm() { state.withLock { $0.fault = nil } }
}

/// A `FileUploadStore` whose disk fails as its plan says, behind the
/// store's protocol: the server above it cannot tell.
struct FaultInjectingStore: UploadStore {
    let base: FileUploadStore
    let plan: FaultPlan

    init(directory: FilePath, fault: DiskFault) throws {
        plan = FaultPlan(fault)
        base = try FileUploadStore(options: .init(directory: directory, fsync: true, faults: plan))
    }

    func create(length: ByteCount, chunkSize: ByteCount?, expectedSHA256: SHA256Digest?, metadata: String) async throws -> UploadSnapshot {
        try await base.create(length: length, chunkSize: chunkSize, expectedSHA256: expectedSHA256, metadata: metadata)
    }

    func snapshot(_ id: UploadID) async throws -> UploadSnapshot { try await base.snapshot(id) }

    func list(after cursor: UploadID?, limit: Int, state: ListedState?) async throws -> UploadPage {
        try await base.list(after: cursor, limit: limit, state: state)
    }

    func chunkMapBytes(_ id: UploadID) async throws -> [UInt8] { try await base.chunkMapBytes(id) }

    func layout(_ id: UploadID) async throws -> ChunkLayout { try await base.layout(id) }

    func receiveChunk(
        _ id: UploadID, index: ChunkIndex, expected: ExpectedDigests, body: some AsyncSequence<ByteBuffer, any Error> & Sendable
    ) async throws -> ChunkReceipt {
        try await base.receiveChunk(id, index: index, expected: expected, body: body)
    }

    func blockDigests(_ id: UploadID, index: ChunkIndex, blockSize: Int64) async throws -> ChunkBlockDigests {
        try await base.blockDigests(id, index: index, blockSize: blockSize)
    }

    func writeBlocks(
        _ id: UploadID, index: ChunkIndex, range: ByteRange, expected: ExpectedDigests, body: some AsyncSequence<ByteBuffer, any Error> & Sendable
    ) async throws -> BlockWriteReceipt {
        try await base.writeBlocks(id, index: index, range: range, expected: expected, body: body)
    }

    func append(
        _ id: UploadID, at offset: Int64, checksum: BodyChecksum?, body: some AsyncSequence<ByteBuffer, any Error> & Sendable
    ) async throws -> AppendReceipt {
        try await base.append(id, at: offset, checksum: checksum, body: body)
    }

    func complete(_ id: UploadID, sha256: SHA256Digest?, requireSHA256: Bool) async throws -> UploadSnapshot {
        try await base.complete(id, sha256: sha256, requireSHA256: requireSHA256)
    }

    func audit(_ id: UploadID, checkSHA256: Bool, heal: Bool) async throws -> AuditReport {
        try await base.audit(id, checkSHA256: checkSHA256, heal: heal)
    }

    func read(_ id: UploadID, range: ByteRange?) async throws -> DataStream { try await base.read(id, range: range) }

    func delete(_ id: UploadID) async throws { try await base.delete(id) }

    func expire(idleLongerThan idle: Duration) async throws -> [UploadID] { try await base.expire(idleLongerThan: idle) }

    func createPartial(length: ByteCount, chunkSize: ByteCount?, expectedSHA256: SHA256Digest?, metadata: String) async throws -> UploadSnapshot {
        try await base.createPartial(length: length, chunkSize: chunkSize, expectedSHA256: expectedSHA256, metadata: metadata)
    }

    func concatenate(_ parts: [UploadID], chunkSize: ByteCount?, expectedSHA256: SHA256Digest?, metadata: String) async throws -> UploadSnapshot {
        try await base.concatenate(parts, chunkSize: chunkSize, expectedSHA256: expectedSHA256, metadata: metadata)
    }
}
