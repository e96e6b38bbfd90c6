import ArgumentParser
import Logging
import SystemPackage
import UploadKit

extension UploadVerify {
    struct Serve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run the upload server.",
            discussion: "Receives uploads chunk by chunk into DATA-DIR (one data file and one .chunkmap per upload). Stops cleanly on SIGTERM or SIGINT."
        )

        @Option(name: .customLong("data-dir"), help: "Where uploads are kept.")
        var dataDirectory = "./uploads"

        @Option(help: "Address to listen on.")
        var host = "127.0.0.1"

        @Option(help: "Port to listen on (0 picks a free one).")
        var port = 8080

        @Option(help: "Require 'Authorization: Bearer TOKEN' on every request but /healthz (or set UPLOADVERIFY_TOKEN).")
        var token: String?

        @Option(name: .customLong("max-upload-size"), help: "Largest upload accepted, e.g. 100GiB (default 8TiB).")
        var maxUploadSize: String?

        @Option(name: .customLong("expire-after"), help: "Remove incomplete uploads idle this long, e.g. 24h, 30m, 90s, 7d.")
        var expireAfter: String?

        @Option(name: .customLong("tls-cert"), help: "TLS certificate (PEM).")
        var tlsCertificate: String?

        @Option(name: .customLong("tls-key"), help: "TLS private key (PEM).")
        var tlsKey: String?

        @Option(name: .customLong("chunk-timeout"), help: "Time every chunk body gets before the minimum rate applies, e.g. 30s.")
        var chunkTimeout = "30s"

        @Option(name: .customLong("min-chunk-rate"), help: "Slowest rate a chunk body may arrive at beyond --chunk-timeout, e.g. 64KiB (per second).")
        var minimumChunkRate = "64KiB"

        @Option(name: .customLong("max-connections"), help: "Connections open at once; more are closed as they arrive.")
        var maxConnections = 4096

        @Option(name: .customLong("header-timeout"), help: "Time a request's headers get to arrive whole, e.g. 30s.")
        var headerTimeout = "30s"

        @Option(name: .customLong("max-open-uploads"), help: "Incomplete uploads at once; more creations get 503.")
        var maxOpenUploads = 1000

        @Option(name: .customLong("cors-origin"), help: "Let pages of this origin call the server (repeatable; * for any), e.g. https://app.example.com.")
        var corsOrigins: [String] = []

        @Flag(name: .customLong("no-fsync"), help: "Skip the fdatasync before a chunk is acknowledged (safe against process crashes, not power loss).")
        var noFsync = false

        @Option(
            name: .customLong("parity"),
            help: ArgumentHelp(
                "Write Reed-Solomon parity of about PERCENT of each upload (1-100) beside it at completion (ID.parity).",
                discussion: "Audits then heal damaged chunks from it (POST /uploads/ID/audit; ?heal=no to only mark them).",
                valueName: "PERCENT"))
        var parity: String?

        func run() async throws {
            var options = ServerOptions()
            switch (tlsCertificate, tlsKey) {
            case (nil, nil): break
            case (let certificate?, let key?): options.tls = TLSFiles(certificateChain: FilePath(certificate), privateKey: FilePath(key))
            default: throw CommandFailure.badInput("--tls-cert and --tls-key go together: give both, or neither")
            }
            options.dataDirectory = FilePath(dataDirectory)
            options.host = host
            options.port = port
            options.token = token ?? Environment.value("UPLOADVERIFY_TOKEN")
            if let maxUploadSize { options.maxUploadSize = try ByteCount(parsing: maxUploadSize) }
            if let expireAfter { options.expireAfter = try DurationText.parse(expireAfter) }
            options.fsync = !noFsync
            options.chunkGrace = try DurationText.parse(chunkTimeout)
            options.minimumRate = try ByteCount(parsing: minimumChunkRate).bytes
            guard options.minimumRate > 0 else { throw CommandFailure.badInput("--min-chunk-rate must be above 0") }
            guard maxConnections > 0, maxOpenUploads > 0 else {
                throw CommandFailure.badInput("--max-connections and --max-open-uploads must be above 0")
            }
            options.maxConnections = maxConnections
            options.maxOpenUploads = maxOpenUploads
            options.headerTimeout = try DurationText.parse(headerTimeout)
            for origin in corsOrigins where origin != "*" && !(origin.hasPrefix("http://") || origin.hasPrefix("https://")) {
                throw CommandFailure.badInput("--cors-origin '\(origin)' is not an origin: write it as https://host[:port], or * for any")
            }
            options.corsOrigins = corsOrigins
            options.parityPercent = try parity.map { try ParityPercent.parse($0) }
            OpenFileLimit.raiseToHardLimit()
            options.crashProbe = try Environment.value(CrashSwitch.environmentVariable).map(CrashSwitch.parse)
            LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
            var logger = Logger(label: "uploadverify")
            logger.logLevel = Environment.value("LOG_LEVEL").flatMap(Logger.Level.init(rawValue:)) ?? .info
            try await runServer(options, logger: logger)
        }
    }
}

/// `24h`, `30m`, `90s`, `7d`, or plain seconds.
enum DurationText {
    static func parse(_ text: String) throws -> Duration {
        let units: [Character: Int64] = ["s": 1, "m": 60, "h": 3600, "d": 86400]
        var digits = Substring(text)
        var multiplier: Int64 = 1
        if let last = digits.last, let unit = units[last] {
            multiplier = unit
            digits = digits.dropLast()
        }
        guard let value = ASCIIDecimal.parse(digits), value > 0 else {
            throw CommandFailure.badInput("'\(text)' is not a duration: write e.g. 24h, 30m, 90s or 7d")
        }
        let (seconds, overflow) = value.multipliedReportingOverflow(by: multiplier)
        guard !overflow else { throw CommandFailure.badInput("'\(text)' is too long a duration") }
        return .seconds(seconds)
    }
}

enum Environment {
    static func value(_ name: String) -> String? {
        guard let pointer = getenv(name) else { return nil }
        return String(cString: pointer)
    }

    static var all: [String: String] {
        ["XDG_CACHE_HOME", "HOME"].reduce(into: [:]) { result, name in result[name] = value(name) }
    }
}

#if canImport(Glibc)
import Glibc
#endif
