import CoreMetrics
import Metrics
import Prometheus

/// The server's counters, in its own Prometheus registry (so that several
/// servers in one process, as in the tests, do not share them).
public final class ServerMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()
    let bytesReceived: CoreMetrics.Counter
    /// Bytes written into corrupt chunks by block writes (repairs), whatever the chunk became.
    let blockBytesWritten: CoreMetrics.Counter
    let chunksVerified: CoreMetrics.Counter
    let chunksDuplicate: CoreMetrics.Counter
    let chunksRejected: CoreMetrics.Counter
    let digestMismatches: CoreMetrics.Counter
    let uploadsCreated: CoreMetrics.Counter
    let uploadsCompleted: CoreMetrics.Counter
    let uploadsFailed: CoreMetrics.Counter
    private let chunkRequestsInFlight: CoreMetrics.Gauge
    private let chunkRequestsInFlightMax: CoreMetrics.Gauge
    private let inFlight = Locked<(now: Int, max: Int)>((0, 0))

    public init() {
        let factory = PrometheusMetricsFactory(registry: registry)
        bytesReceived = CoreMetrics.Counter(label: "uploadverify_bytes_received_total", factory: factory)
        blockBytesWritten = CoreMetrics.Counter(label: "uploadverify_block_bytes_written_total", factory: factory)
        chunksVerified = CoreMetrics.Counter(label: "uploadverify_chunks_verified_total", factory: factory)
        chunksDuplicate = CoreMetrics.Counter(label: "uploadverify_chunks_duplicate_total", factory: factory)
        chunksRejected = CoreMetrics.Counter(label: "uploadverify_chunks_rejected_total", factory: factory)
        digestMismatches = CoreMetrics.Counter(label: "uploadverify_digest_mismatches_total", factory: factory)
        uploadsCreated = CoreMetrics.Counter(label: "uploadverify_uploads_created_total", factory: factory)
        uploadsCompleted = CoreMetrics.Counter(label: "uploadverify_uploads_completed_total", factory: factory)
        uploadsFailed = CoreMetrics.Counter(label: "uploadverify_uploads_failed_total", factory: factory)
        chunkRequestsInFlight = CoreMetrics.Gauge(label: "uploadverify_chunk_requests_in_flight", factory: factory)
        chunkRequestsInFlightMax = CoreMetrics.Gauge(label: "uploadverify_chunk_requests_in_flight_max", factory: factory)
        chunkRequestsInFlight.record(0)
        chunkRequestsInFlightMax.record(0)
    }

    /// Counts a chunk PUT as in flight while `body` runs, and keeps the
    /// highest count since start: how a client's parallelism is seen from
    /// the server (the browser tests read it).
    func countingChunkRequest<T>(_ body: () async throws -> T) async rethrows -> T {
        let (now, max) = inFlight.withLock { count in
            count.now += 1
            count.max = Swift.max(count.max, count.now)
            return count
        }
        chunkRequestsInFlight.record(now)
        chunkRequestsInFlightMax.record(max)
        defer {
            chunkRequestsInFlight.record(
                inFlight.withLock { count in
                    count.now -= 1
                    return count.now
                })
        }
        return try await body()
    }

    /// The Prometheus text format.
    public func exposition() -> [UInt8] {
        var buffer = [UInt8]()
        registry.emit(into: &buffer)
        return buffer
    }
}
