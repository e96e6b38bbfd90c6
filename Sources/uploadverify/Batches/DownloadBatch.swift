import Foundation
import UploadKit

/// `download --manifest M [-o DIR]`: every file of the manifest fetched
/// through one client (one bound on requests in flight) to DIR/PATH, each
/// as `download URL -o DIR/PATH` would, and then held to the manifest's
/// SHA-256 as well: a server whose upload now holds other bytes than the
/// ones the manifest recorded is an integrity problem, not a download.
struct DownloadBatch {
    let downloader: Downloader
    let folder: String
    let json: Bool
    let access: ServerAccess

    func run(_ manifest: UploadManifest) async throws -> ExitStatus {
        let files = manifest.files
        let bar = BatchBar(verb: "downloading", fileCount: files.count, totalBytes: files.reduce(0) { $0 + $1.size })
        let statuses = Locked([ExitStatus]())
        let fetchedBytes = Locked<Int64>(0)
        let downloader = self.downloader
        let folder = self.folder
        try await access.makeClient(inFlight: downloader.concurrency).using { client in
            await FileBatch.run(
                count: files.count, width: FileBatch.width(forConcurrency: downloader.concurrency),
                { index in
                    let file = files[index]
                    let target = folder.hasSuffix("/") ? folder + file.path : folder + "/" + file.path
                    try FileManager.default.createDirectory(
                        atPath: (target as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                    let progress = bar.file()
                    let outcome = try await downloader.download(from: UploadURL(parsing: file.url), to: target, client: client, progress: progress)
                    guard outcome.sha256.description == file.sha256 else {
                        throw CommandFailure(
                            status: .integrityProblem,
                            message: "the server's upload now has SHA-256 \(outcome.sha256), not the manifest's \(file.sha256): "
                                + "it holds other bytes than the ones uploaded")
                    }
                    return (outcome, progress)
                },
                finished: { index, result in
                    let file = files[index]
                    switch result {
                    case .success(let (outcome, progress)):
                        fetchedBytes.withLock { $0 += outcome.bytesFetched }
                        bar.ended(progress, size: file.size, line: line(file, outcome: outcome, error: nil))
                    case .failure(let error):
                        let (status, message) = ExitStatus.describe(error)
                        statuses.withLock { $0.append(status) }
                        bar.ended(nil, size: file.size, line: line(file, outcome: nil, error: message))
                    }
                })
        }
        bar.finish()
        let failed = statuses.withLock { $0 }
        if !json {
            Terminal.standardOutput.writeLine(
                "\(counted(files.count, "file")): \(files.count - failed.count) downloaded and confirmed, \(failed.count) failed; "
                    + "\(fetchedBytes.withLock { $0 }) bytes fetched")
        }
        return ExitStatus.worst(failed)
    }

    private func line(_ file: UploadManifest.File, outcome: DownloadOutcome?, error: String?) -> String {
        if json {
            let entry = FileDownloadJSON(
                ok: outcome != nil, path: outcome?.path ?? file.path, manifestPath: file.path, url: file.url, sha256: file.sha256,
                chunksFetched: outcome?.chunksFetched, bytesFetched: outcome?.bytesFetched, chunksOnDisk: outcome?.chunksOnDisk, error: error)
            return JSONOutput.line(entry)
        }
        guard let outcome else { return "\(file.path): failed: \(error ?? "")" }
        let fetched = counted(outcome.chunksFetched, "chunk")
        return "\(outcome.path): downloaded, SHA-256 \(outcome.sha256) confirmed (\(fetched) fetched, \(outcome.chunksOnDisk) already on disk)"
    }
}

/// One line of `download --manifest M --json`.
struct FileDownloadJSON: Encodable {
    let ok: Bool
    let path: String
    let manifestPath: String
    let url: String
    let sha256: String
    let chunksFetched: Int?
    let bytesFetched: Int64?
    let chunksOnDisk: Int?
    let error: String?
}
