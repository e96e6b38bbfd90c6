/// The handshake bitmap: bit i set when chunk i is verified; the most
/// significant bit of byte 0 is chunk 0, as BitTorrent's bitfield. At most
/// 32,768 chunks, so at most 4 KiB.
public struct ChunkBitmap: Sendable, Hashable {
    public let bytes: [UInt8]
    public let chunkCount: Int

    public init(_ map: ChunkMap) {
        var bytes = [UInt8](repeating: 0, count: (map.chunks.count + 7) / 8)
        for (index, state) in map.chunks.enumerated() where state.isVerified {
            bytes[index / 8] |= 0x80 >> UInt8(index % 8)
        }
        self.bytes = bytes
        self.chunkCount = map.chunks.count
    }

    public init?(bytes: [UInt8], chunkCount: Int) {
        guard bytes.count == (chunkCount + 7) / 8 else { return nil }
        self.bytes = bytes
        self.chunkCount = chunkCount
    }

    public subscript(index: ChunkIndex) -> Bool {
        bytes[index.value / 8] & (0x80 >> UInt8(index.value % 8)) != 0
    }
}

extension ChunkMap {
    /// Bytes of the verified prefix: where a sequential client would resume.
    public var verifiedPrefixBytes: Int64 {
        guard let firstGap = chunks.firstIndex(where: { !$0.isVerified }) else { return layout.fileSize.bytes }
        return Int64(firstGap) * layout.chunkSize.bytes
    }
}
