import NIOCore

/// The IETF appends this process is serving, by upload, with their
/// connections: the draft asks a server to end an older transfer before a
/// new request to the same upload (a client sends one at a time, so an
/// older one still running has already failed on its side). Only this
/// process's can be ended; one on another node is waited for a moment, then
/// refused as busy. The append lock on the chunk map stays the judge.
final class InFlightAppends: Sendable {
    private let entries = Locked<[UploadID: [ObjectIdentifier: any Channel]]>([:])

    /// Runs `body` registered as an append to `id` on `channel`.
    func serving<T>(_ id: UploadID, on channel: (any Channel)?, _ body: () async throws -> T) async throws -> T {
        guard let channel else { return try await body() }
        let key = ObjectIdentifier(channel)
        entries.withLock { $0[id, default: [:]][key] = channel }
        defer {
            entries.withLock { entries in
                entries[id]?[key] = nil
                if entries[id]?.isEmpty == true { entries[id] = nil }
            }
        }
        return try await body()
    }

    /// Ends every other append to `id` this process serves (their
    /// connections closed: each keeps what arrived up to its last durable
    /// point), and waits up to two seconds for them to let go.
    func endOthers(_ id: UploadID, except channel: (any Channel)?) async {
        let mine = channel.map(ObjectIdentifier.init)
        let others = entries.withLock { entries in (entries[id] ?? [:]).filter { $0.key != mine }.map(\.value) }
        guard !others.isEmpty else { return }
        for other in others { other.close(promise: nil) }
        for _ in 0..<200 {
            let left = entries.withLock { entries in (entries[id] ?? [:]).keys.contains { $0 != mine } }
            if !left { return }
            try? await Task.sleep(for: .milliseconds(10))
        }
    }
}
