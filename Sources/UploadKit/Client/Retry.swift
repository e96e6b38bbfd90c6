/// Runs a request again after a transient failure (`ClientError.isTransient`:
/// the network, a 5xx, a 408, a busy chunk), with a pause that doubles each
/// time; any other failure, or the last attempt's, is thrown.
struct Retry: Sendable {
    var attempts: Int
    var firstBackoff: Duration

    func run<T>(onRetry: (ClientError) -> Void = { _ in }, _ request: () async throws -> T) async throws -> T {
        var delay = firstBackoff
        var attempt = 1
        while true {
            do {
                return try await request()
            } catch let error as ClientError where error.isTransient && attempt < attempts {
                onRetry(error)
                try await Task.sleep(for: delay)
                delay *= 2
                attempt += 1
            }
        }
    }
}
