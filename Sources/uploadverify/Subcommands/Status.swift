import ArgumentParser
import UploadKit

extension UploadVerify {
    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show an upload's handshake: received of total, missing ranges, and a picture of the chunk bitmap."
        )

        @Argument(help: "The upload URL, http://HOST:PORT/uploads/ID.")
        var url: String

        @Flag(help: "Print the chunk-map JSON (as GET /uploads/{id}/chunks) plus the handshake's fields.")
        var json = false

        @OptionGroup var access: ServerAccess

        func run() async throws {
            let upload = try UploadURL(parsing: url)
            let (status, map) = try await access.makeClient().using { client in
                (try await client.handshake(upload), json ? try await client.chunkMap(upload) : nil)
            }
            if let map {
                try JSONOutput.print(StatusJSON(map: ChunkMapDocument(map), status: status))
                return
            }
            let layout = status.layout
            var lines = [
                "\(upload)",
                "received  \(status.verifiedChunks) of \(layout.chunkCount) chunks, \(status.received) of \(layout.fileSize.bytes) bytes (\(ByteFormat.short(status.received)) of \(ByteFormat.short(layout.fileSize.bytes)))",
                "state     \(status.isComplete ? "complete" : "receiving")" + (status.sha256.map { ", sha256 \($0)" } ?? ""),
            ]
            let missing = status.missingRanges
            if !missing.isEmpty {
                lines.append(
                    "missing   " + missing.prefix(8).map { "\($0)" }.joined(separator: ", ") + (missing.count > 8 ? ", … (\(missing.count) ranges)" : ""))
            }
            lines.append(BitmapPicture.draw(status.bitmap, width: 64))
            Terminal.standardOutput.writeLine(lines.joined(separator: "\n"))
        }
    }
}

/// `status --json`: the chunk-map JSON plus the handshake.
struct StatusJSON: Encodable {
    let map: ChunkMapDocument
    let status: Handshake

    enum Keys: String, CodingKey { case offset, received, receivedChunks, complete }

    func encode(to encoder: any Encoder) throws {
        try map.encode(to: encoder)
        var container = encoder.container(keyedBy: Keys.self)
        try container.encode(status.offset, forKey: .offset)
        try container.encode(status.received, forKey: .received)
        try container.encode(status.verifiedChunks, forKey: .receivedChunks)
        try container.encode(status.isComplete, forKey: .complete)
    }
}

/// The bitmap as rows of cells: `#` every chunk of the cell verified, `+`
/// some, `.` none.
enum BitmapPicture {
    static func draw(_ bitmap: ChunkBitmap, width: Int) -> String {
        let count = bitmap.chunkCount
        guard count > 0 else { return "[]" }
        let cells = min(count, width * 4)
        var rows = [String]()
        var row = ""
        for cell in 0..<cells {
            let first = cell * count / cells
            let last = max(first, (cell + 1) * count / cells - 1)
            let verified = (first...last).filter { bitmap[ChunkIndex($0)] }.count
            row.append(verified == last - first + 1 ? "#" : verified > 0 ? "+" : ".")
            if row.count == width {
                rows.append("[\(row)]")
                row = ""
            }
        }
        if !row.isEmpty { rows.append("[\(row)]") }
        let scale = cells == count ? "one cell per chunk" : "one cell per \(count / cells)-\((count + cells - 1) / cells) chunks"
        return rows.joined(separator: "\n") + "\n(\(scale): # verified, + partly, . missing)"
    }
}
