import Logging
import ServiceLifecycle

/// Removes incomplete uploads idle longer than `idle`, checking a few times
/// per period (at least once a minute).
struct ExpirySweeper: Service {
    let store: any UploadStore
    let idle: Duration
    let logger: Logger

    func run() async throws {
        // Ends at once on graceful shutdown, instead of holding the server for its grace period.
        try? await cancelWhenGracefulShutdown { try await sweep() }
    }

    private func sweep() async throws {
        let interval = min(.seconds(60), idle / 4)
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: interval)
            } catch {
                return
            }
            do {
                for id in try await store.expire(idleLongerThan: idle) {
                    logger.info("expired idle upload", metadata: ["upload": "\(id)"])
                }
            } catch {
                logger.error("expiry sweep failed: \(error)")
            }
        }
    }
}
