/// An XXH3-64 (seed 0) digest. Prints as the 16 lowercase hex digits
/// `xxhsum -H3` prints; its bytes are the canonical big-endian form.
public struct XXH3Digest: Sendable, Hashable, CustomStringConvertible {
    public let value: UInt64

    public init(_ value: UInt64) { self.value = value }

    public init(hex: String) throws(DigestParseError) {
        let bytes = try Hex.decode(hex, byteCount: 8)
        self.init(bigEndianBytes: bytes)
    }

    public init<C: Collection>(bigEndianBytes bytes: C) where C.Element == UInt8 {
        precondition(bytes.count == 8, "an XXH3-64 digest is 8 bytes")
        self.value = bytes.reduce(0) { $0 << 8 | UInt64($1) }
    }

    /// The canonical form: 8 bytes, most significant first.
    public var bigEndianBytes: [UInt8] {
        (0..<8).map { UInt8(truncatingIfNeeded: value >> (56 - 8 * $0)) }
    }

    public var description: String { Hex.encode(bigEndianBytes) }
}
