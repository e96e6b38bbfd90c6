/// A half-open range of bytes in a file: `[offset, offset + length)`.
public struct ByteRange: Sendable, Hashable, CustomStringConvertible {
    public let offset: Int64
    public let length: Int64

    public init(offset: Int64, length: Int64) {
        precondition(offset >= 0 && length >= 0, "a byte range starts at or after 0 and is not negative")
        precondition(offset <= Int64.max - length, "a byte range ends before Int64.max")
        self.offset = offset
        self.length = length
    }

    /// One past the last byte.
    public var end: Int64 { offset + length }

    /// The last byte, as HTTP's `Content-Range` names it (`bytes 0-99/100`).
    /// Undefined for an empty range.
    public var lastByte: Int64 { offset + length - 1 }

    public var description: String {
        length == 0 ? "bytes \(offset)-(empty)" : "bytes \(offset)-\(lastByte)"
    }
}
