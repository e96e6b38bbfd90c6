import Foundation
import NIOCore
import SystemPackage
import Testing

@testable import UploadKit

/// The SHA-256 of the verified prefix, hashed in the background while an
/// upload arrives, and carried on by `complete`.
extension FileUploadStoreTests {
    func send(_ indices: [Int], to store: FileUploadStore, _ id: UploadID) async throws {
        for index in indices {
            _ = try await store.receiveChunk(id, index: ChunkIndex(index), expected: ExpectedDigests(), body: body([file.chunk(index)]))
        }
    }

    /// Polls until the upload's hashed prefix is `bytes` long (or 10 s pass).
    func hashedPrefix(of id: UploadID, in store: FileUploadStore, reaches bytes: Int64) async throws -> Bool {
        for _ in 0..<1000 {
            if store.prefixHashing.hashedBytes(id) == bytes { return true }
            try await Task.sleep(for: .milliseconds(10))
        }
        return false
    }

    @Test func chunksArrivingInOrderAreHashedBeforeComplete() async throws {
        try await withStore { (store, id) async throws in
            try await send(Array(0..<file.chunkCount), to: store, id)
            #expect(try await hashedPrefix(of: id, in: store, reaches: Int64(file.length)))
            #expect(try await store.complete(id, sha256: file.sha256).map.status.sha256 == file.sha256)
        }
    }

    @Test func aPrefixWithAGapIsHashedOnlyOnceTheGapIsFilled() async throws {
        try await withStore { (store, id) async throws in
            try await send([0, 2, 3], to: store, id)
            #expect(try await hashedPrefix(of: id, in: store, reaches: Int64(file.chunkSize)))
            try await send([1], to: store, id)
            #expect(try await hashedPrefix(of: id, in: store, reaches: Int64(file.length)))
            #expect(try await store.complete(id, sha256: file.sha256).map.status.sha256 == file.sha256)
        }
    }

    /// The hashed prefix saw the old bytes: `complete` must not carry it on
    /// once they change, whether at rest or by a repairing write.
    @Test func bytesChangedAfterBeingHashedAreCaughtAndTheRepairConfirms() async throws {
        try await withStore { (store, id) async throws in
            try await send(Array(0..<file.chunkCount), to: store, id)
            #expect(try await hashedPrefix(of: id, in: store, reaches: Int64(file.length)))
            let data = try FileHandle(forWritingTo: URL(fileURLWithPath: store.dataPath(id).string))
            try data.seek(toOffset: UInt64(file.chunkSize + 10))
            try data.write(contentsOf: [file.bytes[file.chunkSize + 10] ^ 0xFF])
            try data.close()

            await #expect {
                try await store.complete(id, sha256: file.sha256)
            } throws: { error in
                guard case .corrupt(let findings) = error as? UploadError else { return false }
                return findings.map { $0.chunk?.index } == [ChunkIndex(1)]
            }
            try await send([1], to: store, id)
            #expect(try await store.complete(id, sha256: file.sha256).map.status.sha256 == file.sha256)
        }
    }

    /// A corrupt chunk takes whatever bytes a PUT brings: had the prefix
    /// hashed before them been carried on, `complete` would see the old file.
    @Test func aChunkRewrittenInsideTheHashedPrefixIsHashedAgain() async throws {
        try await withStore { (store, id) async throws in
            try await send(Array(0..<file.chunkCount), to: store, id)
            #expect(try await hashedPrefix(of: id, in: store, reaches: Int64(file.length)))
            // As `audit` leaves a chunk whose bytes rotted: corrupt, open to a new write.
            let map = try ChunkMapFile.open(store.mapPath(id), writable: true)
            try map.write(.corrupt(expected: XXH3Hasher.hash(file.chunk(2))), at: ChunkIndex(2))
            try map.close()
            var other = file.bytes
            other[2 * file.chunkSize] ^= 0xFF
            let chunk = Array(other[file.range(2)])
            _ = try await store.receiveChunk(id, index: ChunkIndex(2), expected: ExpectedDigests(), body: body([chunk]))
            #expect(try await store.complete(id, sha256: SHA256Hasher.hash(other)).map.status.sha256 == SHA256Hasher.hash(other))
        }
    }

    @Test func aDeletedUploadLeavesNoHashingBehind() async throws {
        try await withStore { (store, id) async throws in
            try await send([0, 1], to: store, id)
            try await store.delete(id)
            #expect(store.prefixHashing.hashedBytes(id) == nil)
        }
    }

    /// Hashing ahead of `complete` must yield CPU time to the requests: its
    /// one thread runs at a lower priority than the rest of the process.
    @Test func theHashingThreadRunsAtALowerPriority() async throws {
        try await withStore { (store, id) async throws in
            try await send([0], to: store, id)
            #expect(try await hashedPrefix(of: id, in: store, reaches: Int64(file.chunkSize)))
            #expect(try threads(withNiceness: BackgroundPriority.niceness) == 1)
        }
    }

    /// Threads of this process with this nice value (field 19 of
    /// /proc/self/task/TID/stat).
    func threads(withNiceness niceness: Int32) throws -> Int {
        try FileManager.default.contentsOfDirectory(atPath: "/proc/self/task").filter { thread in
            guard let stat = try? String(contentsOfFile: "/proc/self/task/\(thread)/stat", encoding: .utf8),
                let commandEnd = stat.lastIndex(of: ")")
            else { return false }
            // The fields after the command name, which may hold spaces, start at field 3.
            let fields = stat[stat.index(after: commandEnd)...].split(separator: " ")
            return fields.count > 16 && fields[16] == "\(niceness)"
        }.count
    }
}
