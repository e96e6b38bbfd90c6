/// The `.parity` binary format, version 1: the Reed-Solomon parity of a
/// file's chunks, beside the file and its chunk map (`FILE.parity`). Byte by
/// byte in docs/PROTOCOL.md; every integer is big-endian.
///
/// ```
/// [header 128 B][shard table 8 B x S*m][zeros up to D, a multiple of 4096][shard C B] x S*m
/// ```
///
/// The header names the file it belongs to (its size, chunk size, SHA-256
/// and the identity of its map's chunk list), so a parity of another file,
/// or of another version of this one, is refused rather than used. The
/// table holds each parity shard's XXH3-64, so a damaged shard is found and
/// counted as damage (and rebuilt) like a damaged chunk. The header check
/// covers the header, and through the table check in it, the table.
public enum ParityFormat {
    public static let magic: [UInt8] = [0x89, 0x55, 0x56, 0x50, 0x41, 0x52, 0x0D, 0x0A]  // "\x89UVPAR\r\n"
    public static let version: UInt16 = 1
    public static let headerSize = 128
    /// Reed-Solomon over GF(2^8), polynomial 0x11D, generator ISA-L's
    /// `gf_gen_cauchy1_matrix(k + m, k)`.
    public static let codeCauchyReedSolomon: UInt8 = 1
    public static let algorithmXXH3_64: UInt8 = 1
    public static let tableEntrySize = 8
    /// The shards start on a multiple of this.
    public static let shardAlignment = 4096

    /// Where the first shard starts: after the header and the table, rounded up.
    public static func shardsOffset(shardCount: Int) -> Int {
        (headerSize + tableEntrySize * shardCount + shardAlignment - 1) / shardAlignment * shardAlignment
    }
}

/// What a parity file says of itself and of the file it protects.
public struct ParityHeader: Sendable, Hashable {
    public var layout: ParityLayout
    /// The SHA-256 of the data file the parity was made from.
    public var sha256: SHA256Digest
    /// `mapIdentity(layout:digests:)` of the chunks it was made from.
    public var mapIdentity: UInt64

    public init(layout: ParityLayout, sha256: SHA256Digest, mapIdentity: UInt64) {
        self.layout = layout
        self.sha256 = sha256
        self.mapIdentity = mapIdentity
    }

    public var shardsOffset: Int64 { Int64(ParityFormat.shardsOffset(shardCount: layout.shardCount)) }

    /// The parity file's exact length.
    public var fileLength: Int64 { shardsOffset + layout.parityBytes }

    /// The identity of a chunk list: XXH3-64 (seed 0) of the file size and
    /// the chunk size (8 bytes each) followed by every chunk's XXH3 (8 bytes,
    /// canonical big-endian), in order. The same for every map that records
    /// the same bytes, whenever it was written; another for any other file
    /// or version.
    public static func mapIdentity(layout: ChunkLayout, digests: [XXH3Digest]) -> UInt64 {
        precondition(digests.count == layout.chunkCount, "one digest per chunk")
        var out = ByteWriter(capacity: 16 + 8 * digests.count)
        out.append(UInt64(layout.fileSize.bytes))
        out.append(UInt64(layout.chunkSize.bytes))
        for digest in digests { out.append(digest.value) }
        return out.bytes.withUnsafeBytes { XXH3Hasher.hash($0, seed: 0) }
    }

    /// The identity of `map`'s chunk list; nil when a chunk has no digest.
    public static func mapIdentity(of map: ChunkMap) -> UInt64? {
        let digests = map.chunks.compactMap(\.digest)
        guard digests.count == map.chunks.count else { return nil }
        return mapIdentity(layout: map.layout, digests: digests)
    }
}

/// Encodes and decodes a parity file's header and shard table: pure
/// functions over bytes (the file code does the I/O).
public enum ParityCodec {
    struct DecodedHeader {
        var value: ParityHeader
        var tableCheck: UInt64
    }

    /// The header, the table and the padding: the file's first `shardsOffset` bytes.
    public static func encode(_ header: ParityHeader, shardDigests: [XXH3Digest]) -> [UInt8] {
        let layout = header.layout
        precondition(shardDigests.count == layout.shardCount, "one digest per parity shard")
        var table = ByteWriter(capacity: ParityFormat.tableEntrySize * shardDigests.count)
        for digest in shardDigests { table.append(digest.value) }
        let tableCheck = table.bytes.withUnsafeBytes { XXH3Hasher.hash($0, seed: 0) }
        let end = Int(header.shardsOffset)
        var out = ByteWriter(capacity: end)
        out.append(ParityFormat.magic)
        out.append(ParityFormat.version)
        out.append(UInt16(ParityFormat.headerSize))
        out.append(ParityFormat.codeCauchyReedSolomon)
        out.append(ParityFormat.algorithmXXH3_64)
        out.appendZeros(2)
        out.append(UInt64(layout.chunks.fileSize.bytes))
        out.append(UInt64(layout.chunks.chunkSize.bytes))
        out.append(UInt32(layout.chunks.chunkCount))
        out.append(UInt32(layout.stripeCount))
        out.append(UInt16(layout.dataShards))
        out.append(UInt16(layout.parityShards))
        out.append(UInt32(layout.stripesPerGroup))
        out.append(header.sha256.bytes)
        out.append(header.mapIdentity)
        out.append(tableCheck)
        out.append(UInt64(header.shardsOffset))
        out.appendZeros(16)
        let check = out.bytes.withUnsafeBytes { XXH3Hasher.hash($0, seed: 0) }
        out.append(check)
        out.append(table.bytes)
        out.appendZeros(end - out.bytes.count)
        return out.bytes
    }

    /// Checks and decodes the first 128 bytes.
    static func decodeHeader<C: Collection<UInt8>>(_ bytes: C) throws(ParityError) -> DecodedHeader {
        let prefix = Array(bytes.prefix(ParityFormat.headerSize))
        guard prefix.count >= ParityFormat.magic.count, prefix.starts(with: ParityFormat.magic) else { throw .notAParityFile }
        guard prefix.count == ParityFormat.headerSize else {
            throw .truncated(expectedBytes: Int64(ParityFormat.headerSize), actualBytes: Int64(prefix.count))
        }
        var reader = ByteReader(prefix)
        reader.skip(8)
        let version: UInt16 = reader.read()
        guard version == ParityFormat.version else { throw .unsupportedVersion(version) }
        let check = prefix[0..<120].withUnsafeBytes { XXH3Hasher.hash($0, seed: 0) }
        var checkReader = ByteReader(prefix[120..<128])
        guard checkReader.read() as UInt64 == check else { throw .damagedHeader("its check does not match its bytes") }
        let headerSize: UInt16 = reader.read()
        let code: UInt8 = reader.read()
        let algorithm: UInt8 = reader.read()
        reader.skip(2)
        guard headerSize == ParityFormat.headerSize else { throw .damagedHeader("its header size is \(headerSize), not 128") }
        guard code == ParityFormat.codeCauchyReedSolomon else { throw .unsupportedCode(code) }
        guard algorithm == ParityFormat.algorithmXXH3_64 else { throw .unsupportedAlgorithm(algorithm) }
        let fileSize: UInt64 = reader.read()
        let chunkSize: UInt64 = reader.read()
        let chunkCount: UInt32 = reader.read()
        let stripeCount: UInt32 = reader.read()
        let dataShards: UInt16 = reader.read()
        let parityShards: UInt16 = reader.read()
        let stripesPerGroup: UInt32 = reader.read()
        let sha256 = reader.readBytes(32)
        let mapIdentity: UInt64 = reader.read()
        let tableCheck: UInt64 = reader.read()
        let shardsOffset: UInt64 = reader.read()
        let chunks: ChunkLayout
        do throws(RecordedGeometryError) {
            chunks = try .recorded(fileSize: fileSize, chunkSize: chunkSize, chunkCount: chunkCount)
        } catch {
            throw .damagedHeader(error.reason)
        }
        let layout: ParityLayout
        do {
            layout = try ParityLayout(
                chunks: chunks, dataShards: Int(dataShards), parityShards: Int(parityShards), stripesPerGroup: Int(stripesPerGroup))
        } catch {
            throw .damagedHeader("its stripes are impossible: \(error)")
        }
        guard layout.stripeCount == Int(stripeCount) else {
            throw .damagedHeader("it records \(stripeCount) stripes where its geometry gives \(layout.stripeCount)")
        }
        guard shardsOffset == UInt64(ParityFormat.shardsOffset(shardCount: layout.shardCount)) else {
            throw .damagedHeader("its shards start at \(shardsOffset), not where its table ends")
        }
        let header = ParityHeader(layout: layout, sha256: SHA256Digest(bytes: sha256), mapIdentity: mapIdentity)
        return DecodedHeader(value: header, tableCheck: tableCheck)
    }

    /// Checks and decodes the shard table (the `8 * S * m` bytes after the header).
    static func decodeTable(_ bytes: [UInt8], count: Int, check: UInt64) throws(ParityError) -> [XXH3Digest] {
        let length = ParityFormat.tableEntrySize * count
        guard bytes.count == length else {
            throw .truncated(expectedBytes: Int64(ParityFormat.headerSize + length), actualBytes: Int64(ParityFormat.headerSize + bytes.count))
        }
        guard bytes.withUnsafeBytes({ XXH3Hasher.hash($0, seed: 0) }) == check else { throw .damagedShardTable }
        return (0..<count).map { index in
            XXH3Digest(bigEndianBytes: bytes[(index * ParityFormat.tableEntrySize)..<((index + 1) * ParityFormat.tableEntrySize)])
        }
    }

    /// A whole parity file's header and table, as bytes (for tests and fuzzing).
    public static func decode(_ bytes: [UInt8]) throws(ParityError) -> (header: ParityHeader, shardDigests: [XXH3Digest]) {
        let decoded = try decodeHeader(bytes)
        let count = decoded.value.layout.shardCount
        let start = ParityFormat.headerSize
        let end = start + ParityFormat.tableEntrySize * count
        guard bytes.count >= end else {
            throw .truncated(expectedBytes: decoded.value.fileLength, actualBytes: Int64(bytes.count))
        }
        let digests = try decodeTable(Array(bytes[start..<end]), count: count, check: decoded.tableCheck)
        return (decoded.value, digests)
    }
}

/// Why a `.parity` file cannot be used. The path is added by `ParityFileError`.
public enum ParityError: Error, Equatable, CustomStringConvertible {
    case notAParityFile
    case unsupportedVersion(UInt16)
    case unsupportedCode(UInt8)
    case unsupportedAlgorithm(UInt8)
    case damagedHeader(String)
    case damagedShardTable
    case truncated(expectedBytes: Int64, actualBytes: Int64)
    case trailingBytes(expectedBytes: Int64, actualBytes: Int64)

    public var description: String {
        switch self {
        case .notAParityFile:
            return "not a parity file (no .parity magic at its start)"
        case .unsupportedVersion(let version):
            return "parity format version \(version) is not supported (this build reads version 1)"
        case .unsupportedCode(let code):
            return "parity uses code \(code), unknown here (1 is Reed-Solomon with a Cauchy matrix)"
        case .unsupportedAlgorithm(let code):
            return "parity uses checksum algorithm \(code), unknown here (1 is XXH3-64)"
        case .damagedHeader(let reason):
            return "parity header is damaged: \(reason)"
        case .damagedShardTable:
            return "parity shard table is damaged: its check does not match its bytes"
        case .truncated(let expected, let actual):
            return "parity file is truncated: \(actual) bytes where its header needs \(expected)"
        case .trailingBytes(let expected, let actual):
            return "parity file has \(actual - expected) bytes after its last shard (\(actual) bytes where its header gives \(expected))"
        }
    }
}

/// Why a parity file that reads well is not the parity of the file a map describes.
public enum ParityMismatch: Error, Equatable, CustomStringConvertible {
    /// Another size or chunk size.
    case otherFile(parity: ChunkLayout, map: ChunkLayout)
    /// The same geometry, other chunks.
    case otherContents
    /// The same chunks, another SHA-256 (only a collision gets here).
    case otherSHA256(parity: SHA256Digest, map: SHA256Digest)
    /// The map has chunks with no digest: there is nothing to check them against.
    case incompleteMap(chunksWithoutDigest: Int)

    public var description: String {
        switch self {
        case .otherFile(let parity, let map):
            return "it is the parity of another file: it covers \(parity.fileSize.bytes) bytes in chunks of \(parity.chunkSize.bytes), "
                + "the map records \(map.fileSize.bytes) bytes in chunks of \(map.chunkSize.bytes)"
        case .otherContents:
            return "it was made for other contents than the map records (an older version of the file, or another file of its size)"
        case .otherSHA256(let parity, let map):
            return "it was made for contents with SHA-256 \(parity), the map records \(map) (an older version of the file?)"
        case .incompleteMap(let count):
            return "the map has \(count) chunks with no digest: parity heals only against a map of every chunk"
        }
    }
}

/// A parity-file problem tied to its path.
public enum ParityFileError: Error, CustomStringConvertible {
    case invalid(path: String, ParityError)
    case mismatch(path: String, ParityMismatch)
    case io(IOError)

    public var description: String {
        switch self {
        case .invalid(let path, let error): "\(path): \(error)"
        case .mismatch(let path, let mismatch): "\(path) does not belong to this file's map: \(mismatch)"
        case .io(let error): error.description
        }
    }
}
