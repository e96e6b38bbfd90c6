import Synchronization

/// Runs work items with at most `concurrency` in flight, starting the next
/// as soon as one finishes, so that many are busy but never more: never one
/// by one, never all at once. The first error stops the queue (items not yet
/// started are dropped) and is rethrown.
public final class WorkerQueue: Sendable {
    public let concurrency: Int
    private let inFlight = Atomic<Int>(0)
    private let peak = Atomic<Int>(0)

    public init(concurrency: Int) {
        precondition(concurrency >= 1, "a queue runs at least one item at a time")
        self.concurrency = concurrency
    }

    /// The most items that ever ran at once.
    public var peakInFlight: Int { peak.load(ordering: .relaxed) }

    private func enter() {
        let now = inFlight.wrappingAdd(1, ordering: .relaxed).newValue
        var seen = peak.load(ordering: .relaxed)
        while now > seen {
            let (exchanged, original) = peak.compareExchange(expected: seen, desired: now, ordering: .relaxed)
            if exchanged { break }
            seen = original
        }
    }

    public func run<Items: AsyncSequence & Sendable>(
        _ items: Items, _ work: @escaping @Sendable (Items.Element) async throws -> Void
    ) async throws where Items.Element: Sendable {
        try await withThrowingTaskGroup(of: Void.self) { group in
            var running = 0
            for try await item in items {
                if running == concurrency {
                    try await group.next()
                    running -= 1
                }
                running += 1
                group.addTask {
                    self.enter()
                    defer { self.inFlight.wrappingSubtract(1, ordering: .relaxed) }
                    try await work(item)
                }
            }
            try await group.waitForAll()
        }
    }
}
