/// Encodes and decodes the parts of a `.chunkmap` (see `ChunkMapFormat`).
/// Pure functions over bytes: the file code does the I/O, a fuzzer can
/// throw anything at `decode`.
public enum ChunkMapCodec {
    // MARK: Whole maps

    public static func encode(_ map: ChunkMap) -> [UInt8] {
        let (header, check) = encodeHeader(map.header)
        var bytes = header
        bytes += encodeStatus(map.status, headerCheck: check)
        let metadata = Array(map.header.metadata.utf8)
        bytes += metadata
        bytes += [UInt8](repeating: 0, count: ChunkMapFormat.entriesOffset(metadataLength: metadata.count) - bytes.count)
        bytes.reserveCapacity(bytes.count + map.chunks.count * ChunkMapFormat.entrySize)
        for (index, state) in map.chunks.enumerated() {
            bytes += encodeEntry(state, index: ChunkIndex(index), headerCheck: check)
        }
        return bytes
    }

    public static func decode(_ bytes: [UInt8]) throws(ChunkMapError) -> ChunkMap {
        let prefix = try decodeHeaderPrefix(bytes)
        let header = try decodeHeader(prefix, metadata: bytes)
        let entriesOffset = ChunkMapFormat.entriesOffset(metadataLength: header.metadataLength)
        let expectedLength = entriesOffset + header.value.layout.chunkCount * ChunkMapFormat.entrySize
        guard bytes.count == expectedLength else {
            throw bytes.count < expectedLength
                ? .truncated(expectedBytes: Int64(expectedLength), actualBytes: Int64(bytes.count))
                : .trailingBytes(expectedBytes: Int64(expectedLength), actualBytes: Int64(bytes.count))
        }
        let status = decodeStatus(
            bytes[ChunkMapFormat.statusOffset..<ChunkMapFormat.metadataOffset], headerCheck: header.check,
            createdAt: header.value.createdAt)
        let chunks = bytes.withUnsafeBytes { raw in
            decodeEntries(UnsafeRawBufferPointer(rebasing: raw[entriesOffset...]), count: header.value.layout.chunkCount, headerCheck: header.check)
        }
        return ChunkMap(header: header.value, status: status, chunks: chunks)
    }

    // MARK: Header

    struct DecodedHeader {
        var value: ChunkMapHeader
        var check: UInt64
        var metadataLength: Int
    }

    static func encodeHeader(_ header: ChunkMapHeader) -> (bytes: [UInt8], check: UInt64) {
        let metadata = Array(header.metadata.utf8)
        precondition(metadata.count <= ChunkMapFormat.maximumMetadataLength, "metadata is limited to 16 KiB")
        var out = ByteWriter(capacity: ChunkMapFormat.headerSize)
        out.append(ChunkMapFormat.magic)
        out.append(ChunkMapFormat.version)
        out.append(UInt16(ChunkMapFormat.headerSize))
        out.append(UInt16(ChunkMapFormat.statusSize))
        out.append(UInt16(ChunkMapFormat.entrySize))
        out.append(ChunkMapFormat.algorithmXXH3_64)
        out.append(UInt8(header.expectedSHA256 == nil ? 0 : 1))
        out.appendZeros(6)
        out.append(UInt64(header.layout.fileSize.bytes))
        out.append(UInt64(header.layout.chunkSize.bytes))
        out.append(UInt32(header.layout.chunkCount))
        out.append(UInt32(metadata.count))
        out.append(UInt64(bitPattern: header.createdAt.millisecondsSinceEpoch))
        out.append(header.expectedSHA256?.bytes ?? [UInt8](repeating: 0, count: 32))
        out.append(metadata.withUnsafeBytes { XXH3Hasher.hash($0, seed: 0) })
        out.appendZeros(24)
        let check = out.bytes.withUnsafeBytes { XXH3Hasher.hash($0, seed: 0) }
        out.append(check)
        return (out.bytes, check)
    }

    /// Checks the fixed header (the first 128 bytes) without the metadata.
    static func decodeHeaderPrefix<C: Collection<UInt8>>(_ bytes: C) throws(ChunkMapError) -> [UInt8] {
        let prefix = Array(bytes.prefix(ChunkMapFormat.headerSize))
        guard prefix.count >= ChunkMapFormat.magic.count, prefix.starts(with: ChunkMapFormat.magic) else {
            throw .notAChunkMap
        }
        guard prefix.count == ChunkMapFormat.headerSize else {
            throw .truncated(expectedBytes: Int64(ChunkMapFormat.headerSize), actualBytes: Int64(prefix.count))
        }
        var reader = ByteReader(prefix)
        reader.skip(8)
        let version: UInt16 = reader.read()
        guard ChunkMapFormat.readableVersions.contains(version) else { throw .unsupportedVersion(version) }
        let check = prefix[0..<120].withUnsafeBytes { XXH3Hasher.hash($0, seed: 0) }
        var checkReader = ByteReader(prefix[120..<128])
        guard checkReader.read() as UInt64 == check else {
            throw .damagedHeader("its check does not match its bytes")
        }
        return prefix
    }

    /// Decodes a checked prefix; `metadata` holds the bytes that follow the
    /// status record (it may be the whole file, or just that region).
    static func decodeHeader(_ prefix: [UInt8], metadata source: [UInt8], sourceOffset: Int = 0) throws(ChunkMapError) -> DecodedHeader {
        var reader = ByteReader(prefix)
        reader.skip(10)
        let headerSize: UInt16 = reader.read()
        let statusSize: UInt16 = reader.read()
        let entrySize: UInt16 = reader.read()
        guard headerSize == ChunkMapFormat.headerSize, statusSize == ChunkMapFormat.statusSize,
            entrySize == ChunkMapFormat.entrySize
        else { throw .damagedHeader("its record sizes are not those of versions 1 and 2") }
        let algorithm: UInt8 = reader.read()
        guard algorithm == ChunkMapFormat.algorithmXXH3_64 else { throw .unsupportedAlgorithm(algorithm) }
        let flags: UInt8 = reader.read()
        reader.skip(6)
        let fileSize: UInt64 = reader.read()
        let chunkSize: UInt64 = reader.read()
        let chunkCount: UInt32 = reader.read()
        let metadataLength: UInt32 = reader.read()
        let createdAt: UInt64 = reader.read()
        let expected = reader.readBytes(32)
        let metadataCheck: UInt64 = reader.read()
        let layout: ChunkLayout
        do throws(RecordedGeometryError) {
            layout = try .recorded(fileSize: fileSize, chunkSize: chunkSize, chunkCount: chunkCount)
        } catch {
            throw .damagedHeader(error.reason)
        }
        guard metadataLength <= ChunkMapFormat.maximumMetadataLength else {
            throw .damagedHeader("its metadata length \(metadataLength) is over the 16 KiB limit")
        }
        let start = ChunkMapFormat.metadataOffset - sourceOffset
        let end = start + Int(metadataLength)
        guard start >= 0, end <= source.count else {
            throw .truncated(expectedBytes: Int64(ChunkMapFormat.metadataOffset + Int(metadataLength)), actualBytes: Int64(source.count + sourceOffset))
        }
        let metadataBytes = source[start..<end]
        guard metadataBytes.withUnsafeBytes({ XXH3Hasher.hash($0, seed: 0) }) == metadataCheck else {
            throw .damagedHeader("its metadata does not match the metadata check")
        }
        let header = ChunkMapHeader(
            layout: layout,
            createdAt: Timestamp(millisecondsSinceEpoch: Int64(bitPattern: createdAt)),
            expectedSHA256: flags & 1 == 1 ? SHA256Digest(bytes: expected) : nil,
            metadata: String(decoding: metadataBytes, as: UTF8.self))
        var checkReader = ByteReader(prefix[120..<128])
        return DecodedHeader(value: header, check: checkReader.read(), metadataLength: Int(metadataLength))
    }

    // MARK: Status

    static func encodeStatus(_ status: ChunkMapStatus, headerCheck: UInt64) -> [UInt8] {
        var out = ByteWriter(capacity: ChunkMapFormat.statusSize)
        out.append(status.state.code)
        out.append(UInt8(status.sha256 == nil ? 0 : 1))
        out.appendZeros(6)
        out.append(UInt64(bitPattern: status.updatedAt.millisecondsSinceEpoch))
        out.append(status.sha256?.bytes ?? [UInt8](repeating: 0, count: 32))
        out.append(UInt64(status.appendOffset))
        out.append(out.bytes.withUnsafeBytes { XXH3Hasher.hash($0, seed: headerCheck) })
        return out.bytes
    }

    /// A damaged status record reads as "receiving, SHA-256 unknown, append
    /// offset 0": the conservative reading, which only costs a completion
    /// being redone (and an append resuming from the verified prefix).
    static func decodeStatus<C: Collection<UInt8>>(_ bytes: C, headerCheck: UInt64, createdAt: Timestamp) -> ChunkMapStatus {
        let record = Array(bytes)
        let fallback = ChunkMapStatus(state: .receiving, sha256: nil, updatedAt: createdAt)
        guard record.count == ChunkMapFormat.statusSize else { return fallback }
        var reader = ByteReader(record)
        let code: UInt8 = reader.read()
        let flags: UInt8 = reader.read()
        reader.skip(6)
        let updatedAt: UInt64 = reader.read()
        let sha = reader.readBytes(32)
        let appendOffset: UInt64 = reader.read()
        let check: UInt64 = reader.read()
        guard record[0..<56].withUnsafeBytes({ XXH3Hasher.hash($0, seed: headerCheck) }) == check,
            let state = UploadState(code: code), appendOffset <= UInt64(Int64.max)
        else { return fallback }
        return ChunkMapStatus(
            state: state, sha256: flags & 1 == 1 ? SHA256Digest(bytes: sha) : nil,
            updatedAt: Timestamp(millisecondsSinceEpoch: Int64(bitPattern: updatedAt)), appendOffset: Int64(appendOffset))
    }

    // MARK: Entries

    static func encodeEntry(_ state: ChunkState, index: ChunkIndex, headerCheck: UInt64) -> [UInt8] {
        var out = ByteWriter(capacity: ChunkMapFormat.entrySize)
        out.append(state.digest?.value ?? 0)
        out.append(state.code)
        out.appendZeros(3)
        out.append(entryCheck(out.bytes, index: index, headerCheck: headerCheck))
        return out.bytes
    }

    /// A torn, damaged, misplaced or blank entry reads as `missing`, never
    /// `verified`. Reads the bytes in place: a server decodes every entry of
    /// a map on each chunk it receives, so this allocates nothing.
    static func decodeEntry(_ entry: UnsafeRawBufferPointer, index: ChunkIndex, headerCheck: UInt64) -> ChunkState {
        guard entry.count == ChunkMapFormat.entrySize else { return .missing }
        let digest = XXH3Digest(UInt64(bigEndian: entry.loadUnaligned(fromByteOffset: 0, as: UInt64.self)))
        let code = entry[8]
        let check = UInt32(bigEndian: entry.loadUnaligned(fromByteOffset: 12, as: UInt32.self))
        guard check == entryCheck(UnsafeRawBufferPointer(rebasing: entry[0..<12]), index: index, headerCheck: headerCheck) else {
            return .missing
        }
        switch code {
        case 1: return .verified(digest)
        case 2: return .corrupt(expected: digest)
        default: return .missing
        }
    }

    /// Every entry of `entries` (the map's entry region, `count` entries).
    static func decodeEntries(_ entries: UnsafeRawBufferPointer, count: Int, headerCheck: UInt64) -> [ChunkState] {
        (0..<count).map { position in
            let start = position * ChunkMapFormat.entrySize
            let end = min(start + ChunkMapFormat.entrySize, entries.count)
            guard start < end else { return .missing }
            return decodeEntry(UnsafeRawBufferPointer(rebasing: entries[start..<end]), index: ChunkIndex(position), headerCheck: headerCheck)
        }
    }

    private static func entryCheck<C: Collection<UInt8>>(_ body: C, index: ChunkIndex, headerCheck: UInt64) -> UInt32 {
        Array(body).withUnsafeBytes { entryCheck($0, index: index, headerCheck: headerCheck) }
    }

    private static func entryCheck(_ body: UnsafeRawBufferPointer, index: ChunkIndex, headerCheck: UInt64) -> UInt32 {
        UInt32(truncatingIfNeeded: XXH3Hasher.hash(body, seed: headerCheck &+ UInt64(index.value)))
    }
}

extension ChunkState {
    var code: UInt8 {
        switch self {
        case .missing: 0
        case .verified: 1
        case .corrupt: 2
        }
    }
}

extension UploadState {
    var code: UInt8 {
        switch self {
        case .receiving: 0
        case .complete: 1
        case .damaged: 2
        }
    }

    init?(code: UInt8) {
        switch code {
        case 0: self = .receiving
        case 1: self = .complete
        case 2: self = .damaged
        default: return nil
        }
    }
}
