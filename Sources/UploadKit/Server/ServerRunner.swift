import Hummingbird
import Logging
import ServiceLifecycle
import UnixSignals

/// Runs the server until SIGTERM or SIGINT: it then stops accepting, lets
/// in-flight requests finish within `shutdownGrace`, and cancels the rest
/// (a cancelled chunk is never marked verified: its entry is written last).
public func runServer(_ options: ServerOptions, logger: Logger) async throws {
    let app = try buildApplication(options, logger: logger)
    var configuration = ServiceGroupConfiguration(services: [app], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
    configuration.maximumGracefulShutdownDuration = options.shutdownGrace
    try await ServiceGroup(configuration: configuration).run()
}
