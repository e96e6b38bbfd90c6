/// A non-negative number of bytes.
///
/// Parses what people type (`8MiB`, `64KiB`, `1048576`, `1GB`) without ever
/// trapping: digits are scanned by hand (Swift's `Int("+1")` accepts a sign)
/// and every multiplication reports overflow.
public struct ByteCount: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let bytes: Int64

    public init(_ bytes: Int64) {
        precondition(bytes >= 0, "a byte count is never negative")
        self.bytes = bytes
    }

    public static func kibibytes(_ n: Int64) -> ByteCount { ByteCount(n * 1024) }
    public static func mebibytes(_ n: Int64) -> ByteCount { ByteCount(n * 1024 * 1024) }
    public static func gibibytes(_ n: Int64) -> ByteCount { ByteCount(n * 1024 * 1024 * 1024) }

    public static func < (lhs: ByteCount, rhs: ByteCount) -> Bool { lhs.bytes < rhs.bytes }

    /// Units accepted after the digits, case-insensitively. `K`, `KiB` are
    /// binary (1024); `KB` is decimal (1000), as dd and most drive makers use them.
    private static let units: [String: Int64] = [
        "": 1, "b": 1,
        "k": 1 << 10, "kib": 1 << 10, "kb": 1_000,
        "m": 1 << 20, "mib": 1 << 20, "mb": 1_000_000,
        "g": 1 << 30, "gib": 1 << 30, "gb": 1_000_000_000,
        "t": 1 << 40, "tib": 1 << 40, "tb": 1_000_000_000_000,
    ]

    /// Parses `"8MiB"`, `"64KiB"`, `"1048576"`, `"1 GiB"`.
    public init(parsing text: String) throws(ByteCountError) {
        var digits = Substring.UnicodeScalarView()
        var rest = Substring(text).unicodeScalars
        while let first = rest.first, first.isASCIIDigit {
            digits.append(first)
            rest.removeFirst()
        }
        guard !digits.isEmpty else { throw .notANumber(text) }
        let unit = String(String.UnicodeScalarView(rest)).trimmingSpaces().lowercased()
        guard let multiplier = Self.units[unit] else { throw .unknownUnit(text) }
        guard let value = ASCIIDecimal.parse(digits) else { throw .tooLarge(text) }
        let (product, overflow) = value.multipliedReportingOverflow(by: multiplier)
        guard !overflow else { throw .tooLarge(text) }
        self.init(product)
    }

    /// `8 MiB`, `1.5 GiB`, `100 B`: for people, not for parsing back.
    public var description: String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]
        var value = Double(bytes)
        var unit = 0
        while value >= 1024, unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        if unit == 0 { return "\(bytes) B" }
        if value == value.rounded() { return "\(Int64(value)) \(units[unit])" }
        let tenths = (value * 10).rounded() / 10
        return "\(tenths) \(units[unit])"
    }
}

public enum ByteCountError: Error, Equatable, CustomStringConvertible {
    case notANumber(String)
    case unknownUnit(String)
    case tooLarge(String)

    public var description: String {
        switch self {
        case .notANumber(let text):
            return "'\(text)' is not a byte count: write digits with an optional unit, e.g. 8MiB, 64KiB or 1048576"
        case .unknownUnit(let text):
            return "'\(text)' has an unknown unit: use B, KiB, MiB, GiB or TiB (or KB, MB, GB, TB for powers of 1000)"
        case .tooLarge(let text):
            return "'\(text)' is too large a byte count"
        }
    }
}

extension Unicode.Scalar {
    var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}

extension String {
    func trimmingSpaces() -> String {
        var scalars = Substring(self).unicodeScalars
        while scalars.first == " " { scalars.removeFirst() }
        while scalars.last == " " { scalars.removeLast() }
        return String(String.UnicodeScalarView(scalars))
    }
}

/// Decimal digits to an integer, refusing anything but ASCII `0`-`9` and
/// reporting overflow instead of trapping. Shared by every parser that reads
/// numbers from people or from the network.
public enum ASCIIDecimal {
    public static func parse<S: Sequence>(_ scalars: S) -> Int64? where S.Element == Unicode.Scalar {
        var value: Int64 = 0
        var sawDigit = false
        for scalar in scalars {
            guard scalar.isASCIIDigit else { return nil }
            let digit = Int64(scalar.value - 48)
            let (shifted, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = shifted.addingReportingOverflow(digit)
            if overflow1 || overflow2 { return nil }
            value = sum
            sawDigit = true
        }
        return sawDigit ? value : nil
    }

    public static func parse(_ text: Substring) -> Int64? { parse(text.unicodeScalars) }
    public static func parse(_ text: String) -> Int64? { parse(text.unicodeScalars) }
}
