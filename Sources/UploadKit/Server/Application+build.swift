import Hummingbird
import Logging
import NIOCore

/// Builds the server: the executable and the tests both call this.
public func buildApplication(_ options: ServerOptions, logger: Logger = Logger(label: "uploadverify")) throws -> some ApplicationProtocol {
    let store = try FileUploadStore(
        options: .init(
            directory: options.dataDirectory, maxUploadSize: options.maxUploadSize, fsync: options.fsync, crashSwitch: options.crashSwitch))
    let metrics = ServerMetrics()
    let router = buildRouter(store: store, metrics: metrics, options: options)
    var app = Application(
        router: router,
        server: .http1(configuration: .init(
            additionalChannelHandlers: [ConnectionPolicyHandler()],
            idleTimeout: TimeAmount.seconds(options.idleTimeout.components.seconds))),
        configuration: .init(address: .hostname(options.host, port: options.port), serverName: "uploadverify"),
        logger: logger)
    if let idle = options.expireAfter {
        app.addServices(ExpirySweeper(store: store, idle: idle, logger: logger))
    }
    return app
}

/// The routes and middleware, without a server: for in-process tests.
public func buildRouter(store: any UploadStore, metrics: ServerMetrics, options: ServerOptions) -> Router<UploadRequestContext> {
    let router = Router(context: UploadRequestContext.self)
    router.add(middleware: LogRequestsMiddleware(.info))
    router.add(middleware: ProblemMiddleware())
    if let token = options.token { router.add(middleware: BearerTokenMiddleware(token: token)) }
    router.get("healthz") { _, _ in "ok\n" }
    router.get("metrics") { _, _ in
        Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
            body: .init(byteBuffer: ByteBuffer(bytes: metrics.exposition())))
    }
    UploadRoutes(
        store: store, metrics: metrics, chunkGrace: options.chunkGrace, minimumRate: options.minimumRate, crashSwitch: options.crashSwitch)
        .register(on: router)
    return router
}
