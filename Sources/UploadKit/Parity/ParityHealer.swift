import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Which shards of which stripes are damaged, and what the parity can do
/// about it: a stripe heals when at most `m` of its `k + m` shards (its
/// chunks and its parity shards alike) are damaged.
public struct ParityAssessment: Sendable {
    public struct Stripe: Sendable, Hashable {
        public let index: Int
        /// Its chunks whose bytes do not hash to the map's XXH3.
        public let damagedChunks: [ChunkIndex]
        /// Its parity shards (numbered across the file) whose bytes do not hash to the table's XXH3.
        public let damagedShards: [Int]

        public var damage: Int { damagedChunks.count + damagedShards.count }
    }

    public let layout: ParityLayout
    public let damagedChunks: [ChunkIndex]
    public let damagedShards: [Int]
    /// Every stripe with any damage, by index.
    public let damagedStripes: [Stripe]

    public init(layout: ParityLayout, damagedChunks: [ChunkIndex], damagedShards: [Int]) {
        var chunksByStripe = [Int: [ChunkIndex]]()
        var shardsByStripe = [Int: [Int]]()
        for chunk in damagedChunks { chunksByStripe[layout.position(of: chunk).stripe, default: []].append(chunk) }
        for shard in damagedShards { shardsByStripe[layout.stripe(ofShard: shard), default: []].append(shard) }
        let stripes = Set(chunksByStripe.keys).union(shardsByStripe.keys).sorted()
        self.layout = layout
        self.damagedChunks = damagedChunks.sorted()
        self.damagedShards = damagedShards.sorted()
        self.damagedStripes = stripes.map { stripe in
            Stripe(index: stripe, damagedChunks: (chunksByStripe[stripe] ?? []).sorted(), damagedShards: (shardsByStripe[stripe] ?? []).sorted())
        }
    }

    public var isIntact: Bool { damagedStripes.isEmpty }
    /// The damaged stripes the parity heals.
    public var healable: [Stripe] { damagedStripes.filter { $0.damage <= layout.parityShards } }
    /// The damaged stripes it cannot: more than `m` damaged shards.
    public var unhealable: [Stripe] { damagedStripes.filter { $0.damage > layout.parityShards } }
    public var canHealEverything: Bool { unhealable.isEmpty }
}

/// A named point of a heal where a test's probe stops it as a crash would.
public enum HealPoint: String, Sendable, CaseIterable {
    /// A stripe's rebuilt shards were checked against their recorded XXH3, before any was written.
    case afterRebuildCheck = "after-rebuild-check"
    /// One rebuilt chunk was written in place, before the next write.
    case afterChunkWrite = "after-chunk-write"
    /// One rebuilt parity shard was written in place, before the next write.
    case afterShardWrite = "after-shard-write"
    /// Every rebuilt shard was written and both files synced, before the SHA-256 is re-checked.
    case afterSync = "after-sync"
}

/// Asked at each `HealPoint`: returns, or throws `HealInterrupted`, which the
/// healer passes up without any clean-up, so the files hold exactly what a
/// crash there would leave (the page cache survives a process's death).
public protocol HealProbe: Sendable {
    func passing(_ point: HealPoint) throws(HealInterrupted)
}

public struct HealInterrupted: Error, Sendable {
    public let point: HealPoint
    public init(_ point: HealPoint) { self.point = point }
}

extension Optional where Wrapped == any HealProbe {
    func passing(_ point: HealPoint) throws(HealInterrupted) {
        if case .some(let probe) = self { try probe.passing(point) }
    }
}

public struct HealOutcome: Sendable {
    public let chunksHealed: [ChunkIndex]
    public let bytesHealed: Int64
    public let shardsRebuilt: [Int]
    /// The whole file's SHA-256, re-read from the disk after the heal: the map's (or the parity's).
    public let sha256: SHA256Digest
}

public enum ParityHealError: Error, CustomStringConvertible {
    /// More damage than the parity covers in some stripe; nothing was written.
    case beyondParity(ParityAssessment)
    /// The file is not the length its map records; nothing was written.
    case sizeChanged(expected: Int64, actual: Int64)
    /// A rebuilt chunk or shard did not hash to its recorded XXH3, so it was not
    /// written: the surviving shards disagree (changed while healing?).
    case rebuiltWrong(what: String, expected: XXH3Digest, actual: XXH3Digest)
    /// After the heal, a chunk still does not match the map (changed meanwhile?).
    case stillDamaged(ChunkIndex, ByteRange)
    case sha256Mismatch(expected: SHA256Digest, actual: SHA256Digest)

    public var description: String {
        switch self {
        case .beyondParity(let assessment):
            let worst = assessment.unhealable.map { "stripe \($0.index): \($0.damage) damaged shards" }.joined(separator: ", ")
            return "more damage than the parity covers (\(worst); at most \(assessment.layout.parityShards) per stripe); nothing was changed"
        case .sizeChanged(let expected, let actual):
            return "the file is \(actual) bytes where its map records \(expected): parity heals bytes in place, not a file's length; nothing was changed"
        case .rebuiltWrong(let what, let expected, let actual):
            return "\(what) rebuilt from the parity hashes to xxh3 \(actual), not its recorded \(expected), so it was not written: "
                + "the surviving chunks and parity disagree (was the file changed while it was healed?)"
        case .stillDamaged(let index, let range):
            return "chunk \(index) (\(range)) still does not match its map after the heal: was the file changed meanwhile?"
        case .sha256Mismatch(let expected, let actual):
            return "after the heal the file's SHA-256 is \(actual), not \(expected)"
        }
    }
}

/// Heals a file's damaged chunks (and its parity's damaged shards) from its
/// parity file, in place.
///
/// Damage is found by hashing: a chunk whose XXH3 is not the map's, a parity
/// shard whose XXH3 is not the table's. If any stripe has more than `m`
/// damaged shards, nothing is written (`beyondParity`). Otherwise each
/// damaged stripe is rebuilt from `k` of its intact shards: the inverse of
/// their generator rows (`gf_invert_matrix`) gives the rows that make the
/// damaged ones, `ec_init_tables` and `ec_encode_data` make them, column
/// slice by column slice. Every rebuilt chunk and shard is checked against
/// its recorded XXH3 *before* it is written, then written in place with one
/// positioned write (the file's size never changes). So a chunk only ever
/// receives bytes that match its recorded digest: a crash at any moment
/// leaves each chunk as it was or healed (and the heal can be run again).
/// Last, both files are synced and the whole file is re-read: every chunk's
/// XXH3 and the SHA-256 must be the map's.
///
/// Memory: `k` input slices of at most 1 MiB, and the rebuilt shards of one
/// stripe, at most `outputBudget` bytes of them at a time (at least one shard).
/// Local files only: nothing else may write the file or its parity meanwhile.
public struct ParityHealer: Sendable {
    public var probe: (any HealProbe)?
    /// Bytes of rebuilt shards held at once (each is checked whole before it is written).
    public var outputBudget = 64 << 20
    static let sliceSize = 1 << 20

    public init() {}

    /// What is damaged and what the parity can heal, reading both files once; writes nothing.
    public func assess(_ file: OwnedDescriptor, map: ChunkMap, parity: ParityFile) throws -> ParityAssessment {
        try parity.check(against: map)
        let size = try file.size()
        guard size == map.layout.fileSize.bytes else { throw ParityHealError.sizeChanged(expected: map.layout.fileSize.bytes, actual: size) }
        let scan = try FileScan.scan(file, layout: map.layout, computeSHA256: false)
        let damaged: [ChunkIndex] = map.layout.indices.filter { scan.chunkDigests[$0.value] != map[$0].digest }
        return ParityAssessment(layout: parity.layout, damagedChunks: damaged, damagedShards: try parity.damagedShards())
    }

    /// Heals `file` (open for reading and writing) from `parity` (open
    /// writable) against `map`. With `mapFile` (the map, open writable), its
    /// entries marked `corrupt` are marked `verified` once the heal is confirmed.
    public func heal(_ file: OwnedDescriptor, map: ChunkMap, parity: ParityFile, mapFile: ChunkMapFile? = nil) throws -> HealOutcome {
        let assessment = try assess(file, map: map, parity: parity)
        guard assessment.canHealEverything else { throw ParityHealError.beyondParity(assessment) }
        let layout = parity.layout
        let code = ReedSolomonCode(dataShards: layout.dataShards, parityShards: layout.parityShards)
        var bytesHealed: Int64 = 0
        for stripe in assessment.damagedStripes {
            try rebuild(stripe, file: file, map: map, parity: parity, code: code)
            bytesHealed += stripe.damagedChunks.reduce(Int64(0)) { $0 + map.layout.range(of: $1).length }
        }
        if !assessment.isIntact {
            try file.dataSync()
            try parity.sync()
            try probe.passing(.afterSync)
        }
        let expected = map.status.sha256 ?? parity.header.sha256
        let reread = try FileScan.scan(file, layout: map.layout, computeSHA256: true)
        for index in map.layout.indices where reread.chunkDigests[index.value] != map[index].digest {
            throw ParityHealError.stillDamaged(index, map.layout.range(of: index))
        }
        guard let sha256 = reread.sha256, sha256 == expected else {
            throw ParityHealError.sha256Mismatch(expected: expected, actual: reread.sha256 ?? expected)
        }
        if let mapFile {
            var marked = false
            for index in map.layout.indices {
                guard case .corrupt(let digest) = map[index] else { continue }
                try mapFile.write(.verified(digest), at: index)
                marked = true
            }
            if marked { try mapFile.sync() }
        }
        return HealOutcome(chunksHealed: assessment.damagedChunks, bytesHealed: bytesHealed, shardsRebuilt: assessment.damagedShards, sha256: sha256)
    }

    /// Rebuilds and rewrites the damaged shards of one stripe (at most `m`).
    private func rebuild(_ stripe: ParityAssessment.Stripe, file: OwnedDescriptor, map: ChunkMap, parity: ParityFile, code: ReedSolomonCode) throws {
        let layout = parity.layout
        let k = layout.dataShards
        let m = layout.parityShards
        let size = layout.shardSize
        // The stripe's shards: 0..<k its rows of data, k..<k+m its parity.
        var erased = Set<Int>()
        for chunk in stripe.damagedChunks { erased.insert(layout.position(of: chunk).row) }
        for shard in stripe.damagedShards { erased.insert(k + shard - layout.shardIndex(stripe: stripe.index, parity: 0)) }
        let sources = Array((0..<(k + m)).filter { !erased.contains($0) }.prefix(k))
        precondition(sources.count == k, "a stripe within the parity's reach keeps k intact shards")
        let wanted = erased.sorted()
        let slice = min(size, Self.sliceSize)
        let inputs = UnsafeMutableRawPointer.allocate(byteCount: k * slice, alignment: 64)
        defer { inputs.deallocate() }
        let inputPointers = UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>.allocate(capacity: k)
        defer { inputPointers.deallocate() }
        for source in 0..<k { (inputPointers + source).initialize(to: (inputs + source * slice).assumingMemoryBound(to: UInt8.self)) }
        let batchSize = max(1, min(wanted.count, outputBudget / size))
        var start = 0
        while start < wanted.count {
            let batch = Array(wanted[start..<min(start + batchSize, wanted.count)])
            start += batch.count
            guard let rows = code.decodingRows(sources: sources, wanted: batch) else {
                preconditionFailure("a Cauchy generator's rows are never singular")
            }
            let tables = GaloisTables(dataShards: k, coefficients: rows)
            let outputs = UnsafeMutableRawPointer.allocate(byteCount: batch.count * size, alignment: 64)
            defer { outputs.deallocate() }
            let outputPointers = UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>.allocate(capacity: batch.count)
            defer { outputPointers.deallocate() }
            var offset = 0
            while offset < size {
                let length = min(slice, size - offset)
                for (position, shard) in sources.enumerated() {
                    try readSource(
                        shard, of: stripe.index, at: offset, into: UnsafeMutableRawBufferPointer(start: inputs + position * slice, count: length),
                        file: file, parity: parity)
                }
                for output in 0..<batch.count {
                    (outputPointers + output).initialize(to: (outputs + (output * size + offset)).assumingMemoryBound(to: UInt8.self))
                }
                tables.encode(length: length, sources: inputPointers, outputs: outputPointers)
                offset += length
            }
            // Every rebuilt shard must be the one recorded before any is written.
            for (output, shard) in batch.enumerated() {
                let bytes = UnsafeRawBufferPointer(start: outputs + output * size, count: size)
                if shard < k {
                    let chunk = layout.chunk(inStripe: stripe.index, row: shard)!
                    let length = Int(map.layout.range(of: chunk).length)
                    let expected = map[chunk].digest!
                    let actual = XXH3Hasher.hash(UnsafeRawBufferPointer(rebasing: bytes[0..<length]))
                    // A short last chunk's padding rebuilds as the zeros it was encoded with.
                    guard actual == expected, bytes[length...].allSatisfy({ $0 == 0 }) else {
                        throw ParityHealError.rebuiltWrong(what: "chunk \(chunk)", expected: expected, actual: actual)
                    }
                } else {
                    let index = layout.shardIndex(stripe: stripe.index, parity: shard - k)
                    let actual = XXH3Hasher.hash(bytes)
                    guard actual == parity.shardDigests[index] else {
                        throw ParityHealError.rebuiltWrong(what: "parity shard \(index)", expected: parity.shardDigests[index], actual: actual)
                    }
                }
            }
            try probe.passing(.afterRebuildCheck)
            for (output, shard) in batch.enumerated() {
                let bytes = UnsafeRawBufferPointer(start: outputs + output * size, count: size)
                if shard < k {
                    let range = map.layout.range(of: layout.chunk(inStripe: stripe.index, row: shard)!)
                    try file.writeAll(toAbsoluteOffset: range.offset, UnsafeRawBufferPointer(rebasing: bytes[0..<Int(range.length)]))
                    try probe.passing(.afterChunkWrite)
                } else {
                    try parity.writeShard(layout.shardIndex(stripe: stripe.index, parity: shard - k), bytes)
                    try probe.passing(.afterShardWrite)
                }
            }
        }
    }

    /// `buffer.count` bytes of shard `shard` of `stripe` from `offset`: a
    /// parity shard from the parity file; a data shard from its chunk, zeros
    /// past the chunk's end (the short last chunk's padding) or for a row
    /// past the file's last chunk.
    private func readSource(
        _ shard: Int, of stripe: Int, at offset: Int, into buffer: UnsafeMutableRawBufferPointer, file: OwnedDescriptor, parity: ParityFile
    ) throws {
        let layout = parity.layout
        if shard >= layout.dataShards {
            try parity.readShard(layout.shardIndex(stripe: stripe, parity: shard - layout.dataShards), at: offset, into: buffer)
            return
        }
        _ = memset(buffer.baseAddress!, 0, buffer.count)
        guard let chunk = layout.chunk(inStripe: stripe, row: shard) else { return }
        let range = layout.chunks.range(of: chunk)
        let present = max(0, min(buffer.count, Int(range.length) - offset))
        guard present > 0 else { return }
        let part = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<present])
        let got = try file.readAll(fromAbsoluteOffset: range.offset + Int64(offset), into: part)
        guard got == present else {
            throw FileScanError.endedEarly(
                path: file.path.string, expectedBytes: layout.chunks.fileSize.bytes, actualBytes: range.offset + Int64(offset + got))
        }
    }
}
