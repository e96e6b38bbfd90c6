import SystemPackage

/// Everything `serve` can be told.
public struct ServerOptions: Sendable {
    public var dataDirectory: FilePath = "./uploads"
    public var host = "127.0.0.1"
    public var port = 8080
    public var token: String?
    public var maxUploadSize = ChunkLayout.maximumFileSize
    /// Incomplete uploads idle this long are removed; nil keeps them.
    public var expireAfter: Duration?
    public var fsync = true
    /// Each chunk body gets this long, plus a second per `minimumRate` bytes.
    public var chunkGrace: Duration = .seconds(30)
    public var minimumRate: Int64 = 64 * 1024
    /// Closes connections idle this long between requests.
    public var idleTimeout: Duration = .seconds(60)
    /// Connections open at once; more are closed as they arrive.
    public var maxConnections = 4096
    /// A request head must fully arrive within this.
    public var headerTimeout: Duration = .seconds(30)
    /// Incomplete uploads at once; more creations are refused (503).
    public var maxOpenUploads = 1000
    /// How long in-flight requests may run after SIGTERM/SIGINT.
    public var shutdownGrace: Duration = .seconds(30)
    /// Origins whose pages may call the server (`*` for any); none by default.
    public var corsOrigins: [String] = []
    /// Serve HTTPS with this certificate chain and key (PEM files).
    public var tls: TLSFiles?
    /// `--parity PERCENT`: write `ID.parity` at each completion, and heal from it on audits.
    public var parityPercent: Int?
    /// Tests only (`UPLOADVERIFY_CRASH_AT`): dies at a point of a chunk write or append.
    public var crashProbe: (any CrashProbe)?

    public init() {}
}

/// The PEM files `serve --tls-cert --tls-key` names.
public struct TLSFiles: Sendable {
    public var certificateChain: FilePath
    public var privateKey: FilePath

    public init(certificateChain: FilePath, privateKey: FilePath) {
        self.certificateChain = certificateChain
        self.privateKey = privateKey
    }
}
