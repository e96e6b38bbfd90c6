import ArgumentParser
import UploadKit

extension UploadVerify {
    struct Upload: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Upload FILE in chunks, several at a time, resumably; then confirm its SHA-256.",
            discussion: """
                Running the same command again after an interruption resumes: the upload of this file \
                (same path, size and modification time) is found in $XDG_CACHE_HOME/uploadverify, the server \
                says which chunks it holds, and only the rest are sent. A file already uploaded and confirmed \
                is not sent again.
                """
        )

        @Argument(help: "The file to upload.")
        var file: String

        @Option(help: "The server, e.g. http://127.0.0.1:8080.")
        var server: String?

        @Option(name: .customLong("id"), help: "Resume this upload URL (http://HOST:PORT/uploads/ID) explicitly.")
        var uploadURL: String?

        @Option(name: .customLong("chunk-size"), help: "Chunk size for a new upload, e.g. 8MiB (default 8MiB, raised for files over 256 GiB).")
        var chunkSize: String?

        @Option(help: "Chunk requests in flight at once.")
        var concurrency = 3

        @Flag(help: "Print {url, id, sha256, chunksSent, bytesSent}.")
        var json = false

        @OptionGroup var access: ServerAccess

        func run() async throws {
            let explicit = try uploadURL.map { try UploadURL(parsing: $0) }
            guard let base = try server.map({ try UploadURL.server($0) }) ?? explicit?.server else {
                throw CommandFailure.badInput("give --server http://HOST:PORT (or --id with an upload URL)")
            }
            guard (1...64).contains(concurrency) else { throw CommandFailure.badInput("--concurrency must be from 1 to 64") }
            _ = try InputFile.open(file)
            var uploader = Uploader()
            uploader.concurrency = concurrency
            uploader.chunkSize = try chunkSize.map { try ByteCount(parsing: $0) }
            let bar = TransferBar(title: "uploading \(file)")
            let outcome = try await access.makeClient().using { client in
                try await uploader.upload(
                    path: file, server: base, explicitURL: explicit, client: client,
                    state: ResumeState(environment: Environment.all), progress: bar)
            }
            bar.finish()
            if json {
                try JSONOutput.print(
                    UploadJSON(
                        url: outcome.url.description, id: outcome.url.id.rawValue, sha256: outcome.sha256.description,
                        chunksSent: outcome.chunksSent, bytesSent: outcome.bytesSent, alreadyComplete: outcome.alreadyComplete))
            } else {
                let note = outcome.alreadyComplete ? "already uploaded and confirmed; nothing sent" : "\(outcome.chunksSent) chunks sent"
                Terminal.standardOutput.writeLine("\(outcome.url)\nsha256 \(outcome.sha256)  (\(note))")
            }
        }
    }
}

struct UploadJSON: Encodable {
    let url: String
    let id: String
    let sha256: String
    let chunksSent: Int
    let bytesSent: Int64
    let alreadyComplete: Bool
}
