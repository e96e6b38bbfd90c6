/// An upload's id: 128 random bits as 32 lowercase hex digits.
///
/// Ids are made by the server only, and every id that arrives in a request
/// is checked against this exact pattern before any path is built from it,
/// so an id can never name anything outside the data directory (no `/`,
/// `.`, `%` or NUL can pass).
public struct UploadID: Sendable, Hashable, CustomStringConvertible {
    public static let length = 32
    public let rawValue: String

    /// Validates untrusted text; nil unless it is exactly 32 of `0-9a-f`.
    public init?(_ text: some StringProtocol) {
        let utf8 = text.utf8
        guard utf8.count == Self.length, utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) }) else {
            return nil
        }
        rawValue = String(text)
    }

    /// A new random id, from the system's CSPRNG.
    public static func random() -> UploadID {
        var generator = SystemRandomNumberGenerator()
        let high = generator.next() as UInt64
        let low = generator.next() as UInt64
        let bytes =
            (0..<8).map { UInt8(truncatingIfNeeded: high >> (56 - 8 * $0)) }
            + (0..<8).map { UInt8(truncatingIfNeeded: low >> (56 - 8 * $0)) }
        return UploadID(Hex.encode(bytes))!
    }

    public var description: String { rawValue }
}
