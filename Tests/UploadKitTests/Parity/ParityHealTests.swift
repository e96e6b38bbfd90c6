import Foundation
import SystemPackage
import Testing
import UploadKit

/// Healing a file from its parity: exactly the original bytes back, within
/// what the parity covers; nothing changed beyond it; a crash anywhere
/// leaves each chunk as it was or healed.
@Suite struct ParityHealTests {
    @Test(arguments: [1, 2, 3, 4, 5, 6] as [UInt64])
    func randomDamageUpToWhatTheParityCoversHealsToTheOriginalBytes(seed: UInt64) throws {
        let sample = try ParitySample.make()
        defer { sample.remove() }
        let layout = sample.layout
        var random = SeededGenerator(seed: seed)
        var damagedChunks = [Int]()
        var damagedShards = [Int]()
        for stripe in 0..<layout.stripeCount {
            // Up to m of the stripe's shards, chunks and parity shards alike.
            let chunks = layout.chunks(inStripe: stripe).map(\.value)
            let shards = (0..<layout.parityShards).map { layout.shardIndex(stripe: stripe, parity: $0) }
            let candidates = chunks.map { (isChunk: true, number: $0) } + shards.map { (isChunk: false, number: $0) }
            let count = Int.random(in: 0...layout.parityShards, using: &random)
            for victim in candidates.shuffled(using: &random).prefix(count) {
                let whole = Bool.random(using: &random)
                if victim.isChunk {
                    try whole ? sample.scramble(chunk: victim.number) : sample.flipByte(ofChunk: victim.number, at: Int.random(in: 0..<70_000, using: &random))
                    damagedChunks.append(victim.number)
                } else {
                    try sample.damage(shard: victim.number, whole: whole)
                    damagedShards.append(victim.number)
                }
            }
        }
        let outcome = try sample.heal()
        #expect(try sample.dataOnDisk() == sample.bytes)
        #expect(try sample.parityOnDisk() == sample.parityBytes)
        #expect(outcome.sha256 == SHA256Hasher.hash(sample.bytes))
        #expect(outcome.chunksHealed.map(\.value) == damagedChunks.sorted())
        #expect(outcome.shardsRebuilt == damagedShards.sorted())
    }

    @Test func everyChunkOfAStripeLostWithinItsParityHeals() throws {
        // A stripe of 2 chunks and 2 parity shards (100%): both chunks, the short last one included, rebuilt from parity alone.
        let sample = try ParitySample.make(size: 65_536 + 1000, percent: 100)
        defer { sample.remove() }
        #expect(sample.layout.dataShards == 2 && sample.layout.parityShards == 2 && sample.layout.stripeCount == 1)
        try sample.scramble(chunk: 0)
        try sample.scramble(chunk: 1)
        _ = try sample.heal()
        #expect(try sample.dataOnDisk() == sample.bytes)
    }

    @Test func aRunOfAdjacentDamagedChunksAsLongAsTheGroupsCoverHealsAcrossAGroupBoundary() throws {
        // 97 chunks, 4 stripes; a budget of 2 stripes' parity: 2 groups of 2 interleaved stripes (chunks 0-63, 64-96),
        // so any 2 x 4 = 8 adjacent chunks heal, these 4 in each group included.
        let sample = try ParitySample.make(size: (6 << 20) + 12_345, accumulatorBudget: 2 * 4 * 65_536)
        defer { sample.remove() }
        #expect(sample.layout.stripesPerGroup == 2 && sample.layout.groupCount == 2)
        #expect(sample.layout.longestHealableRun == 8)
        for chunk in 60..<68 { try sample.scramble(chunk: chunk) }
        _ = try sample.heal()
        #expect(try sample.dataOnDisk() == sample.bytes)
    }

    @Test func rebuildingInBatchesSmallerThanTheDamageGivesTheSameBytes() throws {
        let sample = try ParitySample.make()
        defer { sample.remove() }
        for chunk in [0, 3, 6, 9] { try sample.scramble(chunk: chunk) }
        _ = try sample.heal(outputBudget: 1)
        #expect(try sample.dataOnDisk() == sample.bytes)
    }

    @Test func oneMoreDamagedChunkThanTheParityCoversIsRefusedAndNothingChanges() throws {
        let sample = try ParitySample.make()
        defer { sample.remove() }
        // Stripe 0 holds chunks 0, 3, 6, ...: five of them damaged where m = 4; stripe 1 has one, which alone would heal.
        for chunk in [0, 3, 6, 9, 12, 1] { try sample.flipByte(ofChunk: chunk) }
        let dataBefore = try sample.dataOnDisk()
        let parityBefore = try sample.parityOnDisk()
        do {
            _ = try sample.heal()
            Issue.record("a heal beyond the parity succeeded")
        } catch let thrown {
            guard case .beyondParity(let assessment)? = thrown as? ParityHealError else {
                Issue.record("\(thrown)")
                return
            }
            #expect(assessment.unhealable.map(\.index) == [0])
            #expect(assessment.unhealable.first?.damagedChunks.map(\.value) == [0, 3, 6, 9, 12])
            #expect(assessment.healable.map(\.index) == [1])
            #expect("\(ParityHealError.beyondParity(assessment))".contains("nothing was changed"))
        }
        #expect(try sample.dataOnDisk() == dataBefore)
        #expect(try sample.parityOnDisk() == parityBefore)
    }

    @Test func damagedParityShardsCountAgainstTheStripe() throws {
        let sample = try ParitySample.make()
        defer { sample.remove() }
        // Stripe 2: three chunks and two of its parity shards, 5 > 4.
        for chunk in [2, 5, 8] { try sample.flipByte(ofChunk: chunk) }
        try sample.damage(shard: sample.layout.shardIndex(stripe: 2, parity: 0))
        try sample.damage(shard: sample.layout.shardIndex(stripe: 2, parity: 3))
        let dataBefore = try sample.dataOnDisk()
        #expect(throws: ParityHealError.self) { try sample.heal() }
        #expect(try sample.dataOnDisk() == dataBefore)
    }

    @Test func onlyDamagedParityIsRebuiltWithItsRecordedDigest() throws {
        let sample = try ParitySample.make()
        defer { sample.remove() }
        try sample.damage(shard: 5, whole: true)
        let outcome = try sample.heal()
        #expect(outcome.chunksHealed.isEmpty && outcome.shardsRebuilt == [5])
        #expect(try sample.parityOnDisk() == sample.parityBytes)
    }

    @Test func anIntactFileHealsNothingAndConfirmsItsSHA256() throws {
        let sample = try ParitySample.make()
        defer { sample.remove() }
        let outcome = try sample.heal()
        #expect(outcome.chunksHealed.isEmpty && outcome.shardsRebuilt.isEmpty && outcome.bytesHealed == 0)
        #expect(outcome.sha256 == SHA256Hasher.hash(sample.bytes))
    }

    @Test func aFileOfAnotherLengthIsRefusedUnchanged() throws {
        let sample = try ParitySample.make()
        defer { sample.remove() }
        try FileHandle(forWritingTo: URL(fileURLWithPath: sample.path)).truncate(atOffset: 100_000)
        do {
            _ = try sample.heal()
            Issue.record("a shortened file was healed")
        } catch let thrown {
            guard case .sizeChanged(let expected, let actual)? = thrown as? ParityHealError else {
                Issue.record("\(thrown)")
                return
            }
            #expect(expected == Int64(ParitySample.standardSize) && actual == 100_000)
        }
        #expect(try sample.dataOnDisk().count == 100_000)
    }
}

extension ParityHealTests {
    /// Damage in all three stripes (two chunks of stripe 0) and one parity shard.
    static let crashDamage = [0, 3, 1, 2]

    /// A crash at any point of a heal leaves every chunk either as it was
    /// (damaged) or healed, never anything else; healing again finishes it.
    @Test(
        arguments: [
            (HealPoint.afterRebuildCheck, 1), (.afterRebuildCheck, 2), (.afterChunkWrite, 1), (.afterChunkWrite, 2), (.afterChunkWrite, 3),
            (.afterShardWrite, 1), (.afterSync, 1),
        ] as [(HealPoint, Int)])
    func aCrashInsideAHealLeavesEachChunkAsItWasOrHealed(point: HealPoint, occurrence: Int) throws {
        let sample = try ParitySample.make()
        defer { sample.remove() }
        for chunk in Self.crashDamage { try sample.scramble(chunk: chunk) }
        try sample.damage(shard: sample.layout.shardIndex(stripe: 1, parity: 2))
        let damaged = try sample.dataOnDisk()
        let damagedParity = try sample.parityOnDisk()
        let probe = StopAtHealPoint(point, occurrence: occurrence)
        do {
            _ = try sample.heal(probe: probe)
            Issue.record("the heal passed \(point.rawValue) #\(occurrence) without stopping")
        } catch let stop as HealInterrupted {
            #expect(stop.point == point)
        }
        let after = try sample.dataOnDisk()
        #expect(after.count == sample.bytes.count, "the file's size never changes")
        var healed = 0
        for index in 0..<sample.layout.chunks.chunkCount {
            let range = sample.chunkRange(index)
            let now = Array(after[range])
            let asItWas = now == Array(damaged[range])
            let isHealed = now == Array(sample.bytes[range])
            #expect(asItWas || isHealed, "chunk \(index) is neither as it was nor healed after a stop at \(point.rawValue)")
            if isHealed && !asItWas { healed += 1 }
        }
        let parityAfter = try sample.parityOnDisk()
        for shard in 0..<sample.layout.shardCount {
            let range = sample.shardRange(shard)
            #expect(Array(parityAfter[range]) == Array(damagedParity[range]) || Array(parityAfter[range]) == Array(sample.parityBytes[range]))
        }
        if point == .afterChunkWrite { #expect(healed == occurrence) }
        if point == .afterRebuildCheck && occurrence == 1 { #expect(healed == 0) }
        // The next heal finds what is left and finishes.
        _ = try sample.heal()
        #expect(try sample.dataOnDisk() == sample.bytes)
        #expect(try sample.parityOnDisk() == sample.parityBytes)
    }
}
