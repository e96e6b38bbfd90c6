import UploadKit

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A one-line progress bar on stderr: drawn only when stderr is a terminal,
/// at most ten times a second, from any thread.
final class ProgressBar: Sendable {
    private struct State {
        var lastDraw: Int64 = 0
        var drawn = false
    }

    private let title: String
    private let total: Int64
    private let started = monotonicNanoseconds()
    private let state = Locked(State())

    /// nil when nobody is watching (stderr is not a terminal).
    static func start(_ title: String, total: Int64) -> ProgressBar? {
        Terminal.standardError.isInteractive && total > 0 ? ProgressBar(title: title, total: total) : nil
    }

    private init(title: String, total: Int64) {
        self.title = title
        self.total = total
    }

    /// `done` bytes of `total` are through.
    func update(_ done: Int64) {
        let now = monotonicNanoseconds()
        let draw = state.withLock { state in
            guard now - state.lastDraw >= 100_000_000 || done == total else { return false }
            state.lastDraw = now
            state.drawn = true
            return true
        }
        guard draw else { return }
        let fraction = Double(done) / Double(total)
        let width = 30
        let filled = Int(fraction * Double(width))
        let seconds = Double(now - started) / 1e9
        let rate = seconds > 0 ? Double(done) / seconds : 0
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        let line = "\(title) [\(bar)] \(Int(fraction * 100))%  \(ByteFormat.short(done))/\(ByteFormat.short(total))  \(ByteFormat.short(Int64(rate)))/s"
        Terminal.standardError.write("\r\u{1B}[2K" + line)
    }

    /// Clears the line so the result prints on a clean one.
    func finish() {
        if state.withLock({ $0.drawn }) { Terminal.standardError.write("\r\u{1B}[2K") }
    }

    var reporter: @Sendable (Int64) -> Void { { [self] done in update(done) } }
}

enum ByteFormat {
    static func short(_ bytes: Int64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(bytes)
        var unit = 0
        while value >= 1024, unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(bytes) B" : "\(Double(Int(value * 10)) / 10) \(units[unit])"
    }
}

/// Nanoseconds since the first call: the Swift clock, because the C
/// `timespec` resolves to a different module's declaration depending on
/// which files of this target import Foundation (clean builds broke on it).
func monotonicNanoseconds() -> Int64 {
    let (seconds, attoseconds) = (ContinuousClock.now - clockOrigin).components
    return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
}

private let clockOrigin = ContinuousClock.now
