import ArgumentParser
import SystemPackage
import UploadKit

extension UploadVerify {
    struct MapCreate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "create",
            abstract: "Hash FILE chunk by chunk (and whole, with SHA-256) and write its chunk map.",
            discussion: "The default: `uploadverify map FILE` runs this."
        )

        @Argument(help: "The file to map.")
        var file: String

        @Option(name: [.customShort("o"), .customLong("output")], help: "Where to write the map (default: FILE.chunkmap beside FILE).")
        var output: String?

        @Option(name: .customLong("chunk-size"), help: "Chunk size, e.g. 8MiB, 64KiB or 1048576 (default 8MiB, raised for files over 256 GiB).")
        var chunkSize: String?

        @Flag(name: .customLong("no-sha256"), help: "Skip the whole-file SHA-256 (faster; the map then records none).")
        var skipSHA256 = false

        func run() async throws {
            let destination = output ?? file + ".chunkmap"
            guard FilePath(destination).lexicallyNormalized() != FilePath(file).lexicallyNormalized() else {
                throw CommandFailure.badInput("the map would overwrite \(file): give another --output")
            }
            let input = try InputFile.open(file)
            let size = ByteCount(try input.size())
            let layout =
                try chunkSize.map { try ChunkLayout(fileSize: size, chunkSize: ByteCount(parsing: $0)) }
                ?? ChunkLayout.automatic(fileSize: size)
            let scan = try InputFile.scan(input, layout: layout, computeSHA256: !skipSHA256, title: "hashing \(file)")
            try input.close()
            let map = ChunkMap(layout: layout, digests: scan.chunkDigests, sha256: scan.sha256)
            try ChunkMapFile.write(map, to: FilePath(destination))
            let sha = scan.sha256.map { "sha256 \($0)" } ?? "no sha256"
            Terminal.standardOutput.writeLine(
                "\(destination): \(layout.chunkCount) chunks of \(layout.chunkSize), \(size.bytes) bytes, \(sha)")
        }
    }
}
