import ArgumentParser
import SystemPackage
import UploadKit

extension UploadVerify {
    struct MapShow: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "show",
            abstract: "Print a chunk map: its header, then one line per chunk."
        )

        @Argument(help: "The .chunkmap file.")
        var map: String

        @Flag(help: "Print the chunk-map JSON of GET /uploads/{id}/chunks.")
        var json = false

        func run() async throws {
            let file = try ChunkMapFile.open(FilePath(map))
            let chunkMap = try file.readMap()
            try file.close()
            if json {
                try JSONOutput.print(ChunkMapDocument(chunkMap))
                return
            }
            let layout = chunkMap.layout
            let counts = Dictionary(grouping: chunkMap.chunks, by: \.name).mapValues(\.count)
            var lines = [
                "size        \(layout.fileSize.bytes) bytes (\(layout.fileSize))",
                "chunk size  \(layout.chunkSize.bytes) bytes (\(layout.chunkSize))",
                "chunks      \(layout.chunkCount): \(counts["verified", default: 0]) verified, \(counts["missing", default: 0]) missing, \(counts["corrupt", default: 0]) corrupt",
                "algorithm   xxh3-64",
                "state       \(chunkMap.status.state.rawValue)",
                "sha256      \(chunkMap.status.sha256?.description ?? "-")",
            ]
            if let expected = chunkMap.header.expectedSHA256 { lines.append("expected    \(expected)") }
            if !chunkMap.header.metadata.isEmpty { lines.append("metadata    \(chunkMap.header.metadata)") }
            lines.append("")
            lines.append("index\toffset\tlength\tstate\txxh3")
            for index in layout.indices {
                let range = layout.range(of: index)
                let state = chunkMap[index]
                lines.append("\(index)\t\(range.offset)\t\(range.length)\t\(state.name)\t\(state.digest?.description ?? "-")")
            }
            Terminal.standardOutput.writeLine(lines.joined(separator: "\n"))
        }
    }
}
