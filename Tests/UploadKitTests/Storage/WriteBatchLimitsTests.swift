import Testing
import UploadKit

@Suite struct WriteBatchLimitsTests {
    let limits = WriteBatchLimits(budget: 8 << 20, floor: 64 << 10, ceiling: 1 << 20)

    @Test func aFewWritersGetTheCeiling() {
        #expect(limits.batchBytes(writers: 0) == 1 << 20)
        #expect(limits.batchBytes(writers: 1) == 1 << 20)
        #expect(limits.batchBytes(writers: 3) == 1 << 20)
        #expect(limits.batchBytes(writers: 4) == 1 << 20)
    }

    @Test func manyWritersShareTheBudget() {
        #expect(limits.batchBytes(writers: 8) == 512 << 10)
        #expect(limits.batchBytes(writers: 16) == 256 << 10)
        // Two batches per writer, all of them within the budget.
        #expect(2 * 16 * limits.batchBytes(writers: 16) <= 8 << 20)
    }

    @Test func theFloorBoundsEachRequestWhateverTheirNumber() {
        #expect(limits.batchBytes(writers: 500) == 64 << 10)
        #expect(limits.batchBytes(writers: 100_000) == 64 << 10)
    }

    @Test func theDefaultsGiveThreeConnectionsTheCeilingAndFiveHundredTheFloor() {
        let defaults = WriteBatchLimits()
        #expect(defaults.batchBytes(writers: 3) == defaults.ceiling)
        #expect(defaults.batchBytes(writers: 500) == defaults.floor)
        #expect(2 * defaults.floor <= 256 << 10)
    }
}
