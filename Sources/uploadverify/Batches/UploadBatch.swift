import Foundation
import UploadKit

/// `upload FILE... | DIR`: every file the walk found, through one client
/// (so one bound on requests in flight), a line for each as it ends, the
/// manifest when asked, and the exit code of the worst.
struct UploadBatch {
    let uploader: Uploader
    let server: String
    let manifest: String?
    let json: Bool
    let access: ServerAccess

    func run(_ entries: [FileTree.Entry]) async throws -> ExitStatus {
        let manifestPath = manifest.map(FileTree.absolutePath)
        var files = [FileTree.Entry]()
        var sizes = [Int64]()
        var firstOfRelative = [String: String]()
        let record = BatchRecord()
        let bar: BatchBar
        do {
            var total: Int64 = 0
            for entry in entries { if case .file(let size) = entry.kind { total += size } }
            bar = BatchBar(verb: "uploading", fileCount: entries.count, totalBytes: total)
        }
        for entry in entries {
            switch entry.kind {
            case .file(let size):
                if let manifestPath, FileTree.absolutePath(entry.path) == manifestPath {
                    report(entry, .skipped("the manifest this command writes"), bar: bar, record: record)
                } else if manifest != nil, let first = firstOfRelative[entry.relativePath] {
                    report(
                        entry, .failed(.badInput, "it would have the same path in the manifest as \(first) (\(entry.relativePath)): upload them apart"),
                        bar: bar, record: record)
                } else {
                    firstOfRelative[entry.relativePath] = entry.path
                    files.append(entry)
                    sizes.append(size)
                }
            case .skipped(let reason): report(entry, .skipped(reason.description), bar: bar, record: record)
            case .unreadable(let reason): report(entry, .failed(.badInput, "cannot be read: \(reason)"), bar: bar, record: record)
            }
        }
        let state = ResumeState(environment: Environment.all, writeInterval: .milliseconds(250))
        let progress = Locked([Int: FileProgress]())
        let chosen = files
        let chosenSizes = sizes
        try await access.makeClient(inFlight: uploader.concurrency).using { client in
            await uploader.uploadEach(
                chosen.map(\.path), server: server, client: client, state: state,
                progress: { index in
                    let file = bar.file()
                    progress.withLock { $0[index] = file }
                    return file
                },
                finished: { index, result in
                    let entry = chosen[index]
                    let fileProgress = progress.withLock { $0.removeValue(forKey: index) }
                    switch result {
                    case .success(let outcome):
                        report(entry, .uploaded(outcome, size: chosenSizes[index]), bar: bar, progress: fileProgress, record: record)
                    case .failure(let error):
                        let (status, message) = ExitStatus.describe(error)
                        report(entry, .failed(status, message), bar: bar, progress: fileProgress, record: record)
                    }
                })
        }
        bar.finish()
        let summary = record.summary
        if let manifest {
            try UploadManifest(files: summary.manifest).write(to: manifest)
        }
        if !json { Terminal.standardOutput.writeLine(summary.line + (manifest.map { "; manifest \($0)" } ?? "")) }
        return summary.status
    }

    /// How one entry ended.
    enum Ending {
        case uploaded(UploadOutcome, size: Int64)
        case skipped(String)
        case failed(ExitStatus, String)
    }

    private func report(
        _ entry: FileTree.Entry, _ ending: Ending, bar: BatchBar, progress: FileProgress? = nil, record: BatchRecord
    ) {
        record.add(entry, ending)
        let size: Int64 = if case .file(let size) = entry.kind { size } else { 0 }
        let line: String
        if json {
            line = JSONOutput.line(FileUploadJSON(entry, ending))
        } else {
            switch ending {
            case .uploaded(let outcome, _):
                let note = outcome.alreadyComplete ? "already uploaded and confirmed, nothing sent" : "\(counted(outcome.chunksSent, "chunk")) sent"
                line = "\(entry.path): uploaded \(outcome.url) sha256 \(outcome.sha256) (\(note))"
            case .skipped(let reason): line = "\(entry.path): skipped, \(reason)"
            case .failed(_, let message): line = "\(entry.path): failed: \(message)"
            }
        }
        bar.ended(progress, size: size, line: line)
    }
}

/// What a batch has done so far, from any task.
final class BatchRecord: Sendable {
    private struct Tally {
        var uploaded = 0
        var alreadyThere = 0
        var skipped = 0
        var failed = 0
        var bytesSent: Int64 = 0
        var statuses = [ExitStatus]()
        var manifest = [UploadManifest.File]()
    }

    private let tally = Locked(Tally())

    func add(_ entry: FileTree.Entry, _ ending: UploadBatch.Ending) {
        tally.withLock { tally in
            switch ending {
            case .uploaded(let outcome, let size):
                tally.uploaded += 1
                if outcome.alreadyComplete { tally.alreadyThere += 1 }
                tally.bytesSent += outcome.bytesSent
                tally.manifest.append(UploadManifest.File(path: entry.relativePath, size: size, sha256: outcome.sha256, url: outcome.url))
            case .skipped: tally.skipped += 1
            case .failed(let status, _):
                tally.failed += 1
                tally.statuses.append(status)
            }
        }
    }

    var summary: (line: String, status: ExitStatus, manifest: [UploadManifest.File]) {
        tally.withLock { tally in
            let files = tally.uploaded + tally.skipped + tally.failed
            var line = "\(files) \(files == 1 ? "entry" : "entries"): \(tally.uploaded) uploaded and confirmed"
            if tally.alreadyThere > 0 { line += " (\(tally.alreadyThere) of them already)" }
            line += ", \(tally.failed) failed, \(tally.skipped) skipped; \(tally.bytesSent) bytes sent"
            return (line, ExitStatus.worst(tally.statuses), tally.manifest)
        }
    }
}

/// One line of `upload DIR --json`.
struct FileUploadJSON: Encodable {
    let path: String
    let relativePath: String
    let status: String
    var size: Int64?
    var url: String?
    var id: String?
    var sha256: String?
    var chunksSent: Int?
    var bytesSent: Int64?
    var reason: String?
    var error: String?

    init(_ entry: FileTree.Entry, _ ending: UploadBatch.Ending) {
        path = entry.path
        relativePath = entry.relativePath
        switch ending {
        case .uploaded(let outcome, let size):
            status = outcome.alreadyComplete ? "already-uploaded" : "uploaded"
            self.size = size
            url = outcome.url.description
            id = outcome.url.id.rawValue
            sha256 = outcome.sha256.description
            chunksSent = outcome.chunksSent
            bytesSent = outcome.bytesSent
        case .skipped(let why):
            status = "skipped"
            reason = why
        case .failed(_, let message):
            status = "failed"
            error = message
        }
    }
}
