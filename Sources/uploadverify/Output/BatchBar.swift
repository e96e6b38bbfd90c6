import UploadKit

/// One progress line on stderr for a command over many files: files ended
/// of all, bytes, rate. Each file's result line is printed above it (on
/// stdout), so that a person sees results as they come and the bar stays
/// last. Silent when stderr is not a terminal; the result lines print either way.
final class BatchBar: Sendable {
    private struct State {
        var done: Int64 = 0
        var movedThisRun: Int64 = 0
        var filesEnded = 0
        var retries = 0
        var lastDraw: Int64 = 0
        var drawn = false
    }

    private let verb: String
    private let totalBytes: Int64
    private let fileCount: Int
    private let interactive = Terminal.standardError.isInteractive
    private let started = monotonicNanoseconds()
    private let state = Locked(State())

    init(verb: String, fileCount: Int, totalBytes: Int64) {
        self.verb = verb
        self.fileCount = fileCount
        self.totalBytes = totalBytes
    }

    /// What one file's transfer reports into this bar.
    func file() -> FileProgress { FileProgress(bar: self) }

    /// A file ended (sent, failed or skipped): `size` bytes of it count as
    /// done, less what its progress already counted; `line` is printed.
    func ended(_ progress: FileProgress?, size: Int64, line: String) {
        let counted = progress?.counted ?? 0
        state.withLock {
            $0.filesEnded += 1
            $0.done += max(0, size - counted)
        }
        print(line)
        draw(force: true)
    }

    /// A line above the bar.
    func print(_ line: String) {
        state.withLock { state in
            if state.drawn { Terminal.standardError.write("\r\u{1B}[2K") }
            state.drawn = false
            Terminal.standardOutput.writeLine(line)
        }
    }

    fileprivate func add(done: Int64, moved: Int64) {
        state.withLock {
            $0.done += done
            $0.movedThisRun += moved
        }
        draw(force: false)
    }

    fileprivate func retried() {
        state.withLock { $0.retries += 1 }
        draw(force: true)
    }

    private func draw(force: Bool) {
        guard interactive else { return }
        let now = monotonicNanoseconds()
        state.withLock { state in
            guard force || now - state.lastDraw >= 100_000_000 else { return }
            state.lastDraw = now
            state.drawn = true
            let seconds = Double(now - started) / 1e9
            let rate = seconds > 0 ? Double(state.movedThisRun) / seconds : 0
            let fraction = totalBytes > 0 ? min(1, Double(state.done) / Double(totalBytes)) : 1
            let filled = Int(fraction * 24)
            let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: 24 - filled)
            var line = "\(verb) \(state.filesEnded)/\(fileCount) files [\(bar)] \(Int(fraction * 100))%"
            line += "  \(ByteFormat.short(state.done))/\(ByteFormat.short(totalBytes))  \(ByteFormat.short(Int64(rate)))/s"
            if state.retries > 0 { line += "  \(state.retries) retries" }
            Terminal.standardError.write("\r\u{1B}[2K" + line)
        }
    }

    func finish() {
        state.withLock { state in
            if state.drawn { Terminal.standardError.write("\r\u{1B}[2K") }
            state.drawn = false
        }
    }
}

/// One file's share of a `BatchBar`.
final class FileProgress: UploadProgress, Sendable {
    private let bar: BatchBar
    private let total = Locked<Int64>(0)

    fileprivate init(bar: BatchBar) { self.bar = bar }

    /// The bytes of this file the bar has counted so far.
    var counted: Int64 { total.withLock { $0 } }

    func started(totalBytes: Int64, alreadyOnServer: Int64, chunkCount: Int) {
        total.withLock { $0 += alreadyOnServer }
        bar.add(done: alreadyOnServer, moved: 0)
    }

    func chunkSent(bytes: Int64) {
        total.withLock { $0 += bytes }
        bar.add(done: bytes, moved: bytes)
    }

    func retrying(chunk: ChunkIndex, after error: ClientError) { bar.retried() }
}
