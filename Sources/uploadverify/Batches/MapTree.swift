import SystemPackage
import UploadKit

/// `map DIR`: a chunk map beside every file of the tree that has none.
/// A file that already has one keeps it: the map is the record of what the
/// file was, and mapping the file again would make its damage the new
/// truth. One line per file, the exit code of the worst.
struct MapTree {
    let chunkSize: ByteCount?
    let computeSHA256: Bool
    /// `--parity PERCENT`: FILE.parity beside each new map.
    let parityPercent: Int?

    func run(_ folder: String) -> ExitStatus {
        let tree = SidecarFiles(FileTree.walk([folder]))
        var statuses = [ExitStatus]()
        var mappedCount = 0
        var kept = 0
        for entry in tree.others {
            let (line, status) = SidecarFiles.line(for: entry)
            Terminal.standardOutput.writeLine(line)
            statuses.append(status)
        }
        for entry in tree.orphanMaps {
            Terminal.standardOutput.writeLine("\(entry.path): skipped, a chunk map whose file is not there")
        }
        for entry in tree.orphanParity {
            Terminal.standardOutput.writeLine("\(entry.path): skipped, parity whose file is not there")
        }
        for file in tree.files {
            if tree.hasMap(file) {
                kept += 1
                Terminal.standardOutput.writeLine("\(file.path): has a chunk map, kept (remove \(file.path).chunkmap to map the file afresh)")
                continue
            }
            do {
                Terminal.standardOutput.writeLine("\(file.path): " + (try map(file.path)))
                mappedCount += 1
            } catch {
                let (status, message) = ExitStatus.describe(error)
                statuses.append(status)
                Terminal.standardOutput.writeLine("\(file.path): failed: \(message)")
            }
        }
        let failed = statuses.filter { $0 != .ok }.count
        Terminal.standardOutput.writeLine("\(counted(tree.files.count, "file")): \(mappedCount) mapped, \(kept) kept their map, \(failed) failed")
        return ExitStatus.worst(statuses)
    }

    private func map(_ path: String) throws -> String {
        let input = try InputFile.open(path)
        defer { try? input.close() }
        let size = ByteCount(try input.size())
        let chunks = try chunkSize.map { try ChunkLayout(fileSize: size, chunkSize: $0) } ?? ChunkLayout.automatic(fileSize: size)
        if let parityPercent {
            let layout = try ParityLayout.forPercent(parityPercent, chunks: chunks)
            let written = try ParityMapping.writeMapAndParity(
                of: input, layout: layout, mapPath: FilePath(path + ".chunkmap"), parityPath: FilePath(path + ".parity"), progress: nil)
            return "mapped, \(counted(chunks.chunkCount, "chunk")) of \(chunks.chunkSize), sha256 \(written.parity.sha256), parity \(path).parity"
        }
        let scan = try InputFile.scan(input, layout: chunks, computeSHA256: computeSHA256, title: "hashing \(path)")
        try ChunkMapFile.write(ChunkMap(layout: chunks, digests: scan.chunkDigests, sha256: scan.sha256), to: FilePath(path + ".chunkmap"))
        return "mapped, \(counted(chunks.chunkCount, "chunk")) of \(chunks.chunkSize)" + (scan.sha256.map { ", sha256 \($0)" } ?? "")
    }
}
