import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A `.chunkmap` on disk, open for reading and, where allowed, for in-place
/// updates.
///
/// Contract: an entry or the status record is rewritten by one positioned
/// write of that record alone, so a crash leaves every other record intact
/// and the torn one unreadable (it then reads as `missing`, or as
/// "receiving"). Callers write a chunk's bytes, and sync them, before its
/// entry says `verified`.
public final class ChunkMapFile: Sendable {
    public let path: FilePath
    public let header: ChunkMapHeader
    private let headerCheck: UInt64
    private let entriesOffset: Int64
    let descriptor: OwnedDescriptor

    private init(path: FilePath, descriptor: OwnedDescriptor, header: ChunkMapCodec.DecodedHeader) {
        self.path = path
        self.descriptor = descriptor
        self.header = header.value
        self.headerCheck = header.check
        self.entriesOffset = Int64(ChunkMapFormat.entriesOffset(metadataLength: header.metadataLength))
    }

    public var layout: ChunkLayout { header.layout }

    /// Writes `map` to `path` whole: to a temporary name beside it, synced,
    /// then renamed over, so a reader sees the old map or the new, never half.
    public static func write(_ map: ChunkMap, to path: FilePath, sync: Bool = true) throws(IOError) {
        let bytes = ChunkMapCodec.encode(map)
        let temporary = FilePath(path.string + ".tmp-\(UInt32.random(in: 0...UInt32.max))")
        let file = try OwnedDescriptor.open(
            temporary, .writeOnly, options: [.create, .exclusiveCreate], permissions: [.ownerReadWrite, .groupRead, .otherRead])
        do throws(IOError) {
            try file.writeAll(toAbsoluteOffset: 0, bytes)
            if sync { try file.dataSync() }
            try file.close()
            guard rename(temporary.string, path.string) == 0 else {
                throw IOError("rename to", path: path, errno: Errno(rawValue: currentErrno()))
            }
        } catch {
            _ = unlink(temporary.string)
            throw error
        }
    }

    /// Opens and checks an existing map. Refuses a damaged header, a foreign
    /// file, and a file shorter than its header says.
    public static func open(_ path: FilePath, writable: Bool = false) throws(ChunkMapFileError) -> ChunkMapFile {
        let descriptor: OwnedDescriptor
        do {
            descriptor = try OwnedDescriptor.open(path, writable ? .readWrite : .readOnly)
        } catch { throw .io(error) }
        do {
            let fileSize = try descriptor.size()
            let prefix = try descriptor.readBytes(at: 0, count: ChunkMapFormat.headerSize)
            let checked = try ChunkMapCodec.decodeHeaderPrefix(prefix)
            var reader = ByteReader(checked[44..<48])
            let metadataLength = Int(min(reader.read() as UInt32, UInt32(ChunkMapFormat.maximumMetadataLength + 1)))
            let metadata = try descriptor.readBytes(at: Int64(ChunkMapFormat.metadataOffset), count: metadataLength)
            let header = try ChunkMapCodec.decodeHeader(checked, metadata: metadata, sourceOffset: ChunkMapFormat.metadataOffset)
            let expected =
                Int64(ChunkMapFormat.entriesOffset(metadataLength: header.metadataLength))
                + Int64(header.value.layout.chunkCount * ChunkMapFormat.entrySize)
            if fileSize < expected { throw ChunkMapError.truncated(expectedBytes: expected, actualBytes: fileSize) }
            if fileSize > expected { throw ChunkMapError.trailingBytes(expectedBytes: expected, actualBytes: fileSize) }
            return ChunkMapFile(path: path, descriptor: descriptor, header: header)
        } catch let error as ChunkMapError {
            throw .invalid(path: path.string, error)
        } catch let error as IOError {
            throw .io(error)
        } catch {
            throw .io(IOError("read", path: path, error: error))
        }
    }

    public func close() throws(IOError) { try descriptor.close() }

    /// The file size and status record of the map at `path`, read with one
    /// `pread` and no more checks than the status record's own: for scans
    /// of a whole directory (a creation counts every open upload), where
    /// opening each map fully cost more than the rest of the request.
    static func peekStatus(atPath path: String) -> (fileSize: Int64, status: ChunkMapStatus)? {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { Glibc.close(fd) }
        let count = ChunkMapFormat.headerSize + ChunkMapFormat.statusSize
        var bytes = [UInt8](repeating: 0, count: count)
        guard bytes.withUnsafeMutableBytes({ pread(fd, $0.baseAddress, count, 0) }) == count,
            let prefix = try? ChunkMapCodec.decodeHeaderPrefix(bytes)
        else { return nil }
        var reader = ByteReader(prefix[24..<48])
        let fileSize: UInt64 = reader.read()
        reader.skip(16)
        var checkReader = ByteReader(prefix[120..<128])
        var createdReader = ByteReader(prefix[48..<56])
        let status = ChunkMapCodec.decodeStatus(
            bytes[ChunkMapFormat.statusOffset..<count], headerCheck: checkReader.read(),
            createdAt: Timestamp(millisecondsSinceEpoch: Int64(bitPattern: createdReader.read())))
        guard fileSize <= UInt64(Int64.max) else { return nil }
        return (Int64(fileSize), status)
    }

    public func readStatus() throws(IOError) -> ChunkMapStatus {
        let bytes = try descriptor.readBytes(at: Int64(ChunkMapFormat.statusOffset), count: ChunkMapFormat.statusSize)
        return ChunkMapCodec.decodeStatus(bytes, headerCheck: headerCheck, createdAt: header.createdAt)
    }

    public func readEntry(_ index: ChunkIndex) throws(IOError) -> ChunkState {
        let bytes = try descriptor.readBytes(at: entryOffset(index), count: ChunkMapFormat.entrySize)
        return bytes.withUnsafeBytes { ChunkMapCodec.decodeEntry($0, index: index, headerCheck: headerCheck) }
    }

    public func readEntries() throws(IOError) -> [ChunkState] {
        let count = layout.chunkCount * ChunkMapFormat.entrySize
        let bytes = try descriptor.readBytes(at: entriesOffset, count: count)
        return bytes.withUnsafeBytes { ChunkMapCodec.decodeEntries($0, count: layout.chunkCount, headerCheck: headerCheck) }
    }

    /// The status record and every entry, in one read: a map that other
    /// writers change as it is read is seen as of one moment for each record
    /// (a record is written by one positioned write), never half old.
    public func readMap() throws(IOError) -> ChunkMap {
        let start = Int64(ChunkMapFormat.statusOffset)
        let bytes = try descriptor.readBytes(at: start, count: Int(entriesOffset - start) + layout.chunkCount * ChunkMapFormat.entrySize)
        return bytes.withUnsafeBytes { raw in
            let status = ChunkMapCodec.decodeStatus(raw.prefix(ChunkMapFormat.statusSize), headerCheck: headerCheck, createdAt: header.createdAt)
            let entries = UnsafeRawBufferPointer(rebasing: raw[min(raw.count, Int(entriesOffset - start))...])
            let chunks = ChunkMapCodec.decodeEntries(entries, count: layout.chunkCount, headerCheck: headerCheck)
            return ChunkMap(header: header, status: status, chunks: chunks)
        }
    }

    /// True once the map was removed (the upload deleted or expired) while
    /// this descriptor held it open: a writer that waited for a lock checks
    /// it before writing anything.
    public func isRemoved() throws(IOError) -> Bool {
        var info = stat()
        guard fstat(descriptor.raw.rawValue, &info) == 0 else {
            throw IOError("stat", path: path, errno: Errno(rawValue: currentErrno()))
        }
        return info.st_nlink == 0
    }

    /// Bytes the file at `path` takes on disk (its allocated blocks; a
    /// sparse data file takes only what was written); 0 when it cannot be
    /// read. In this file, whose imports let `stat` resolve to Glibc's: in a
    /// file that imports NIO or Foundation, a clean build attributes it to
    /// CNIOLinux, which this target does not import.
    static func allocatedBytes(atPath path: String) -> Int64 {
        var info = stat()
        return lstat(path, &info) == 0 ? Int64(info.st_blocks) * 512 : 0
    }

    /// The bytes a lock on `region` covers (the layout is `ChunkMapRegion`'s).
    func lockedBytes(_ region: ChunkMapRegion) -> ByteRange {
        switch region {
        case .append: ByteRange(offset: 0, length: 1)
        case .gate: ByteRange(offset: 1, length: 1)
        case .upload: ByteRange(offset: Int64(ChunkMapFormat.statusOffset), length: Int64(ChunkMapFormat.statusSize))
        case .chunk(let index): ByteRange(offset: entryOffset(index), length: Int64(ChunkMapFormat.entrySize))
        }
    }

    /// Rewrites one entry with a single positioned write.
    public func write(_ state: ChunkState, at index: ChunkIndex) throws(IOError) {
        precondition(layout.contains(index), "chunk \(index) is outside this map")
        let bytes = ChunkMapCodec.encodeEntry(state, index: index, headerCheck: headerCheck)
        try descriptor.writeAll(toAbsoluteOffset: entryOffset(index), bytes)
    }

    /// Rewrites the status record with a single positioned write.
    public func write(_ status: ChunkMapStatus) throws(IOError) {
        let bytes = ChunkMapCodec.encodeStatus(status, headerCheck: headerCheck)
        try descriptor.writeAll(toAbsoluteOffset: Int64(ChunkMapFormat.statusOffset), bytes)
    }

    public func sync() throws(IOError) { try descriptor.dataSync() }

    private func entryOffset(_ index: ChunkIndex) -> Int64 {
        entriesOffset + Int64(index.value * ChunkMapFormat.entrySize)
    }
}

extension OwnedDescriptor {
    /// Up to `count` bytes from `offset`; fewer where the file ends.
    func readBytes(at offset: Int64, count: Int) throws(IOError) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        let result: Result<Int, IOError> = bytes.withUnsafeMutableBytes { buffer in
            Result { () throws(IOError) in try self.readAll(fromAbsoluteOffset: offset, into: buffer) }
        }
        bytes.removeLast(count - (try result.get()))
        return bytes
    }
}
