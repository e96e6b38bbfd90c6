import ArgumentParser
import SystemPackage
import UploadKit

extension UploadVerify {
    struct Diff: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the chunks (index, byte range) where A and B differ or are missing.",
            discussion: "A and B are files, .chunkmap files or upload URLs, of the same size and chunk size. Exits 1 when any chunk differs."
        )

        @Argument(help: "A file or a .chunkmap.")
        var a: String

        @Argument(help: "A file or a .chunkmap.")
        var b: String

        @Option(name: .customLong("chunk-size"), help: "Chunk size when both sides are plain files (default 8MiB).")
        var chunkSize: String?

        @Flag(help: "Print {\"chunks\": [{index, offset, length, reason}]}.")
        var json = false

        @OptionGroup var access: ServerAccess

        func run() async throws {
            let mapA = try await loadMap(a)
            let mapB = try await loadMap(b)
            let layout = try mapA?.layout ?? mapB?.layout ?? layoutForFiles()
            if chunkSize != nil, mapA != nil || mapB != nil, let given = try chunkSize.map(ByteCount.init(parsing:)), given != layout.chunkSize {
                throw CommandFailure.badInput("--chunk-size \(given.bytes) disagrees with the map's chunk size \(layout.chunkSize.bytes)")
            }
            let sideA = try mapA ?? mapFile(a, layout: layout)
            let sideB = try mapB ?? mapFile(b, layout: layout)
            let differences = try ChunkMapDiff.differences(sideA, sideB)
            if json {
                try JSONOutput.print(DiffJSON(chunks: differences.map(DiffJSON.Chunk.init), chunkCount: layout.chunkCount))
            } else {
                var lines = differences.map { "chunk \($0.index)\t\($0.range)\t\($0.range.length) bytes\t\($0.reason.rawValue)" }
                let bytes = differences.reduce(Int64(0)) { $0 + $1.range.length }
                lines.append(
                    differences.isEmpty
                        ? "identical: all \(layout.chunkCount) chunks match"
                        : "\(differences.count) of \(layout.chunkCount) chunks differ (\(bytes) bytes)")
                Terminal.standardOutput.writeLine(lines.joined(separator: "\n"))
            }
            if !differences.isEmpty { throw ExitCode(ExitStatus.integrityProblem.rawValue) }
        }

        /// The map of an upload URL (from its server) or of a `.chunkmap`; nil for a plain file.
        private func loadMap(_ path: String) async throws -> ChunkMap? {
            if case .upload(let url) = try Target(parsing: path) {
                return try await access.makeClient().using { try await $0.chunkMap(url) }
            }
            guard InputFile.isChunkMap(path) else { return nil }
            let file = try ChunkMapFile.open(FilePath(path))
            defer { try? file.close() }
            return try file.readMap()
        }

        private func layoutForFiles() throws -> ChunkLayout {
            let input = try InputFile.open(a)
            defer { try? input.close() }
            let size = ByteCount(try input.size())
            if let chunkSize { return try ChunkLayout(fileSize: size, chunkSize: ByteCount(parsing: chunkSize)) }
            return try ChunkLayout.automatic(fileSize: size)
        }

        private func mapFile(_ path: String, layout: ChunkLayout) throws -> ChunkMap {
            let input = try InputFile.open(path)
            defer { try? input.close() }
            let size = try input.size()
            guard size == layout.fileSize.bytes else {
                throw CommandFailure.badInput(
                    "\(path) is \(size) bytes where the other side describes \(layout.fileSize.bytes): diff compares chunk maps of one size and chunk size")
            }
            let scan = try InputFile.scan(input, layout: layout, computeSHA256: false, title: "hashing \(path)")
            return ChunkMap(layout: layout, digests: scan.chunkDigests, sha256: nil)
        }
    }
}

/// `diff --json`.
struct DiffJSON: Encodable {
    struct Chunk: Encodable {
        let index: Int
        let offset: Int64
        let length: Int64
        let reason: String

        init(_ difference: ChunkDifference) {
            index = difference.index.value
            offset = difference.range.offset
            length = difference.range.length
            reason = difference.reason.rawValue
        }
    }

    let chunks: [Chunk]
    let chunkCount: Int
}
