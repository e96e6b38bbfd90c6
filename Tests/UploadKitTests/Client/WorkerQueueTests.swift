import Synchronization
import Testing
import UploadKit

@Suite struct WorkerQueueTests {
    /// Items that take a while, counting how many run at once.
    func run(concurrency: Int, items: Int) async throws -> (peak: Int, done: Int) {
        let queue = WorkerQueue(concurrency: concurrency)
        let done = Atomic<Int>(0)
        let (stream, feed) = AsyncStream<Int>.makeStream()
        for item in 0..<items { feed.yield(item) }
        feed.finish()
        try await queue.run(stream) { _ in
            try await Task.sleep(for: .milliseconds(20))
            done.wrappingAdd(1, ordering: .relaxed)
        }
        return (queue.peakInFlight, done.load(ordering: .relaxed))
    }

    @Test func neverMoreThanTheBoundAreInFlight() async throws {
        let (peak, done) = try await run(concurrency: 3, items: 30)
        #expect(peak <= 3)
        #expect(done == 30)
    }

    @Test func moreThanOneRunsAtATimeWhenAllowed() async throws {
        let (peak, _) = try await run(concurrency: 3, items: 30)
        #expect(peak == 3)
    }

    @Test func aBoundOfOneRunsOneByOne() async throws {
        let (peak, done) = try await run(concurrency: 1, items: 5)
        #expect(peak == 1)
        #expect(done == 5)
    }

    @Test func itemsArrivingLaterStillKeepTheQueueBusy() async throws {
        let queue = WorkerQueue(concurrency: 4)
        let (stream, feed) = AsyncStream<Int>.makeStream()
        let fed = Atomic<Bool>(false)
        let producer = Task {
            for item in 0..<8 {
                feed.yield(item)
                try await Task.sleep(for: .milliseconds(2))
            }
            fed.store(true, ordering: .releasing)
            feed.finish()
        }
        // Every item is held until the last has arrived, so the peak does not
        // depend on how fast a loaded machine schedules the producer.
        try await queue.run(stream) { _ in
            while !fed.load(ordering: .acquiring) { try await Task.sleep(for: .milliseconds(5)) }
        }
        try await producer.value
        #expect(queue.peakInFlight == 4)
    }

    struct Boom: Error {}

    @Test func theFirstErrorStopsTheQueueAndIsRethrown() async throws {
        let queue = WorkerQueue(concurrency: 2)
        let started = Atomic<Int>(0)
        let (stream, feed) = AsyncStream<Int>.makeStream()
        for item in 0..<100 { feed.yield(item) }
        feed.finish()
        await #expect(throws: Boom.self) {
            try await queue.run(stream) { item in
                started.wrappingAdd(1, ordering: .relaxed)
                if item == 3 { throw Boom() }
                try await Task.sleep(for: .milliseconds(5))
            }
        }
        #expect(started.load(ordering: .relaxed) < 100)
    }
}
