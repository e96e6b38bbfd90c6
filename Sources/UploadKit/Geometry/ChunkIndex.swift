/// The position of a chunk in an upload: chunk `i` covers `[i*C, min((i+1)*C, size))`.
public struct ChunkIndex: Sendable, Hashable, Comparable, Strideable, CustomStringConvertible {
    public let value: Int

    public init(_ value: Int) {
        precondition(value >= 0, "a chunk index is never negative")
        self.value = value
    }

    public static func < (lhs: ChunkIndex, rhs: ChunkIndex) -> Bool { lhs.value < rhs.value }
    public func distance(to other: ChunkIndex) -> Int { other.value - value }
    public func advanced(by n: Int) -> ChunkIndex { ChunkIndex(value + n) }
    public var description: String { String(value) }
}
