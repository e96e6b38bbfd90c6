/// A SHA-256 digest. Prints as the 64 lowercase hex digits `sha256sum` prints.
public struct SHA256Digest: Sendable, Hashable, CustomStringConvertible {
    public let bytes: [UInt8]

    public init<C: Collection>(bytes: C) where C.Element == UInt8 {
        precondition(bytes.count == 32, "a SHA-256 digest is 32 bytes")
        self.bytes = Array(bytes)
    }

    public init(hex: String) throws(DigestParseError) {
        self.bytes = try Hex.decode(hex, byteCount: 32)
    }

    public var description: String { Hex.encode(bytes) }
}
