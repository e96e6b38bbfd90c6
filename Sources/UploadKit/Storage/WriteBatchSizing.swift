import Synchronization

/// How many bytes a writer gathers before one hop to the I/O threads.
///
/// Each hop wakes another thread, so large batches receive faster: with
/// 128 KiB batches three connections received 2 GiB in 1.4x the time they
/// took with 1 MiB ones. But a request in flight holds up to two batches
/// (one written while the next is read), and at a thousand clients 1 MiB
/// each is gigabytes. So the batches of all writes running at once share
/// one budget: a few writers get the ceiling, many get less, down to a
/// floor that bounds each request's memory on its own.
///
/// The budget is small because a writer sizes a batch when a buffer
/// arrives: one that began while few others ran may go on holding its
/// larger batch when many join. Summed over a ramp from 1 to N writers
/// that is about `budget / 2 * (1 + ln(ceiling / floor))`, 21 MiB for
/// these defaults, whatever N.
public struct WriteBatchLimits: Sendable, Equatable {
    /// What all writers' batches may hold together (two batches per writer).
    public var budget: Int
    public var floor: Int
    public var ceiling: Int

    public init(budget: Int = 8 << 20, floor: Int = 16 << 10, ceiling: Int = 1 << 20) {
        precondition(0 < floor && floor <= ceiling, "a batch floor above its ceiling")
        self.budget = budget
        self.floor = floor
        self.ceiling = ceiling
    }

    /// The batch size for each of `writers` writers running at once.
    public func batchBytes(writers: Int) -> Int {
        min(ceiling, max(floor, budget / (2 * max(1, writers))))
    }
}

/// Counts the writes in progress, which size every writer's next batch.
final class WriteBatchSizing: Sendable {
    let limits: WriteBatchLimits
    private let writers = Atomic<Int>(0)

    init(_ limits: WriteBatchLimits) { self.limits = limits }

    /// Runs `body` counted as one writer; it reads `batchBytes` as it goes,
    /// so a write that began alone shrinks its batches when others join.
    func counted<T>(_ body: () async throws -> T) async rethrows -> T {
        writers.add(1, ordering: .relaxed)
        defer { writers.subtract(1, ordering: .relaxed) }
        return try await body()
    }

    var batchBytes: Int { limits.batchBytes(writers: writers.load(ordering: .relaxed)) }
}
