import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A named point of a chunk write where a test-only switch makes the
/// server kill itself, to prove that a crash there loses nothing
/// acknowledged and verifies nothing unfinished.
public enum CrashPoint: String, Sendable, CaseIterable {
    case afterDataWrite = "after-data-write"
    case afterDataSync = "after-data-sync"
    case afterMapEntry = "after-map-entry"
    case beforeResponse = "before-response"
}

/// `UPLOADVERIFY_CRASH_AT=POINT` or `POINT:N` (the N-th chunk to reach it,
/// default the first): read once at start-up. The process then ends with
/// SIGKILL, as `kill -9` would end it: no cleanup, no flush.
public final class CrashSwitch: Sendable {
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

    func passing(_ point: CrashPoint) {
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

extension Optional where Wrapped == CrashSwitch {
    /// Dies here when the switch names this point (and this is its N-th time).
    func passing(_ point: CrashPoint) {
        if case .some(let crashSwitch) = self { crashSwitch.passing(point) }
    }
}
