/// A request's `Content-Range: bytes S-E/T`, parsed strictly: the unit is
/// case-insensitive, then exactly one space, then ASCII digits only (no
/// sign, no hex, no other digit scripts, no lists), and every number is
/// checked for overflow instead of trapping.
public struct ContentRange: Sendable, Hashable {
    public let range: ByteRange
    public let completeLength: Int64

    public init(range: ByteRange, completeLength: Int64) {
        self.range = range
        self.completeLength = completeLength
    }

    public static func parse(_ value: String) throws(ContentRangeError) -> ContentRange {
        let scalars = Array(value.unicodeScalars)
        let unit = "bytes ".unicodeScalars
        guard scalars.count > unit.count,
            zip(scalars, unit).allSatisfy({ String($0.0).lowercased() == String($0.1) })
        else { throw .malformed(value) }
        let rest = scalars[unit.count...]
        guard let dash = rest.firstIndex(of: "-"), let slash = rest.firstIndex(of: "/"), dash < slash else {
            throw .malformed(value)
        }
        guard let first = ASCIIDecimal.parse(rest[rest.startIndex..<dash]),
            let last = ASCIIDecimal.parse(rest[rest.index(after: dash)..<slash]),
            let total = ASCIIDecimal.parse(rest[rest.index(after: slash)...])
        else { throw .malformed(value) }
        guard first <= last, last < total else { throw .unsatisfiable(value, completeLength: total) }
        // last < total <= Int64.max, so last - first + 1 cannot overflow.
        return ContentRange(range: ByteRange(offset: first, length: last - first + 1), completeLength: total)
    }

    public var headerValue: String { "bytes \(range.offset)-\(range.lastByte)/\(completeLength)" }
}

public enum ContentRangeError: Error, Equatable, CustomStringConvertible {
    /// Not of the form `bytes S-E/T` with decimal digits.
    case malformed(String)
    /// Well formed, but empty, inverted or past its own end.
    case unsatisfiable(String, completeLength: Int64)

    public var description: String {
        switch self {
        case .malformed(let value):
            return "Content-Range '\(value)' is not of the form 'bytes FIRST-LAST/LENGTH' with decimal digits"
        case .unsatisfiable(let value, _):
            return "Content-Range '\(value)' names no bytes: FIRST must be at most LAST, and LAST below LENGTH"
        }
    }
}
