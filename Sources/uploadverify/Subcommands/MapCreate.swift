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

        @Argument(help: "The file to map, or a folder: every file in it that has no chunk map yet gets one.")
        var file: String

        @Option(name: [.customShort("o"), .customLong("output")], help: "Where to write the map (default: FILE.chunkmap beside FILE).")
        var output: String?

        @Option(name: .customLong("chunk-size"), help: "Chunk size, e.g. 8MiB, 64KiB or 1048576 (default 8MiB, raised for files over 256 GiB).")
        var chunkSize: String?

        @Flag(name: .customLong("no-sha256"), help: "Skip the whole-file SHA-256 (faster; the map then records none).")
        var skipSHA256 = false

        @Option(
            name: .customLong("parity"),
            help: ArgumentHelp(
                "Also write FILE.parity, Reed-Solomon parity of about PERCENT of the data (1-100, e.g. 10), in the same pass.",
                discussion: "Then 'uploadverify repair FILE' heals damaged chunks from it, without a copy.",
                valueName: "PERCENT"))
        var parity: String?

        func run() async throws {
            if InputFile.isFolder(file) {
                guard output == nil else { throw CommandFailure.badInput("a folder's maps go beside its files: leave out --output") }
                if parity != nil, skipSHA256 {
                    throw CommandFailure.badInput("--parity needs the SHA-256 (a heal ends by confirming it): leave out --no-sha256")
                }
                let tree = MapTree(
                    chunkSize: try chunkSize.map { try ByteCount(parsing: $0) }, computeSHA256: !skipSHA256,
                    parityPercent: try parity.map { try ParityPercent.parse($0) })
                let status = tree.run(file)
                if status != .ok { throw ExitCode(status.rawValue) }
                return
            }
            if let parity {
                try createWithParity(percent: try ParityPercent.parse(parity))
                return
            }
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

        /// The map and FILE.parity from one read of FILE.
        private func createWithParity(percent: Int) throws {
            guard !skipSHA256 else {
                throw CommandFailure.badInput("--parity needs the SHA-256 (a heal ends by confirming it): leave out --no-sha256")
            }
            guard output == nil else {
                throw CommandFailure.badInput(
                    "--parity writes \(file).chunkmap and \(file).parity beside \(file), where 'uploadverify repair \(file)' finds them: leave out --output")
            }
            let input = try InputFile.open(file)
            let size = ByteCount(try input.size())
            let chunks =
                try chunkSize.map { try ChunkLayout(fileSize: size, chunkSize: ByteCount(parsing: $0)) }
                ?? ChunkLayout.automatic(fileSize: size)
            let layout = try ParityLayout.forPercent(percent, chunks: chunks)
            let mapPath = file + ".chunkmap"
            let parityPath = file + ".parity"
            let bar = ProgressBar.start("hashing \(file) and its parity", total: size.bytes)
            let written: (map: ChunkMap, parity: ParityHeader)
            do {
                written = try ParityMapping.writeMapAndParity(
                    of: input, layout: layout, mapPath: FilePath(mapPath), parityPath: FilePath(parityPath), progress: bar?.reporter)
            } catch {
                bar?.finish()
                throw error
            }
            bar?.finish()
            try input.close()
            let share = Double(layout.parityShards * 1000 / layout.dataShards) / 10
            Terminal.standardOutput.writeLine(
                [
                    "\(mapPath): \(chunks.chunkCount) chunks of \(chunks.chunkSize), \(size.bytes) bytes, sha256 \(written.parity.sha256)",
                    "\(parityPath): \(layout.stripeCount) stripes of \(layout.dataShards) chunks + \(layout.parityShards) parity shards "
                        + "(\(share)% of the data, \(written.parity.fileLength) bytes); heals up to \(layout.parityShards) damaged chunks per stripe, "
                        + "or a run of up to \(layout.longestHealableRun) adjacent ones",
                ].joined(separator: "\n"))
        }
    }
}

/// `--parity PERCENT`: a whole percent from 1 to 100, with or without `%`.
enum ParityPercent {
    static func parse(_ text: String) throws -> Int {
        var digits = Substring(text)
        if digits.hasSuffix("%") { digits = digits.dropLast() }
        guard let value = ASCIIDecimal.parse(digits), (1...100).contains(value) else {
            throw CommandFailure.badInput("--parity takes a whole percent from 1 to 100 (e.g. 10 or 10%), not '\(text)'")
        }
        return Int(value)
    }
}
