import NIOCore

/// A bound on the requests one client has in flight, across everything it
/// does at once: the chunks of many files share it, so that a command
/// sending a folder keeps its `--concurrency` connections busy with
/// whichever file has work, and never opens more. A request waits for a
/// slot in the order it asked (first come, first served) and gives it back
/// when its answer has been read whole.
public final class RequestSlots: Sendable {
    private struct State {
        var free: Int
        var inFlight = 0
        var peak = 0
        var waiting = CircularBuffer<CheckedContinuation<Void, Never>>()

        mutating func take() {
            free -= 1
            inFlight += 1
            peak = max(peak, inFlight)
        }
    }

    public let count: Int
    private let state: Locked<State>

    public init(_ count: Int) {
        precondition(count >= 1, "a client sends at least one request at a time")
        self.count = count
        state = Locked(State(free: count))
    }

    /// The most requests that were ever in flight at once.
    public var peakInFlight: Int { state.withLock { $0.peak } }

    /// Waits for a free slot; every `acquire` is paired with one `release`.
    func acquire() async {
        let granted = state.withLock { state in
            guard state.free > 0 else { return false }
            state.take()
            return true
        }
        if granted { return }
        await withCheckedContinuation { (waiter: CheckedContinuation<Void, Never>) in
            let now = state.withLock { state in
                // A slot may have come free between the two locks.
                guard state.free > 0 else {
                    state.waiting.append(waiter)
                    return false
                }
                state.take()
                return true
            }
            if now { waiter.resume() }
        }
    }

    func release() {
        let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.inFlight -= 1
            // The slot passes straight to the longest waiter.
            guard let waiter = state.waiting.popFirst() else {
                state.free += 1
                return nil
            }
            state.inFlight += 1
            state.peak = max(state.peak, state.inFlight)
            return waiter
        }
        next?.resume()
    }
}
