/// How a file's chunks are grouped into Reed-Solomon stripes, and where each
/// stripe's parity shards lie in `FILE.parity`.
///
/// A stripe is `k` data shards (chunks of the file's chunk map, the last
/// chunk zero-padded to the chunk size, and zero shards where the file has
/// no more chunks) and `m` parity shards of the chunk size. Any `m` damaged
/// shards of a stripe, data or parity, can be rebuilt from the others.
///
/// **Layout: interleaved groups.** The `S` stripes are cut into
/// `ceil(S / G)` groups of consecutive stripes, as even as they can be (each
/// `W = floor(S / groups)` or `W + 1` stripes wide, the wider ones first, none
/// wider than `G`), and the chunks follow: a group of `W` stripes holds the
/// next `W * k` chunks (the last group what is left), and inside it chunk `j`
/// (counted from the group's first) belongs to the group's stripe `j % W`,
/// at row `j / W`. So adjacent chunks land in adjacent stripes, and a run of
/// up to `W * m` adjacent damaged chunks (`W` of the narrowest group),
/// anywhere, hits each stripe at most `m` times: it heals. When the whole
/// file fits in one group (`G >= S`), this is plain interleaving: chunk `i`
/// in stripe `i % S`.
///
/// Why groups and not full interleaving: the parity is computed in the one
/// in-order pass that also hashes the file, and a stripe's parity is only
/// final after its last chunk was read. Fully interleaved, every stripe stays
/// open until the last row of the file, so the pass must hold all `S * m`
/// parity shards (the whole parity file) in memory, or keep them in the
/// parity file and read and rewrite a stripe's `m` shards for each chunk
/// (`2m` times the file's size in extra I/O: 8x for 12.5%). Contiguous
/// stripes (`G = 1`) need only `m` shards in memory, but `m + 1` adjacent
/// damaged chunks (one bad disk region) are then beyond repair. A group
/// holds at most `G * m` parity shards open, so `G` is chosen to fill a
/// fixed memory budget (`defaultAccumulatorBudget`, 64 MiB): the memory is
/// bounded by the budget (or by one stripe's `m` shards, when those alone
/// are larger), whatever the file size, and the longest run of damaged
/// chunks that always heals is `W * m` chunks, between half the budget's
/// bytes and all of them (the groups are balanced so that no group is much
/// narrower than `G`).
public struct ParityLayout: Sendable, Hashable {
    /// The most data chunks per stripe `forPercent` chooses: enough that a
    /// small percentage still buys several parity shards per stripe, few
    /// enough that healing one chunk reads at most 32 others.
    public static let maximumDataShards = 32
    /// Parity shards the encoder may hold open at once, in bytes (see above).
    public static let defaultAccumulatorBudget = 64 << 20

    public let chunks: ChunkLayout
    /// `k`: data shards (chunks) per stripe.
    public let dataShards: Int
    /// `m`: parity shards per stripe.
    public let parityShards: Int
    /// `G`: at most this many stripes are interleaved together (see above).
    public let stripesPerGroup: Int
    /// `S = ceil(chunkCount / k)`; 0 for an empty file.
    public let stripeCount: Int

    public init(chunks: ChunkLayout, dataShards: Int, parityShards: Int, stripesPerGroup: Int) throws(ParityLayoutError) {
        // GF(2^8) has 256 elements: a Cauchy code has at most 256 shards per stripe.
        guard dataShards >= 1, parityShards >= 1, dataShards + parityShards <= 256 else {
            throw .impossibleShards(dataShards: dataShards, parityShards: parityShards)
        }
        let stripes = (chunks.chunkCount + dataShards - 1) / dataShards
        guard stripesPerGroup >= 1, stripesPerGroup <= max(1, stripes) else {
            throw .impossibleGroup(stripesPerGroup: stripesPerGroup, stripeCount: stripes)
        }
        self.chunks = chunks
        self.dataShards = dataShards
        self.parityShards = parityShards
        self.stripesPerGroup = stripesPerGroup
        self.stripeCount = stripes
    }

    /// The layout `map --parity PERCENT` writes: `k = min(32, chunkCount)`
    /// data chunks per stripe, `m = ceil(k * PERCENT / 100)` parity shards
    /// (at least 1), and as many stripes per group as `accumulatorBudget`
    /// holds (at least 1, at most all of them).
    public static func forPercent(
        _ percent: Int, chunks: ChunkLayout, accumulatorBudget: Int = defaultAccumulatorBudget
    ) throws(ParityLayoutError) -> ParityLayout {
        guard (1...100).contains(percent) else { throw .percentOutOfRange(percent) }
        let k = max(1, min(maximumDataShards, chunks.chunkCount))
        let m = max(1, (k * percent + 99) / 100)
        let stripes = (chunks.chunkCount + k - 1) / k
        let shardsThatFit = accumulatorBudget / (m * Int(chunks.chunkSize.bytes))
        let group = max(1, min(stripes, shardsThatFit))
        return try ParityLayout(chunks: chunks, dataShards: k, parityShards: m, stripesPerGroup: group)
    }

    /// Bytes of one shard: the chunk size.
    public var shardSize: Int { Int(chunks.chunkSize.bytes) }

    /// Parity shards in the file: `S * m`.
    public var shardCount: Int { stripeCount * parityShards }

    /// Bytes of parity on disk (the shards, without the header).
    public var parityBytes: Int64 { Int64(shardCount) * chunks.chunkSize.bytes }

    /// `ceil(S / G)`.
    public var groupCount: Int { (stripeCount + stripesPerGroup - 1) / stripesPerGroup }

    /// The narrowest group's stripes (`floor(S / groups)`); the others have one more.
    private var narrowWidth: Int { groupCount == 0 ? 0 : stripeCount / groupCount }
    /// How many groups are one stripe wider than the narrowest.
    private var wideGroups: Int { groupCount == 0 ? 0 : stripeCount % groupCount }

    /// The widest group's stripes: the encoder holds this many stripes' parity open.
    public var widestGroup: Int { narrowWidth + (wideGroups > 0 ? 1 : 0) }

    /// The longest run of adjacent damaged chunks that always heals (when
    /// nothing else in those stripes is damaged): `W * m` for the narrowest
    /// group's `W`, or every chunk when the file has fewer.
    public var longestHealableRun: Int { min(chunks.chunkCount, narrowWidth * parityShards) }

    /// Stripes in group `group`.
    public func stripesInGroup(_ group: Int) -> Int { narrowWidth + (group < wideGroups ? 1 : 0) }

    public func firstStripe(ofGroup group: Int) -> Int { group * narrowWidth + min(group, wideGroups) }

    /// Every group but the last is full (`W * k` chunks), so its first chunk follows from its first stripe.
    public func firstChunk(ofGroup group: Int) -> Int { firstStripe(ofGroup: group) * dataShards }

    public func group(ofStripe stripe: Int) -> Int {
        let wideStripes = wideGroups * (narrowWidth + 1)
        return stripe < wideStripes ? stripe / (narrowWidth + 1) : wideGroups + (stripe - wideStripes) / narrowWidth
    }

    func group(ofChunk chunk: Int) -> Int {
        let wideChunks = wideGroups * (narrowWidth + 1) * dataShards
        return chunk < wideChunks ? chunk / ((narrowWidth + 1) * dataShards) : wideGroups + (chunk - wideChunks) / (narrowWidth * dataShards)
    }

    /// The last chunk of group `group`: when it is read, every stripe of the
    /// group is complete.
    public func lastChunk(ofGroup group: Int) -> Int {
        min(firstChunk(ofGroup: group) + stripesInGroup(group) * dataShards, chunks.chunkCount) - 1
    }

    /// The stripe chunk `chunk` belongs to, and its row (its data shard
    /// number, `0..<k`) in that stripe.
    public func position(of chunk: ChunkIndex) -> (stripe: Int, row: Int) {
        precondition(chunks.contains(chunk), "chunk \(chunk) is outside the file")
        let owner = self.group(ofChunk: chunk.value)
        let offset = chunk.value - firstChunk(ofGroup: owner)
        let width = stripesInGroup(owner)
        return (firstStripe(ofGroup: owner) + offset % width, offset / width)
    }

    /// The chunk at `row` of `stripe`, or nil where the file has no chunk
    /// there (a zero shard, past its last chunk).
    public func chunk(inStripe stripe: Int, row: Int) -> ChunkIndex? {
        precondition(stripe < stripeCount && row < dataShards, "stripe \(stripe), row \(row) is outside the parity")
        let owner = self.group(ofStripe: stripe)
        let first = firstStripe(ofGroup: owner)
        let index = firstChunk(ofGroup: owner) + row * stripesInGroup(owner) + (stripe - first)
        return index < chunks.chunkCount ? ChunkIndex(index) : nil
    }

    /// Every chunk of `stripe`, by row.
    public func chunks(inStripe stripe: Int) -> [ChunkIndex] {
        (0..<dataShards).compactMap { chunk(inStripe: stripe, row: $0) }
    }

    /// Parity shard `parity` (`0..<m`) of `stripe`, numbered across the file.
    public func shardIndex(stripe: Int, parity: Int) -> Int { stripe * parityShards + parity }

    /// The stripe parity shard `shard` belongs to.
    public func stripe(ofShard shard: Int) -> Int { shard / parityShards }
}

public enum ParityLayoutError: Error, Equatable, CustomStringConvertible {
    case percentOutOfRange(Int)
    case impossibleShards(dataShards: Int, parityShards: Int)
    case impossibleGroup(stripesPerGroup: Int, stripeCount: Int)

    public var description: String {
        switch self {
        case .percentOutOfRange(let percent):
            return "a parity of \(percent)% is out of range: give a whole percent from 1 to 100"
        case .impossibleShards(let k, let m):
            return "\(k) data and \(m) parity shards per stripe is impossible (at least 1 of each, at most 256 in all)"
        case .impossibleGroup(let group, let stripes):
            return "\(group) stripes per group is impossible for \(stripes) stripes"
        }
    }
}
