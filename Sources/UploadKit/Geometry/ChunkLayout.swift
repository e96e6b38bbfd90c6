/// How a file of a given size is cut into fixed-size chunks.
///
/// Every layout that exists obeys the contract's bounds: a chunk size from
/// 64 KiB to 256 MiB and at most 32,768 chunks, so the handshake bitmap fits
/// in 4 KiB. All arithmetic is done in `Int64` and cannot overflow for a
/// valid layout (the largest file is 256 MiB x 32,768 = 8 TiB).
public struct ChunkLayout: Sendable, Hashable {
    public static let minimumChunkSize = ByteCount.kibibytes(64)
    public static let maximumChunkSize = ByteCount.mebibytes(256)
    public static let defaultChunkSize = ByteCount.mebibytes(8)
    public static let maximumChunkCount = 32_768
    public static var maximumFileSize: ByteCount {
        ByteCount(maximumChunkSize.bytes * Int64(maximumChunkCount))
    }

    public let fileSize: ByteCount
    public let chunkSize: ByteCount
    public let chunkCount: Int

    /// A layout with exactly this chunk size; refuses one out of bounds or
    /// one that would cut the file into more than 32,768 chunks.
    public init(fileSize: ByteCount, chunkSize: ByteCount) throws(ChunkLayoutError) {
        guard chunkSize >= Self.minimumChunkSize else { throw .chunkSizeTooSmall(chunkSize) }
        guard chunkSize <= Self.maximumChunkSize else { throw .chunkSizeTooLarge(chunkSize) }
        guard fileSize <= Self.maximumFileSize else { throw .fileTooLarge(fileSize) }
        let count = Self.chunkCount(fileSize: fileSize.bytes, chunkSize: chunkSize.bytes)
        guard count <= Int64(Self.maximumChunkCount) else {
            throw .tooManyChunks(
                fileSize: fileSize, chunkSize: chunkSize,
                smallestAllowed: Self.smallestChunkSize(for: fileSize))
        }
        self.fileSize = fileSize
        self.chunkSize = chunkSize
        self.chunkCount = Int(count)
    }

    /// The layout the server picks when the client names no chunk size:
    /// 8 MiB, doubled until the file fits in 32,768 chunks.
    public static func automatic(fileSize: ByteCount) throws(ChunkLayoutError) -> ChunkLayout {
        guard fileSize <= maximumFileSize else { throw .fileTooLarge(fileSize) }
        var size = defaultChunkSize.bytes
        while chunkCount(fileSize: fileSize.bytes, chunkSize: size) > Int64(maximumChunkCount) {
            size *= 2
        }
        return try ChunkLayout(fileSize: fileSize, chunkSize: ByteCount(size))
    }

    /// The smallest chunk size that keeps `fileSize` within 32,768 chunks.
    public static func smallestChunkSize(for fileSize: ByteCount) -> ByteCount {
        let count = Int64(maximumChunkCount)
        let needed = fileSize.bytes / count + (fileSize.bytes % count == 0 ? 0 : 1)
        return max(minimumChunkSize, ByteCount(needed))
    }

    private static func chunkCount(fileSize: Int64, chunkSize: Int64) -> Int64 {
        fileSize / chunkSize + (fileSize % chunkSize == 0 ? 0 : 1)
    }

    public var indices: some RandomAccessCollection<ChunkIndex> {
        (0..<chunkCount).lazy.map(ChunkIndex.init)
    }

    public func contains(_ index: ChunkIndex) -> Bool { index.value < chunkCount }

    /// The bytes chunk `index` covers; only the last chunk may be short.
    public func range(of index: ChunkIndex) -> ByteRange {
        precondition(contains(index), "chunk \(index) is outside a layout of \(chunkCount) chunks")
        let offset = Int64(index.value) * chunkSize.bytes
        return ByteRange(offset: offset, length: min(chunkSize.bytes, fileSize.bytes - offset))
    }

    /// The chunk that holds byte `offset` (which must be inside the file).
    public func chunk(containing offset: Int64) -> ChunkIndex {
        precondition(offset >= 0 && offset < fileSize.bytes, "byte \(offset) is outside a file of \(fileSize.bytes) bytes")
        return ChunkIndex(Int(offset / chunkSize.bytes))
    }

    /// The chunk a byte range names exactly, if it names one: it must start on
    /// a chunk boundary and have that chunk's exact length.
    public func chunk(exactly range: ByteRange) -> ChunkIndex? {
        guard range.offset % chunkSize.bytes == 0 else { return nil }
        let candidate = range.offset / chunkSize.bytes
        guard candidate < Int64(chunkCount) else { return nil }
        let index = ChunkIndex(Int(candidate))
        return self.range(of: index) == range ? index : nil
    }
}

public enum ChunkLayoutError: Error, Equatable, CustomStringConvertible {
    case chunkSizeTooSmall(ByteCount)
    case chunkSizeTooLarge(ByteCount)
    case fileTooLarge(ByteCount)
    case tooManyChunks(fileSize: ByteCount, chunkSize: ByteCount, smallestAllowed: ByteCount)

    public var description: String {
        switch self {
        case .chunkSizeTooSmall(let size):
            return "chunk size \(size.bytes) bytes is below the minimum of 64 KiB (65536 bytes)"
        case .chunkSizeTooLarge(let size):
            return "chunk size \(size.bytes) bytes is above the maximum of 256 MiB (268435456 bytes)"
        case .fileTooLarge(let size):
            return "a file of \(size.bytes) bytes is larger than the 8 TiB a chunk map can hold (32768 chunks of 256 MiB)"
        case .tooManyChunks(let fileSize, let chunkSize, let smallest):
            return
                "chunk size \(chunkSize.bytes) bytes cuts \(fileSize.bytes) bytes into more than 32768 chunks; the smallest allowed is \(smallest.bytes) bytes"
        }
    }
}

extension ChunkLayout {
    /// The geometry a file format records (a chunk map's header, a parity
    /// file's): its sizes and its chunk count must agree. Throws the reason
    /// as words, for the format's own "damaged header" error.
    static func recorded(fileSize: UInt64, chunkSize: UInt64, chunkCount: UInt32) throws(RecordedGeometryError) -> ChunkLayout {
        guard fileSize <= UInt64(Int64.max), chunkSize <= UInt64(Int64.max) else { throw RecordedGeometryError("its sizes are out of range") }
        let layout: ChunkLayout
        do {
            layout = try ChunkLayout(fileSize: ByteCount(Int64(fileSize)), chunkSize: ByteCount(Int64(chunkSize)))
        } catch {
            throw RecordedGeometryError("its geometry is invalid: \(error)")
        }
        guard layout.chunkCount == Int(chunkCount) else {
            throw RecordedGeometryError("it records \(chunkCount) chunks where its sizes give \(layout.chunkCount)")
        }
        return layout
    }
}

struct RecordedGeometryError: Error {
    let reason: String
    init(_ reason: String) { self.reason = reason }
}
