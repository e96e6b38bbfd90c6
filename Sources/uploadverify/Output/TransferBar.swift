import UploadKit

/// The upload's progress line on a terminal: bytes, rate, time left, chunks
/// verified, retries. Silent when stderr is not a terminal.
final class TransferBar: UploadProgress, Sendable {
    private struct State {
        var total: Int64 = 0
        var done: Int64 = 0
        var sentThisRun: Int64 = 0
        var chunks = 0
        var chunkCount = 0
        var retries = 0
        var lastDraw: Int64 = 0
        var drawn = false
    }

    private let title: String
    private let interactive = Terminal.standardError.isInteractive
    private let started = monotonicNanoseconds()
    private let state = Locked(State())

    init(title: String) { self.title = title }

    func started(totalBytes: Int64, alreadyOnServer: Int64, chunkCount: Int) {
        state.withLock {
            $0.total = totalBytes
            $0.done = alreadyOnServer
            $0.chunkCount = chunkCount
        }
        draw(force: true)
    }

    func chunkSent(bytes: Int64) {
        state.withLock {
            $0.done += bytes
            $0.sentThisRun += bytes
            $0.chunks += 1
        }
        draw(force: false)
    }

    func retrying(chunk: ChunkIndex, after error: ClientError) {
        state.withLock { $0.retries += 1 }
        draw(force: true)
    }

    private func draw(force: Bool) {
        guard interactive else { return }
        let now = monotonicNanoseconds()
        guard
            let snapshot = state.withLock({ state -> State? in
                guard force || now - state.lastDraw >= 100_000_000 else { return nil }
                state.lastDraw = now
                state.drawn = true
                return state
            })
        else { return }
        let seconds = Double(now - started) / 1e9
        let rate = seconds > 0 ? Double(snapshot.sentThisRun) / seconds : 0
        let left = rate > 0 ? Int(Double(snapshot.total - snapshot.done) / rate) : 0
        let fraction = snapshot.total > 0 ? Double(snapshot.done) / Double(snapshot.total) : 1
        let filled = Int(fraction * 24)
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: 24 - filled)
        var line = "\(title) [\(bar)] \(Int(fraction * 100))%  \(ByteFormat.short(snapshot.done))/\(ByteFormat.short(snapshot.total))"
        line += "  \(ByteFormat.short(Int64(rate)))/s  \(left / 60)m\(left % 60)s left  \(snapshot.chunks) chunks"
        if snapshot.retries > 0 { line += "  \(snapshot.retries) retries" }
        Terminal.standardError.write("\r\u{1B}[2K" + line)
    }

    func finish() {
        if state.withLock({ $0.drawn }) { Terminal.standardError.write("\r\u{1B}[2K") }
    }
}
