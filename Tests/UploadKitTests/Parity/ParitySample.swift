import Foundation
import SystemPackage
import Testing
import UploadKit

/// A file of a few MiB in 64 KiB chunks, mapped with its parity beside it,
/// and helpers to damage it and heal it.
struct ParitySample {
    let directory: TemporaryDirectory
    let bytes: [UInt8]
    let path: String
    let map: ChunkMap
    let layout: ParityLayout
    /// The parity file as it was written.
    let parityBytes: [UInt8]

    var mapPath: String { path + ".chunkmap" }
    var parityPath: String { path + ".parity" }
    var chunkSize: Int { layout.shardSize }

    /// 65 chunks (64 of 64 KiB and a short one of 12,345 bytes): with 10%,
    /// k = 32, m = 4, 3 stripes, interleaved (chunk i in stripe i % 3).
    static let standardSize = (4 << 20) + 12_345

    static func make(
        size: Int = standardSize, percent: Int = 10, accumulatorBudget: Int = ParityLayout.defaultAccumulatorBudget, seed: UInt64 = 7,
        name: String = "data", in existing: TemporaryDirectory? = nil
    ) throws -> ParitySample {
        let directory = try existing ?? TemporaryDirectory()
        let bytes = pseudoRandomBytes(size, seed: seed)
        let path = try directory.write(bytes, to: name)
        let chunks = try ChunkLayout(fileSize: ByteCount(Int64(size)), chunkSize: .kibibytes(64))
        let layout = try ParityLayout.forPercent(percent, chunks: chunks, accumulatorBudget: accumulatorBudget)
        let file = try openForReading(path)
        defer { try? file.close() }
        // Blocks that do not divide the chunk size: pieces of chunks reach the encoder.
        let written = try ParityMapping.writeMapAndParity(
            of: file, layout: layout, mapPath: FilePath(path + ".chunkmap"), parityPath: FilePath(path + ".parity"), blockSize: 100_000)
        return ParitySample(
            directory: directory, bytes: bytes, path: path, map: written.map, layout: layout, parityBytes: try Self.contents(path + ".parity"))
    }

    static func contents(_ path: String) throws -> [UInt8] { [UInt8](try Data(contentsOf: URL(fileURLWithPath: path))) }

    func dataOnDisk() throws -> [UInt8] { try Self.contents(path) }
    func parityOnDisk() throws -> [UInt8] { try Self.contents(parityPath) }

    func chunkRange(_ index: Int) -> Range<Int> {
        let range = layout.chunks.range(of: ChunkIndex(index))
        return Int(range.offset)..<Int(range.end)
    }

    /// Where parity shard `shard` lies in the parity file.
    func shardRange(_ shard: Int) -> Range<Int> {
        let start = ParityFormat.shardsOffset(shardCount: layout.shardCount) + shard * chunkSize
        return start..<(start + chunkSize)
    }

    /// Writes `replacement` over `path` from `offset`, in place.
    static func overwrite(_ path: String, at offset: Int, with replacement: [UInt8]) throws {
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        try handle.seek(toOffset: UInt64(offset))
        try handle.write(contentsOf: Data(replacement))
    }

    /// Flips one byte of chunk `index`.
    func flipByte(ofChunk index: Int, at position: Int = 100) throws {
        let offset = chunkRange(index).lowerBound + min(position, chunkRange(index).count - 1)
        try Self.overwrite(path, at: offset, with: [bytes[offset] ^ 0xA5])
    }

    /// Overwrites chunk `index` whole with other bytes.
    func scramble(chunk index: Int) throws {
        let range = chunkRange(index)
        try Self.overwrite(path, at: range.lowerBound, with: pseudoRandomBytes(range.count, seed: UInt64(1000 + index)))
    }

    /// Flips one byte of parity shard `shard`, or zeroes it whole.
    func damage(shard: Int, whole: Bool = false) throws {
        let range = shardRange(shard)
        if whole {
            try Self.overwrite(parityPath, at: range.lowerBound, with: [UInt8](repeating: 0, count: range.count))
        } else {
            let offset = range.lowerBound + 4321
            try Self.overwrite(parityPath, at: offset, with: [parityBytes[offset] ^ 0x3C])
        }
    }

    func heal(probe: (any HealProbe)? = nil, outputBudget: Int? = nil) throws -> HealOutcome {
        let file = try OwnedDescriptor.open(FilePath(path), .readWrite)
        defer { try? file.close() }
        let parity = try ParityFile.open(FilePath(parityPath), writable: true)
        defer { try? parity.close() }
        var healer = ParityHealer()
        healer.probe = probe
        if let outputBudget { healer.outputBudget = outputBudget }
        return try healer.heal(file, map: map, parity: parity)
    }

    func remove() { directory.remove() }
}

/// A seeded generator, so a failing random damage pattern can be replayed.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64

    init(seed: UInt64) { state = seed == 0 ? 0x9E37_79B9_7F4A_7C15 : seed }

    mutating func next() -> UInt64 {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return state
    }
}

/// Ends a heal at the N-th pass of one point, as a crash would.
final class StopAtHealPoint: HealProbe {
    let point: HealPoint
    let occurrence: Int
    private let reached = Locked(0)

    init(_ point: HealPoint, occurrence: Int = 1) {
        self.point = point
        self.occurrence = occurrence
    }

    func passing(_ point: HealPoint) throws(HealInterrupted) {
        guard point == self.point else { return }
        let count = reached.withLock { count -> Int in
            count += 1
            return count
        }
        if count == occurrence { throw HealInterrupted(point) }
    }

    var times: Int { reached.withLock { $0 } }
}
