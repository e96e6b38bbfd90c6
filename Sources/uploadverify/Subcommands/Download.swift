import ArgumentParser
import UploadKit

extension UploadVerify {
    struct Download: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Download a complete upload in chunks, several at a time, resumably; each chunk checked before it is written.",
            discussion: """
                Each chunk is fetched with a ranged GET and written in place only once its XXH3 is the one the server \
                recorded; a chunk that arrives wrong is fetched again (3 attempts). FILE.chunkmap is written beside FILE, \
                so 'uploadverify verify FILE' works later without the server. Running the same command again after an \
                interruption re-hashes what is on disk and fetches only the rest. Exits 0 only when the SHA-256 read back \
                from the disk is the server's confirmed one.
                """
        )

        @Argument(help: "The upload URL (http://HOST:PORT/uploads/ID).")
        var url: String?

        @Option(
            name: [.customShort("o"), .customLong("output")],
            help: ArgumentHelp(
                "Where to write the file (default: the upload's filename, else its id, in the current directory).",
                discussion: "With --manifest, the folder the files go into (default: the current one)."))
        var output: String?

        @Option(help: "Download every file of this manifest (written by 'upload --manifest') to its path, each confirmed against the manifest's SHA-256.")
        var manifest: String?

        @Option(help: "Chunk requests in flight at once.")
        var concurrency = 3

        @Flag(help: "Take over FILE even when it is not a download of this upload (its chunks that match are kept).")
        var force = false

        @Flag(help: "Print {ok, path, url, id, sha256, chunksFetched, bytesFetched, chunksOnDisk}.")
        var json = false

        @OptionGroup var access: ServerAccess

        func validate() throws {
            guard (url == nil) != (manifest == nil) else { throw ValidationError("give an upload URL or --manifest M, not both") }
        }

        func run() async throws {
            guard (1...64).contains(concurrency) else { throw CommandFailure.badInput("--concurrency must be from 1 to 64") }
            var downloader = Downloader()
            downloader.concurrency = concurrency
            downloader.force = force
            if let manifest {
                let status = try await DownloadBatch(downloader: downloader, folder: output ?? ".", json: json, access: access)
                    .run(UploadManifest.read(from: manifest))
                if status != .ok { throw ExitCode(status.rawValue) }
                return
            }
            let address = try UploadURL(parsing: url!)
            let bar = TransferBar(title: "downloading \(output ?? address.id.rawValue)")
            let outcome: DownloadOutcome
            do {
                outcome = try await access.makeClient(inFlight: concurrency).using { client in
                    try await downloader.download(from: address, to: output, client: client, progress: bar)
                }
                bar.finish()
            } catch {
                // The error's line starts on a clean line, not after the bar.
                bar.finish()
                throw error
            }
            if json {
                try JSONOutput.print(
                    DownloadJSON(
                        ok: true, path: outcome.path, url: address.description, id: address.id.rawValue, sha256: outcome.sha256.description,
                        chunksFetched: outcome.chunksFetched, bytesFetched: outcome.bytesFetched, chunksOnDisk: outcome.chunksOnDisk))
            } else {
                Terminal.standardOutput.writeLine(
                    "downloaded \(outcome.path): \(outcome.chunksFetched) chunks fetched (\(outcome.bytesFetched) bytes), "
                        + "\(outcome.chunksOnDisk) already on disk; SHA-256 \(outcome.sha256) confirmed")
            }
        }
    }
}

struct DownloadJSON: Encodable {
    let ok: Bool
    let path: String
    let url: String
    let id: String
    let sha256: String
    let chunksFetched: Int
    let bytesFetched: Int64
    let chunksOnDisk: Int
}
