import ArgumentParser
import UploadKit

extension UploadVerify {
    struct Repair: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Move only the chunks where TARGET differs from SOURCE, then confirm the whole file's SHA-256.",
            discussion: """
                TARGET and SOURCE are local files or upload URLs. Push (TARGET a URL): the server audits its copy, \
                and only its corrupt or missing chunks are sent, then it completes from its disk. Pull (SOURCE a URL): \
                only the differing chunks are fetched with ranged GETs and written in place. Between a file and a server, \
                a chunk both sides hold with other bytes moves by its blocks (--block-size) when at most half of it \
                differs: only the differing blocks cross the wire, and the chunk must then match its recorded XXH3 \
                as a whole. Local to local: only the differing chunks are copied. A damaged SOURCE is refused. \
                Without --from, a local TARGET is healed from TARGET.parity (made by 'map TARGET --parity PERCENT'): \
                its damaged chunks are rebuilt and written in place, or, when the damage is more than the parity covers, nothing is changed. \
                Exits 0 only when the SHA-256 is confirmed.
                """
        )

        @Argument(help: "What to repair: a file or an upload URL.")
        var target: String

        @Option(help: "A good copy: a file or an upload URL (without it, a local TARGET heals from TARGET.parity).")
        var from: String?

        @Option(help: "Chunk requests in flight at once.")
        var concurrency = 3

        @Option(
            name: .customLong("block-size"),
            help: "Blocks compared inside a chunk that differs: a power of two from 4KiB; at or above the chunk size, chunks move whole.")
        var blockSize = "64KiB"

        @Flag(help: "Print {ok, chunksMoved, blocksMoved, bytesMoved, sha256}.")
        var json = false

        @OptionGroup var access: ServerAccess

        func run() async throws {
            guard let from else {
                try healFromParity()
                return
            }
            var repairer = Repairer()
            repairer.concurrency = concurrency
            repairer.blockSize = try parsedBlockSize()
            let outcome: RepairOutcome
            switch (try Target(parsing: target), try Target(parsing: from)) {
            case (.upload(let url), .file(let source)):
                _ = try InputFile.open(source)
                outcome = try await access.makeClient(inFlight: concurrency).using { try await repairer.push(from: source, to: url, client: $0) }
            case (.file(let path), .upload(let url)):
                outcome = try await access.makeClient(inFlight: concurrency).using { try await repairer.pull(from: url, to: path, client: $0) }
            case (.file(let path), .file(let source)):
                _ = try InputFile.open(source)
                outcome = try await repairer.local(from: source, to: path)
            case (.upload, .upload):
                throw CommandFailure.badInput("server to server is not supported: pull into a local file, then push it")
            }
            if json {
                try JSONOutput.print(
                    RepairJSON(
                        ok: true, chunksMoved: outcome.chunksMoved, blocksMoved: outcome.blocksMoved, bytesMoved: outcome.bytesMoved,
                        sha256: outcome.sha256.description))
            } else {
                let blocks = outcome.blocksMoved == 0 ? "" : ", \(outcome.blocksMoved) blocks"
                Terminal.standardOutput.writeLine(
                    "repaired \(target): \(outcome.chunksMoved) chunks moved (\(outcome.bytesMoved) bytes\(blocks)); SHA-256 \(outcome.sha256) confirmed")
            }
        }

        /// `--block-size`: a size as every size option takes it, then a power
        /// of two from 4 KiB to the largest chunk size.
        private func parsedBlockSize() throws -> Int64 {
            let size = try ByteCount(parsing: blockSize).bytes
            do throws(BlockSizeError) {
                try ChunkBlocks.check(size, chunkSize: ChunkLayout.maximumChunkSize.bytes)
            } catch {
                throw CommandFailure.badInput("--block-size: \(error.description)")
            }
            return size
        }
    }
}

struct RepairJSON: Encodable {
    let ok: Bool
    let chunksMoved: Int
    /// Blocks moved by block-level repair (0 when every chunk moved whole).
    let blocksMoved: Int
    let bytesMoved: Int64
    let sha256: String
}
