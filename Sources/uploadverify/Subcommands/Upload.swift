import ArgumentParser
import SystemPackage
import UploadKit

extension UploadVerify {
    struct Upload: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Upload files or folders in chunks, several at a time, resumably; then confirm each one's SHA-256.",
            discussion: """
                Running the same command again after an interruption resumes: the upload of each file \
                (same path, size and modification time) is found in $XDG_CACHE_HOME/uploadverify, the server \
                says which chunks it holds, and only the rest are sent. A file already uploaded and confirmed \
                is not sent again.

                Several files, or a folder (walked, links inside it not followed), share one queue of \
                --concurrency requests, so that small files keep every connection busy. One line per file \
                (with --json, one JSON object per line), links and special files each reported as skipped, \
                and a last line that counts them. The exit code is the worst of the files': 1 when a file's \
                SHA-256 was not confirmed, 3 when one could not be sent, 2 when one could not be read.
                """
        )

        @Argument(help: "The files or folders to upload.")
        var paths: [String]

        @Option(help: "The server, e.g. http://127.0.0.1:8080.")
        var server: String?

        @Option(name: .customLong("id"), help: "Resume this upload URL (http://HOST:PORT/uploads/ID) explicitly (one file only).")
        var uploadURL: String?

        @Option(name: .customLong("chunk-size"), help: "Chunk size for a new upload, e.g. 8MiB (default 8MiB, raised for files over 256 GiB).")
        var chunkSize: String?

        @Option(help: "Requests in flight at once, over all the files.")
        var concurrency = 3

        @Option(help: "Write a manifest of the files uploaded (path, size, SHA-256, URL) to this file, for 'download --manifest'.")
        var manifest: String?

        @Flag(help: "Print {url, id, sha256, chunksSent, bytesSent} (for many files: one object per file and line, with path and status).")
        var json = false

        @OptionGroup var access: ServerAccess

        func validate() throws {
            guard !paths.isEmpty else { throw ValidationError("give a file or folder to upload") }
        }

        func run() async throws {
            let explicit = try uploadURL.map { try UploadURL(parsing: $0) }
            guard let base = try server.map({ try UploadURL.server($0) }) ?? explicit?.server else {
                throw CommandFailure.badInput("give --server http://HOST:PORT (or --id with an upload URL)")
            }
            guard (1...64).contains(concurrency) else { throw CommandFailure.badInput("--concurrency must be from 1 to 64") }
            var uploader = Uploader()
            uploader.concurrency = concurrency
            uploader.chunkSize = try chunkSize.map { try ByteCount(parsing: $0) }
            if paths.count == 1, manifest == nil, !InputFile.isFolder(paths[0]) {
                try await uploadOne(paths[0], server: base, explicit: explicit, uploader: uploader)
                return
            }
            guard explicit == nil else { throw CommandFailure.badInput("--id resumes one upload: give one file with it") }
            let status = try await UploadBatch(uploader: uploader, server: base, manifest: manifest, json: json, access: access)
                .run(FileTree.walk(paths))
            if status != .ok { throw ExitCode(status.rawValue) }
        }

        private func uploadOne(_ file: String, server: String, explicit: UploadURL?, uploader: Uploader) async throws {
            _ = try InputFile.open(file)
            let bar = TransferBar(title: "uploading \(file)")
            let outcome = try await access.makeClient(inFlight: concurrency).using { client in
                try await uploader.upload(
                    path: file, server: server, explicitURL: explicit, client: client,
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
