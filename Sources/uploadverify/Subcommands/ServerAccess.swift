import ArgumentParser
import UploadKit

/// What every command that talks to a server takes.
struct ServerAccess: ParsableArguments {
    @Option(help: "Bearer token for a server started with --token (or set UPLOADVERIFY_TOKEN).")
    var token: String?

    @Option(name: .customLong("ca-file"), help: "PEM file of the CA that signed the server's certificate.")
    var caFile: String?

    /// `inFlight`: the command's `--concurrency`, for the commands that have one.
    func makeClient(inFlight: Int = 64) throws -> UploadClient {
        try UploadClient(token: token ?? Environment.value("UPLOADVERIFY_TOKEN"), caFile: caFile, inFlight: inFlight)
    }
}

extension UploadClient {
    /// Runs `body` and shuts the client down on every path.
    func using<T>(_ body: (UploadClient) async throws -> T) async throws -> T {
        do {
            let result = try await body(self)
            await shutdown()
            return result
        } catch {
            await shutdown()
            throw error
        }
    }
}
