import NIOCore

/// How long a request body may take: a grace, plus a second per
/// `minimumRate` bytes it may carry. Idle timeouts never fire while bytes
/// keep arriving, so a body that drips in a byte at a time would hold its
/// chunk's lock, or an upload's append lock, for as long as it drips.
struct BodyDeadline: Sendable {
    var grace: Duration
    var minimumRate: Int64

    func limit(forBytes length: Int64) -> Duration { grace + .seconds(max(0, length) / max(1, minimumRate)) }

    /// Runs `body`, closing `channel` if it is still running after the limit
    /// for `length` bytes: the body then ends early, and what arrived of it
    /// is kept as for any body cut short.
    func closing<T>(_ channel: (any Channel)?, afterBytes length: Int64, _ body: () async throws -> T) async throws -> T {
        let limit = limit(forBytes: length)
        let timer = Task {
            try await Task.sleep(for: limit)
            channel?.close(promise: nil)
        }
        defer { timer.cancel() }
        return try await body()
    }
}
