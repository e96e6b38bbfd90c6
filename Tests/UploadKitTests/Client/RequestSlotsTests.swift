import Testing

@testable import UploadKit

@Suite struct RequestSlotsTests {
    /// `tasks` requests of 10 ms each through `slots`, counting how many run at once.
    func run(_ slots: RequestSlots, tasks: Int) async -> (peak: Int, done: Int) {
        let counts = Locked((running: 0, peak: 0, done: 0))
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<tasks {
                group.addTask {
                    await slots.acquire()
                    counts.withLock {
                        $0.running += 1
                        $0.peak = max($0.peak, $0.running)
                    }
                    try? await Task.sleep(for: .milliseconds(10))
                    counts.withLock {
                        $0.running -= 1
                        $0.done += 1
                    }
                    slots.release()
                }
            }
        }
        return counts.withLock { ($0.peak, $0.done) }
    }

    @Test func neverMoreRequestsThanSlotsAreInFlight() async {
        let (peak, done) = await run(RequestSlots(3), tasks: 40)
        #expect(peak <= 3)
        #expect(done == 40)
    }

    @Test func everySlotIsUsedWhenRequestsWait() async {
        let slots = RequestSlots(3)
        _ = await run(slots, tasks: 40)
        #expect(slots.peakInFlight == 3)
    }

    @Test func aSlotGoesToTheLongestWaiter() async throws {
        let slots = RequestSlots(1)
        await slots.acquire()
        let order = Locked<[Int]>([])
        var waiters = [Task<Void, Never>]()
        for index in 0..<5 {
            waiters.append(
                Task {
                    await slots.acquire()
                    order.withLock { $0.append(index) }
                    slots.release()
                })
            // Each waiter queues before the next starts.
            try await Task.sleep(for: .milliseconds(20))
        }
        slots.release()
        for waiter in waiters { await waiter.value }
        #expect(order.withLock { $0 } == [0, 1, 2, 3, 4])
    }
}
