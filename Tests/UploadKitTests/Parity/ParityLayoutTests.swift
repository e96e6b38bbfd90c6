import Testing
import UploadKit

/// Stripes, groups and what a percent buys; the encoder's memory.
@Suite struct ParityLayoutTests {
    func chunks(_ size: Int64, chunkSize: ByteCount = .kibibytes(64)) throws -> ChunkLayout {
        try ChunkLayout(fileSize: ByteCount(size), chunkSize: chunkSize)
    }

    @Test(arguments: [(1, 1), (5, 2), (10, 4), (13, 5), (25, 8), (50, 16), (100, 32)] as [(Int, Int)])
    func aPercentBuysCeilingOfKTimesPercentParityShardsPerStripe(percent: Int, parityShards: Int) throws {
        let layout = try ParityLayout.forPercent(percent, chunks: try chunks(1 << 30))
        #expect(layout.dataShards == 32)
        #expect(layout.parityShards == parityShards)
        #expect(layout.stripeCount == 16_384 / 32)
    }

    @Test func aFileOfFewChunksIsOneStripeOfAllOfThem() throws {
        let layout = try ParityLayout.forPercent(10, chunks: try chunks(5 * 65_536 + 7))
        #expect(layout.dataShards == 6 && layout.parityShards == 1 && layout.stripeCount == 1)
    }

    @Test(arguments: [0, 2 * 4 * 65_536, 64 << 20])
    func everyChunkHasOneStripeAndRowAndBack(budget: Int) throws {
        let layout = try ParityLayout.forPercent(10, chunks: try chunks(300 * 65_536 + 123), accumulatorBudget: budget)
        var seen = Set<[Int]>()
        for index in layout.chunks.indices {
            let (stripe, row) = layout.position(of: index)
            #expect(stripe < layout.stripeCount && row < layout.dataShards)
            #expect(layout.chunk(inStripe: stripe, row: row) == index)
            seen.insert([stripe, row])
        }
        #expect(seen.count == layout.chunks.chunkCount)
        #expect((0..<layout.stripeCount).map { layout.chunks(inStripe: $0).count }.reduce(0, +) == layout.chunks.chunkCount)
    }

    @Test(arguments: [2 * 4 * 65_536, 3 * 4 * 65_536, 5 * 4 * 65_536, 64 << 20])
    func anyRunOfTheLongestHealableLengthHitsEachStripeAtMostMTimes(budget: Int) throws {
        let layout = try ParityLayout.forPercent(10, chunks: try chunks(300 * 65_536 + 123), accumulatorBudget: budget)
        let run = layout.longestHealableRun
        // Groups as even as they can be: never narrower than half of G.
        #expect(run >= min(layout.chunks.chunkCount, (layout.stripesPerGroup + 1) / 2 * layout.parityShards))
        #expect(layout.widestGroup <= layout.stripesPerGroup)
        for start in 0...(layout.chunks.chunkCount - run) {
            var hits = [Int: Int]()
            for index in start..<(start + run) { hits[layout.position(of: ChunkIndex(index)).stripe, default: 0] += 1 }
            #expect(hits.values.allSatisfy { $0 <= layout.parityShards }, "a run from chunk \(start)")
        }
    }

    @Test func withTheWholeFileInOneGroupChunkIBelongsToStripeIModS() throws {
        let layout = try ParityLayout.forPercent(10, chunks: try chunks(100 * 65_536))
        #expect(layout.stripesPerGroup == layout.stripeCount)
        for index in layout.chunks.indices { #expect(layout.position(of: index).stripe == index.value % layout.stripeCount) }
    }

    /// The encoder holds `G * m` shards of the chunk size and ISA-L's tables,
    /// with `G` from the budget: the same for a file of 16 MiB and of 2 GiB.
    @Test func theEncodersBuffersAreSizedFromKMAndTheChunkSizeOnly() throws {
        let budget = 1 << 20
        var sizes = Set<Int>()
        for fileSize: Int64 in [16 << 20, 256 << 20, 2 << 30] {
            let layout = try ParityLayout.forPercent(10, chunks: try chunks(fileSize), accumulatorBudget: budget)
            let encoder = ParityEncoder(layout: layout) { _, _ in }
            #expect(ParityEncoder.accumulatorBytes(for: layout) == layout.stripesPerGroup * layout.parityShards * layout.shardSize)
            #expect(ParityEncoder.accumulatorBytes(for: layout) <= budget)
            #expect(encoder.bufferBytes <= budget + 32 * layout.dataShards * layout.parityShards + 8 * layout.parityShards)
            sizes.insert(encoder.bufferBytes)
        }
        #expect(sizes.count == 1, "\(sizes)")
        // A stripe's parity larger than the budget: one stripe at a time, m x C.
        let large = try ParityLayout.forPercent(10, chunks: try chunks(1 << 30, chunkSize: .mebibytes(8)), accumulatorBudget: budget)
        #expect(large.stripesPerGroup == 1)
        #expect(ParityEncoder.accumulatorBytes(for: large) == large.parityShards * (8 << 20))
    }
}
