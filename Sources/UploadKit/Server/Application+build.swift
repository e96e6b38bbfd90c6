import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import NIOSSL
import SystemPackage

/// Builds the server: the executable and the tests both call this.
public func buildApplication(_ options: ServerOptions, logger: Logger = Logger(label: "uploadverify")) throws -> some ApplicationProtocol {
    let store = try FileUploadStore(
        options: .init(
            directory: options.dataDirectory, maxUploadSize: options.maxUploadSize, fsync: options.fsync,
            maxOpenUploads: options.maxOpenUploads, crashProbe: options.crashProbe, parityPercent: options.parityPercent))
    let metrics = ServerMetrics()
    let router = buildRouter(store: store, metrics: metrics, options: options)
    var app = Application(
        responder: MethodOverrideResponder(base: router.buildResponder()),
        server: try serverBuilder(options),
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
    // Outside the problem middleware, so that errors carry the CORS headers too.
    if !options.corsOrigins.isEmpty { router.add(middleware: CORSPolicyMiddleware(origins: options.corsOrigins)) }
    // Outside the problem middleware and the token check, so that every
    // answer under /files/, a 401 or a 404 of the router included, names tus's version.
    router.add(middleware: TusResumableMiddleware())
    router.add(middleware: ProblemMiddleware())
    if let token = options.token { router.add(middleware: BearerTokenMiddleware(token: token)) }
    // 503 while the data directory cannot be reached, so that a balancer's
    // health check takes the node out until its storage is back.
    router.get("healthz") { _, _ in
        try store.checkReachable()
        return "ok\n"
    }
    router.get("metrics") { _, _ in
        Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
            body: .init(byteBuffer: ByteBuffer(bytes: metrics.exposition())))
    }
    WebRoutes.register(on: router)
    UploadRoutes(
        store: store, metrics: metrics, chunkGrace: options.chunkGrace, minimumRate: options.minimumRate, crashProbe: options.crashProbe,
        healsByDefault: options.parityPercent != nil
    )
    .register(on: router)
    TusRoutes(
        store: store, metrics: metrics, maxUploadSize: options.maxUploadSize, expireAfter: options.expireAfter,
        bodyDeadline: BodyDeadline(grace: options.chunkGrace, minimumRate: options.minimumRate)
    )
    .register(on: router)
    return router
}

/// HTTP/1.1, in TLS when `options.tls` names a certificate and key.
func serverBuilder(_ options: ServerOptions) throws -> HTTPServerBuilder {
    let connections = ConnectionCount(limit: options.maxConnections)
    let headerTimeout = TimeAmount(options.headerTimeout)
    let idleTimeout = TimeAmount(options.idleTimeout)
    let http1 = HTTPServerBuilder.http1(
        configuration: .init(
            additionalChannelHandlers: [
                ConnectionGuard(count: connections, headerTimeout: headerTimeout, keepAliveTimeout: idleTimeout), ConnectionPolicyHandler(),
            ],
            idleTimeout: idleTimeout))
    guard let files = options.tls else { return http1 }
    return try .tls(http1, tlsConfiguration: try TLSSetup.serverConfiguration(files))
}

/// Loads the PEM files, with errors that name the file and what is wrong with it.
enum TLSSetup {
    static func serverConfiguration(_ files: TLSFiles) throws(TLSSetupError) -> TLSConfiguration {
        let chain: [NIOSSLCertificate]
        do { chain = try NIOSSLCertificate.fromPEMFile(files.certificateChain.string) } catch {
            throw TLSSetupError(file: files.certificateChain, what: "a PEM certificate chain", reason: error)
        }
        guard !chain.isEmpty else { throw TLSSetupError(file: files.certificateChain, what: "a PEM certificate chain", reason: nil) }
        let key: NIOSSLPrivateKey
        do { key = try NIOSSLPrivateKey(file: files.privateKey.string, format: .pem) } catch {
            throw TLSSetupError(file: files.privateKey, what: "a PEM private key", reason: error)
        }
        return TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
    }
}

public struct TLSSetupError: Error, CustomStringConvertible {
    let file: FilePath
    let what: String
    let reason: (any Error)?

    public var description: String {
        "\(file) is not \(what)" + (reason.map { " (\($0))" } ?? "")
    }
}
