import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A named point of a chunk write, an append, a concatenation or a block write where a test-only probe
/// stops the store as a crash would, to prove that a crash there loses
/// nothing acknowledged and verifies nothing unfinished.
public enum CrashPoint: String, Sendable, CaseIterable {
    case afterDataWrite = "after-data-write"
    case afterDataSync = "after-data-sync"
    case afterMapEntry = "after-map-entry"
    case beforeResponse = "before-response"
    /// An append wrote bytes, before syncing them.
    case afterAppendWrite = "after-append-write"
    /// An append synced its bytes, before committing the chunks they filled.
    case afterAppendSync = "after-append-sync"
    /// An append committed a chunk's entry, before recording its new offset.
    case afterAppendEntry = "after-append-entry"
    /// An append recorded its new offset, before answering.
    case afterAppendOffset = "after-append-offset"
    /// A concatenation copied its parts' bytes into the new upload (and
    /// synced them), before hashing them and writing its map complete.
    case afterConcatenateCopy = "after-concatenate-copy"
    /// A block write wrote its bytes into a corrupt chunk, before syncing them.
    case afterBlockWrite = "after-block-write"
    /// A block write synced its bytes (or would have, under `--no-fsync`),
    /// before re-hashing the chunk and committing its entry.
    case afterBlockSync = "after-block-sync"
    /// A block write that made its chunk whole wrote its entry `verified`,
    /// before syncing it and answering.
    case afterBlockEntry = "after-block-entry"

    /// The points a chunk `PUT` passes.
    public static let inChunkWrite: [CrashPoint] = [.afterDataWrite, .afterDataSync, .afterMapEntry, .beforeResponse]
    /// The points an append passes.
    public static let inAppend: [CrashPoint] = [.afterAppendWrite, .afterAppendSync, .afterAppendEntry, .afterAppendOffset]
    /// The points a block write passes (the last only when it verifies its chunk).
    public static let inBlockWrite: [CrashPoint] = [.afterBlockWrite, .afterBlockSync, .afterBlockEntry]
}

/// Asked at each `CrashPoint`. It either returns, or ends the work there as
/// a crash would: the process killed (`CrashSwitch`), or, in tests of the
/// store alone, an error that the store passes up without any clean-up
/// (`CrashPointReached`), so that the files hold exactly what a crash there
/// would leave (the page cache survives a process's death).
public protocol CrashProbe: Sendable {
    func passing(_ point: CrashPoint) throws(CrashPointReached)
}

/// Thrown by a test's probe; the store does no clean-up when it sees it.
public struct CrashPointReached: Error, Sendable {
    public let point: CrashPoint
    public init(_ point: CrashPoint) { self.point = point }
}

/// `UPLOADVERIFY_CRASH_AT=POINT` or `POINT:N` (the N-th chunk to reach it,
/// default the first): read once at start-up. The process then ends with
/// SIGKILL, as `kill -9` would end it: no cleanup, no flush.
public final class CrashSwitch: CrashProbe {
    public static let environmentVariable = "UPLOADVERIFY_CRASH_AT"

    public let point: CrashPoint
    public let occurrence: Int
    private let reached = Atomic<Int>(0)

    public init(point: CrashPoint, occurrence: Int = 1) {
        self.point = point
        self.occurrence = occurrence
    }

    /// `POINT` or `POINT:N`; an error names the accepted values.
    public static func parse(_ text: String) throws(CrashSwitchError) -> CrashSwitch {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), let point = CrashPoint(rawValue: String(parts[0])) else { throw CrashSwitchError(text: text) }
        var occurrence = 1
        if parts.count == 2 {
            guard let n = ASCIIDecimal.parse(parts[1]), n >= 1, n <= Int64(Int32.max) else { throw CrashSwitchError(text: text) }
            occurrence = Int(n)
        }
        return CrashSwitch(point: point, occurrence: occurrence)
    }

    public func passing(_ point: CrashPoint) {
        guard point == self.point, reached.add(1, ordering: .relaxed).newValue == occurrence else { return }
        kill(getpid(), SIGKILL)
    }
}

public struct CrashSwitchError: Error, CustomStringConvertible {
    let text: String
    public var description: String {
        "\(CrashSwitch.environmentVariable)='\(text)' is not a crash point: write one of "
            + CrashPoint.allCases.map(\.rawValue).joined(separator: ", ") + ", optionally followed by :N"
    }
}

extension Optional where Wrapped == any CrashProbe {
    /// Stops here when the probe names this point (and this is its N-th time).
    func passing(_ point: CrashPoint) throws(CrashPointReached) {
        if case .some(let probe) = self { try probe.passing(point) }
    }
}
