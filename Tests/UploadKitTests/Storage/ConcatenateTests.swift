import Foundation
import NIOCore
import SystemPackage
import Testing

@testable import UploadKit

/// The store's concatenation: partial uploads, complete, copied into a new
/// upload at their offsets; the new upload complete with every chunk
/// verified (chunks that straddle the parts' boundaries included), each
/// part's bytes checked against its own map on the way, its role on disk;
/// and every refusal leaving nothing behind.
@Suite struct ConcatenateTests {
    /// Sizes that are no multiple of 64 KiB, so the new upload's chunks
    /// straddle the parts' boundaries, and parts of several chunks each.
    static let sizes = [100_000, 2 * kib64 + 7, 1, 3 * kib64 - 500]
    static let chunkSize = ByteCount(Int64(kib64))

    /// The parts' bytes, each from its own seed.
    static func partBytes(_ lengths: [Int] = ConcatenateTests.sizes) -> [[UInt8]] {
        lengths.enumerated().map { index, size in pseudoRandomBytes(size, seed: 0x1234 + UInt64(index)) }
    }

    func withStore<T>(
        maxUploadSize: ByteCount = ChunkLayout.maximumFileSize, crashProbe: (any CrashProbe)? = nil,
        _ body: (FileUploadStore, FilePath) async throws -> T
    ) async throws -> T {
        let root = try TemporaryDirectory()
        defer { root.remove() }
        let directory = FilePath(root.path("data"))
        let store = try FileUploadStore(options: .init(directory: directory, maxUploadSize: maxUploadSize, fsync: false, crashProbe: crashProbe))
        return try await body(store, directory)
    }

    /// A partial upload of `bytes`, appended whole and completed.
    func completePartial(_ store: FileUploadStore, _ bytes: [UInt8], metadata: String = "") async throws -> UploadID {
        let id = try await store.createPartial(
            length: ByteCount(Int64(bytes.count)), chunkSize: Self.chunkSize, expectedSHA256: nil, metadata: metadata
        ).id
        if !bytes.isEmpty { _ = try await store.append(id, at: 0, checksum: nil, body: SampleFile.body([bytes])) }
        _ = try await store.complete(id, sha256: nil, requireSHA256: false)
        return id
    }

    func dataFile(_ store: FileUploadStore, _ id: UploadID) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: URL(fileURLWithPath: store.dataPath(id).string)))
    }

    /// Every chunk of `id` verified with the XXH3 of `expected`'s bytes at its place, and the data file those bytes.
    func expectHolds(_ store: FileUploadStore, _ id: UploadID, _ expected: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let map = try await store.snapshot(id).map
        #expect(try dataFile(store, id) == expected, "the data file is not the concatenation", sourceLocation: sourceLocation)
        for index in map.layout.indices {
            let range = map.layout.range(of: index)
            let bytes = Array(expected[Int(range.offset)..<Int(range.end)])
            #expect(map[index] == .verified(XXH3Hasher.hash(bytes)), "chunk \(index)", sourceLocation: sourceLocation)
        }
    }

    @Test func partsAreConcatenatedInOrderIntoACompleteUploadEveryChunkVerified() async throws {
        try await withStore { store, directory in
            let bytes = Self.partBytes()
            var parts = [UploadID]()
            for part in bytes { parts.append(try await completePartial(store, part)) }
            let whole = Array(bytes.joined())
            let made = try await store.concatenate(parts, chunkSize: Self.chunkSize, expectedSHA256: nil, metadata: "filename YS5iaW4=")
            #expect(made.state == .complete)
            #expect(made.map.status.sha256 == SHA256Hasher.hash(whole))
            #expect(made.layout.fileSize.bytes == Int64(whole.count))
            #expect(made.layout.chunkSize == Self.chunkSize)
            try await expectHolds(store, made.id, whole)
            // On disk: a store that starts afresh reads both roles back.
            let restarted = try FileUploadStore(options: .init(directory: directory, fsync: false))
            let read = try await restarted.snapshot(made.id)
            #expect(read.concatenation == .final(parts: parts))
            #expect(read.clientMetadata == "filename YS5iaW4=")
            #expect(read.state == .complete && read.map.status.sha256 == SHA256Hasher.hash(whole))
            for part in parts {
                let snapshot = try await restarted.snapshot(part)
                #expect(snapshot.concatenation == .partial && snapshot.clientMetadata.isEmpty)
                #expect(snapshot.state == .complete, "a part is not changed by being concatenated")
            }
        }
    }

    @Test func aPartMayBeNamedTwiceAndAnEmptyPartAddsNothing() async throws {
        try await withStore { store, _ in
            let bytes = Self.partBytes([70_000, 0, 1234])
            let a = try await completePartial(store, bytes[0])
            let empty = try await completePartial(store, bytes[1])
            let c = try await completePartial(store, bytes[2])
            let made = try await store.concatenate([a, empty, c, a], chunkSize: Self.chunkSize, expectedSHA256: nil, metadata: "")
            try await expectHolds(store, made.id, bytes[0] + bytes[2] + bytes[0])
            #expect(made.concatenation == .final(parts: [a, empty, c, a]))
        }
    }

    @Test func theDefaultGeometryIsTheStandardOne() async throws {
        try await withStore { store, _ in
            let bytes = Self.partBytes([5 << 20, 4 << 20])
            let parts = [try await completePartial(store, bytes[0]), try await completePartial(store, bytes[1])]
            let made = try await store.concatenate(parts, chunkSize: nil, expectedSHA256: nil, metadata: "")
            let standard = try ChunkLayout.automatic(fileSize: ByteCount(9 << 20))
            #expect(made.layout == standard)
            #expect(made.layout.chunkCount == 2, "chunk 0 straddles the two parts")
            try await expectHolds(store, made.id, bytes[0] + bytes[1])
        }
    }

    @Test func theExpectedSHA256IsConfirmedAndAMismatchLeavesNothing() async throws {
        try await withStore { store, _ in
            let bytes = Self.partBytes([90_000, 40_000])
            let parts = [try await completePartial(store, bytes[0]), try await completePartial(store, bytes[1])]
            let right = SHA256Hasher.hash(bytes[0] + bytes[1])
            let made = try await store.concatenate(parts, chunkSize: Self.chunkSize, expectedSHA256: right, metadata: "")
            #expect(made.state == .complete && made.map.status.sha256 == right)
            let before = store.listUploads().count
            let wrong = SHA256Hasher.hash(bytes[1] + bytes[0])
            await #expect {
                _ = try await store.concatenate(parts, chunkSize: Self.chunkSize, expectedSHA256: wrong, metadata: "")
            } throws: { error in
                guard case .sha256Mismatch(let expected, let actual)? = error as? UploadError else { return false }
                return expected == wrong && actual == right
            }
            #expect(store.listUploads().count == before, "the failed concatenation is removed")
        }
    }

    @Test func anUnknownPartIsRefusedByItsId() async throws {
        try await withStore { store, _ in
            let a = try await completePartial(store, Self.partBytes([1000])[0])
            let unknown = UploadID.random()
            await #expect {
                _ = try await store.concatenate([a, unknown], chunkSize: nil, expectedSHA256: nil, metadata: "")
            } throws: { error in
                guard case .partNotFound(let id)? = error as? UploadError else { return false }
                return id == unknown
            }
            #expect(store.listUploads() == [a])
        }
    }

    @Test func anUploadNotCreatedAsAPartialIsRefused() async throws {
        try await withStore { store, _ in
            let a = try await completePartial(store, Self.partBytes([1000])[0])
            let plain = try await store.create(length: ByteCount(10), chunkSize: nil, expectedSHA256: nil, metadata: "")
            _ = try await store.append(plain.id, at: 0, checksum: nil, body: SampleFile.body([Array(repeating: 7, count: 10)]))
            _ = try await store.complete(plain.id, sha256: nil, requireSHA256: false)
            await #expect {
                _ = try await store.concatenate([a, plain.id], chunkSize: nil, expectedSHA256: nil, metadata: "")
            } throws: { error in
                guard case .notAPartial(let id)? = error as? UploadError else { return false }
                return id == plain.id
            }
            #expect(store.listUploads().count == 2)
        }
    }

    @Test func aPartialNotCompleteIsRefusedWithWhatItHolds() async throws {
        try await withStore { store, _ in
            let a = try await completePartial(store, Self.partBytes([1000])[0])
            let unfinished = try await store.createPartial(length: ByteCount(5000), chunkSize: nil, expectedSHA256: nil, metadata: "")
            _ = try await store.append(unfinished.id, at: 0, checksum: nil, body: SampleFile.body([Array(repeating: 1, count: 1200)]))
            await #expect {
                _ = try await store.concatenate([a, unfinished.id], chunkSize: nil, expectedSHA256: nil, metadata: "")
            } throws: { error in
                guard case .partIncomplete(let id, let stored, let length)? = error as? UploadError else { return false }
                return id == unfinished.id && stored == 1200 && length == 5000
            }
            #expect(store.listUploads().count == 2)
            #expect(try await store.snapshot(unfinished.id).map.appendOffset == 1200, "the part is not changed")
        }
    }

    @Test func aTotalOverTheLimitIsRefusedBeforeAnythingIsMade() async throws {
        try await withStore(maxUploadSize: ByteCount(150_000)) { store, _ in
            let bytes = Self.partBytes([100_000, 60_000])
            let parts = [try await completePartial(store, bytes[0]), try await completePartial(store, bytes[1])]
            await #expect {
                _ = try await store.concatenate(parts, chunkSize: nil, expectedSHA256: nil, metadata: "")
            } throws: { error in
                guard case .tooLarge(let size, let limit)? = error as? UploadError else { return false }
                return size == 160_000 && limit == 150_000
            }
            #expect(store.listUploads().count == 2)
        }
    }

    /// A part's bytes changed on disk after it was verified: the copy is
    /// checked against the part's own map, so the damage is named, not
    /// confirmed into a new upload with a fresh SHA-256.
    @Test func aPartDamagedOnDiskSinceItWasVerifiedIsNamedAndNothingIsMade() async throws {
        try await withStore { store, _ in
            let bytes = Self.partBytes([3 * kib64, 2 * kib64])
            let a = try await completePartial(store, bytes[0])
            let b = try await completePartial(store, bytes[1])
            let damaged = try OwnedDescriptor.open(store.dataPath(b), .readWrite)
            try damaged.writeAll(toAbsoluteOffset: Int64(kib64 + 17), [bytes[1][kib64 + 17] ^ 0xFF])
            try damaged.close()
            await #expect {
                _ = try await store.concatenate([a, b], chunkSize: Self.chunkSize, expectedSHA256: nil, metadata: "")
            } throws: { error in
                guard case .partDamaged(let id, let chunks)? = error as? UploadError else { return false }
                return id == b && chunks == [ChunkIndex(1)]
            }
            #expect(Set(store.listUploads()) == [a, b])
        }
    }

    @Test func theReservedMetadataKeyIsRefusedToClients() async throws {
        try await withStore { store, _ in
            let forged = "\(ConcatenationRecord.key) cGFydGlhbA=="
            for metadata in [forged, "filename YQ==," + forged] {
                await #expect {
                    _ = try await store.create(length: ByteCount(10), chunkSize: nil, expectedSHA256: nil, metadata: metadata)
                } throws: { error in
                    guard case .reservedMetadataKey? = error as? UploadError else { return false }
                    return true
                }
                await #expect(throws: UploadError.self) {
                    _ = try await store.createPartial(length: ByteCount(10), chunkSize: nil, expectedSHA256: nil, metadata: metadata)
                }
            }
            #expect(store.listUploads().isEmpty)
        }
    }

    @Test func metadataOverTheLimitOnceTheRecordIsAddedIsRefused() async throws {
        try await withStore { store, _ in
            let metadata = "k " + String(repeating: "A", count: UploadMetadata.maximumLength - 2)
            await #expect {
                _ = try await store.createPartial(length: ByteCount(10), chunkSize: nil, expectedSHA256: nil, metadata: metadata)
            } throws: { error in
                guard case .metadataTooLong(let bytes, let limit)? = error as? UploadError else { return false }
                return bytes > limit && limit == UploadMetadata.maximumLength
            }
        }
    }

    /// A crash after the copy, before the map is written complete: the new
    /// upload is left `receiving` with no chunk verified (never complete
    /// with bytes nobody checked), and the parts are as they were.
    @Test func aCrashMidConcatenationLeavesTheNewUploadReceivingWithNothingVerified() async throws {
        try await withStore(crashProbe: StopAtCrashPoint(.afterConcatenateCopy, occurrence: 1)) { store, directory in
            let bytes = Self.partBytes([100_000, 30_000])
            let parts = [try await completePartial(store, bytes[0]), try await completePartial(store, bytes[1])]
            await #expect(throws: CrashPointReached.self) {
                _ = try await store.concatenate(parts, chunkSize: Self.chunkSize, expectedSHA256: nil, metadata: "")
            }
            let restarted = try FileUploadStore(options: .init(directory: directory, fsync: false))
            let left = try #require(restarted.listUploads().first { !parts.contains($0) })
            let snapshot = try await restarted.snapshot(left)
            #expect(snapshot.state == .receiving)
            #expect(snapshot.map.verifiedCount == 0)
            #expect(snapshot.concatenation == .final(parts: parts))
            await #expect(throws: UploadError.self) { _ = try await restarted.read(left, range: nil) }
            for part in parts { #expect(try await restarted.snapshot(part).state == .complete) }
            // It can be deleted as any upload, and the parts concatenated again.
            try await restarted.delete(left)
            let again = try await restarted.concatenate(parts, chunkSize: Self.chunkSize, expectedSHA256: nil, metadata: "")
            #expect(again.state == .complete)
        }
    }

    /// Parts of `bytes`, completed, and a final of them that a crash after
    /// the copy left `receiving`; and a store that starts afresh on it.
    func finalLeftByACrash(_ crashing: FileUploadStore, _ directory: FilePath, _ bytes: [[UInt8]]) async throws -> (store: FileUploadStore, final: UploadID) {
        var parts = [UploadID]()
        for part in bytes { parts.append(try await completePartial(crashing, part)) }
        await #expect(throws: CrashPointReached.self) {
            _ = try await crashing.concatenate(parts, chunkSize: Self.chunkSize, expectedSHA256: nil, metadata: "")
        }
        let restarted = try FileUploadStore(options: .init(directory: directory, fsync: false))
        let final = try #require(restarted.listUploads().first { !parts.contains($0) })
        return (restarted, final)
    }

    /// A final's bytes can only be its parts': a chunk write to one a crash
    /// left `receiving` is refused under its lock, and nothing is written.
    @Test func aChunkWriteToAFinalLeftByACrashIsRefusedAndWritesNothing() async throws {
        try await withStore(crashProbe: StopAtCrashPoint(.afterConcatenateCopy, occurrence: 1)) { crashing, directory in
            let (store, final) = try await finalLeftByACrash(crashing, directory, Self.partBytes([100_000, 30_000]))
            let before = try dataFile(store, final)
            let other = Array(before[0..<kib64].map { $0 ^ 0xFF })
            await #expect {
                _ = try await store.receiveChunk(final, index: ChunkIndex(0), expected: ExpectedDigests(), body: SampleFile.body([other]))
            } throws: { error in
                guard case .finalUpload? = error as? UploadError else { return false }
                return true
            }
            #expect(try dataFile(store, final) == before)
            let map = try await store.snapshot(final).map
            #expect(map.status.state == .receiving && map.verifiedCount == 0 && map.appendOffset == 0)
        }
    }

    /// As for a chunk write: an append to a final left `receiving` by a crash
    /// is refused under its lock, and nothing is written.
    @Test func anAppendToAFinalLeftByACrashIsRefusedAndWritesNothing() async throws {
        try await withStore(crashProbe: StopAtCrashPoint(.afterConcatenateCopy, occurrence: 1)) { crashing, directory in
            let (store, final) = try await finalLeftByACrash(crashing, directory, Self.partBytes([100_000, 30_000]))
            let before = try dataFile(store, final)
            let other = before.map { $0 ^ 0xFF }
            await #expect {
                _ = try await store.append(final, at: 0, checksum: nil, body: SampleFile.body([other]))
            } throws: { error in
                guard case .finalUpload? = error as? UploadError else { return false }
                return true
            }
            #expect(try dataFile(store, final) == before)
            let map = try await store.snapshot(final).map
            #expect(map.status.state == .receiving && map.verifiedCount == 0 && map.appendOffset == 0)
        }
    }

    /// The request for a final ended (its task cancelled: the client closed
    /// the connection) while the parts were copied: the final is removed
    /// before its map is written complete, never left full-size and complete
    /// with nobody knowing its id.
    @Test func aConcatenationCancelledBeforeItsMapIsWrittenLeavesNoFinal() async throws {
        let probe = HoldAtCrashPoint(.afterConcatenateCopy)
        try await withStore(crashProbe: probe) { store, directory in
            let bytes = Self.partBytes([100_000, 30_000])
            let parts = [try await completePartial(store, bytes[0]), try await completePartial(store, bytes[1])]
            let concatenation = Task { try await store.concatenate(parts, chunkSize: Self.chunkSize, expectedSHA256: nil, metadata: "") }
            try await probe.waitUntilReached()
            concatenation.cancel()
            probe.release()
            await #expect(throws: CancellationError.self) { _ = try await concatenation.value }
            #expect(Set(store.listUploads()) == Set(parts))
            let names = try FileManager.default.contentsOfDirectory(atPath: directory.string)
            #expect(names.count == 4, "only the parts' files are left: \(names)")
        }
    }

    @Test(arguments: [DiskOperation.dataWrite, .dataSync, .mapWrite, .mapSync])
    func aDiskFailureMidConcatenationEndsInAStorageErrorAndLeavesNothing(_ operation: DiskOperation) async throws {
        let root = try TemporaryDirectory()
        defer { root.remove() }
        let directory = FilePath(root.path("data"))
        let store = try FileUploadStore(options: .init(directory: directory, fsync: true))
        let bytes = Self.partBytes([100_000, 30_000])
        let parts = [try await completePartial(store, bytes[0]), try await completePartial(store, bytes[1])]
        let plan = FaultPlan(DiskFault(operation: operation, errno: .ioError, persistence: .fromThenOn))
        let failing = try FileUploadStore(options: .init(directory: directory, fsync: true, faults: plan))
        await #expect {
            _ = try await failing.concatenate(parts, chunkSize: Self.chunkSize, expectedSHA256: nil, metadata: "")
        } throws: { error in
            guard case .storage? = error as? UploadError else { return false }
            return true
        }
        #expect(plan.fired > 0)
        #expect(Set(store.listUploads()) == Set(parts))
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.string)
        #expect(names.count == 4, "only the parts' files are left: \(names)")
    }

    /// The parts are read under their `.upload` lock: while another holds one
    /// exclusively (an audit, a delete), the concatenation waits.
    @Test func aConcatenationWaitsForAnUploadWideChangeOfAPart() async throws {
        try await withStore { store, _ in
            let bytes = Self.partBytes([10_000, 20_000])
            let parts = [try await completePartial(store, bytes[0]), try await completePartial(store, bytes[1])]
            let probe = try ChunkMapFile.open(store.mapPath(parts[1]), writable: true)
            let locks = OpenFileDescriptionLocks()
            try #require(try locks.tryLock(.upload, .exclusive, in: probe))
            let concatenation = Task { try await store.concatenate(parts, chunkSize: nil, expectedSHA256: nil, metadata: "") }
            try await Task.sleep(for: .milliseconds(200))
            #expect(store.listUploads().count == 2, "nothing is made while a part is held")
            try locks.unlock(.upload, in: probe)
            try probe.close()
            let made = try await concatenation.value
            try await expectHolds(store, made.id, bytes[0] + bytes[1])
        }
    }

    @Test(arguments: [true, false])
    func theCopyPutsEveryByteAtItsOffsetInTheKernelOrThroughTheBuffer(_ inKernel: Bool) throws {
        let root = try TemporaryDirectory()
        defer { root.remove() }
        // Longer than the copy buffer, and not a multiple of it.
        let bytes = pseudoRandomBytes(FileRangeCopy.bufferSize * 2 + 12_345)
        let sourcePath = try root.write(bytes, to: "source")
        let destinationPath = try root.write([UInt8](repeating: 0xAA, count: bytes.count + 1000), to: "destination")
        let source = try OwnedDescriptor.open(FilePath(sourcePath), .readOnly)
        let destination = try OwnedDescriptor.open(FilePath(destinationPath), .readWrite)
        try FileRangeCopy.copy(from: source, to: destination, at: 500, length: Int64(bytes.count), inKernel: inKernel)
        try source.close()
        try destination.close()
        let copied = [UInt8](try Data(contentsOf: URL(fileURLWithPath: destinationPath)))
        #expect(copied.count == bytes.count + 1000, "positioned: the file did not grow")
        #expect(Array(copied[..<500]) == [UInt8](repeating: 0xAA, count: 500))
        #expect(Array(copied[500..<(500 + bytes.count)]) == bytes)
        #expect(Array(copied[(500 + bytes.count)...]) == [UInt8](repeating: 0xAA, count: 500))
    }

    @Test(arguments: [true, false])
    func aSourceShorterThanTheLengthIsAnErrorNotAShortCopy(_ inKernel: Bool) throws {
        let root = try TemporaryDirectory()
        defer { root.remove() }
        let sourcePath = try root.write(pseudoRandomBytes(1000), to: "source")
        let destinationPath = try root.write([UInt8](repeating: 0, count: 4000), to: "destination")
        let source = try OwnedDescriptor.open(FilePath(sourcePath), .readOnly)
        let destination = try OwnedDescriptor.open(FilePath(destinationPath), .readWrite)
        #expect(throws: UploadKit.IOError.self) { try FileRangeCopy.copy(from: source, to: destination, at: 0, length: 2000, inKernel: inKernel) }
        try source.close()
        try destination.close()
    }
}

/// Holds the store's work at the first pass of one point until released,
/// blocking the I/O thread there, so that a test can act meanwhile.
final class HoldAtCrashPoint: CrashProbe {
    let point: CrashPoint
    private let state = Locked((reached: false, released: false))

    init(_ point: CrashPoint) { self.point = point }

    func passing(_ point: CrashPoint) throws(CrashPointReached) {
        guard point == self.point else { return }
        state.withLock { $0.reached = true }
        while !state.withLock({ $0.released }) { usleep(1000) }
    }

    /// Returns once the store is held at the point (5 s at most).
    func waitUntilReached() async throws {
        for _ in 0..<500 {
            if state.withLock({ $0.reached }) { return }
            try await Task.sleep(for: .milliseconds(10))
        }
        Issue.record("\(point.rawValue) was not reached in 5 s")
    }

    func release() { state.withLock { $0.released = true } }
}
