import CoreMetrics
import Metrics
import Prometheus

/// The server's counters, in its own Prometheus registry (so that several
/// servers in one process, as in the tests, do not share them).
public final class ServerMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()
    let bytesReceived: CoreMetrics.Counter
    let chunksVerified: CoreMetrics.Counter
    let chunksDuplicate: CoreMetrics.Counter
    let chunksRejected: CoreMetrics.Counter
    let digestMismatches: CoreMetrics.Counter
    let uploadsCreated: CoreMetrics.Counter
    let uploadsCompleted: CoreMetrics.Counter
    let uploadsFailed: CoreMetrics.Counter

    public init() {
        let factory = PrometheusMetricsFactory(registry: registry)
        bytesReceived = CoreMetrics.Counter(label: "uploadverify_bytes_received_total", factory: factory)
        chunksVerified = CoreMetrics.Counter(label: "uploadverify_chunks_verified_total", factory: factory)
        chunksDuplicate = CoreMetrics.Counter(label: "uploadverify_chunks_duplicate_total", factory: factory)
        chunksRejected = CoreMetrics.Counter(label: "uploadverify_chunks_rejected_total", factory: factory)
        digestMismatches = CoreMetrics.Counter(label: "uploadverify_digest_mismatches_total", factory: factory)
        uploadsCreated = CoreMetrics.Counter(label: "uploadverify_uploads_created_total", factory: factory)
        uploadsCompleted = CoreMetrics.Counter(label: "uploadverify_uploads_completed_total", factory: factory)
        uploadsFailed = CoreMetrics.Counter(label: "uploadverify_uploads_failed_total", factory: factory)
    }

    /// The Prometheus text format.
    public func exposition() -> [UInt8] {
        var buffer = [UInt8]()
        registry.emit(into: &buffer)
        return buffer
    }
}
