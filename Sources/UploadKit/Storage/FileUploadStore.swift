import NIOCore
import NIOPosix
import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The `UploadStore` on a local file system: `DIR/ID` is the data file and
/// `DIR/ID.chunkmap` its chunk map. Blocking file I/O runs on NIO's thread
/// pool, never on an event loop or the concurrency pool.
public final class FileUploadStore: UploadStore {
    public struct Options: Sendable {
        public var directory: FilePath
        public var maxUploadSize: ByteCount
        /// fdatasync data and map entry before a chunk is acknowledged.
        public var fsync: Bool
        /// Buffers are gathered up to this size before one hop to the I/O pool.
        public var writeBatchBytes: Int
        /// Incomplete uploads allowed at once.
        public var maxOpenUploads: Int
        /// Tests only: fails chosen disk operations.
        public var faults: (any DiskFaultInjector)?
        /// Tests only: kills the process at a point of a chunk write.
        public var crashSwitch: CrashSwitch?

        public init(
            directory: FilePath, maxUploadSize: ByteCount = ChunkLayout.maximumFileSize, fsync: Bool = true, writeBatchBytes: Int = 1 << 20,
            maxOpenUploads: Int = 1000, faults: (any DiskFaultInjector)? = nil, crashSwitch: CrashSwitch? = nil
        ) {
            self.maxOpenUploads = maxOpenUploads
            self.directory = directory
            self.maxUploadSize = maxUploadSize
            self.fsync = fsync
            self.writeBatchBytes = writeBatchBytes
            self.faults = faults
            self.crashSwitch = crashSwitch
        }
    }

    public let options: Options
    let guardian = ChunkWriteGuard()
    let writeLocks = FileWriteLocks()
    let prefixHashing = PrefixHashing()
    let io: NIOThreadPool
    let openUploads: OpenUploads

    /// The store's own blocking-I/O threads. Writes and fdatasyncs wait on
    /// the disk, not the CPU: NIO's shared pool has one thread per core, so
    /// on two cores two slow fsyncs would hold every other upload's writes.
    public static let ioThreads: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: 16)
        pool.start()
        return pool
    }()

    public init(options: Options, threadPool: NIOThreadPool = FileUploadStore.ioThreads) throws(IOError) {
        self.options = options
        self.io = threadPool
        self.openUploads = OpenUploads(limit: options.maxOpenUploads)
        if mkdir(options.directory.string, 0o755) != 0 && currentErrno() != EEXIST {
            throw IOError("create directory", path: options.directory, errno: Errno(rawValue: currentErrno()))
        }
        adoptOpenUploads()
    }

    /// Counts the incomplete uploads already on disk, and the bytes they still need.
    private func adoptOpenUploads() {
        for id in listUploads() {
            guard let file = try? openMap(id) else { continue }
            defer { try? file.close() }
            guard let map = try? file.readMap(), map.status.state == .receiving else { continue }
            openUploads.adopt(id, remaining: map.layout.fileSize.bytes - map.verifiedBytes)
        }
    }

    func dataPath(_ id: UploadID) -> FilePath { options.directory.appending(id.rawValue) }
    func mapPath(_ id: UploadID) -> FilePath { options.directory.appending(id.rawValue + ".chunkmap") }
    func files(_ id: UploadID) -> PrefixHashing.Files { .init(data: dataPath(id), map: mapPath(id)) }

    /// What the store keeps in memory for an upload in progress (its share
    /// of the disk, its hashed prefix), let go once it completed, was
    /// deleted or expired.
    func ended(_ id: UploadID) {
        openUploads.release(id)
        prefixHashing.forget(id)
    }

    /// Runs blocking file work on the I/O pool.
    func blocking<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await io.runIfActive(work)
    }

    /// Opens an upload's chunk map; a missing one is `notFound`.
    func openMap(_ id: UploadID, writable: Bool = false) throws -> ChunkMapFile {
        do {
            return try ChunkMapFile.open(mapPath(id), writable: writable)
        } catch .io(let error) where error.errno == .noSuchFileOrDirectory {
            throw UploadError.notFound
        } catch .io(let error) {
            throw UploadError.storage(error)
        } catch .invalid(_, let error) {
            throw UploadError.damagedMap(error)
        }
    }

    func snapshot(of file: ChunkMapFile, id: UploadID) throws -> UploadSnapshot {
        let map = try file.readMap()
        let updatedAt = (try? mapPath(id).modificationTime()) ?? map.status.updatedAt
        return UploadSnapshot(id: id, map: map, updatedAt: updatedAt)
    }

    // MARK: Create

    public func create(length: ByteCount, chunkSize: ByteCount?, expectedSHA256: SHA256Digest?, metadata: String) async throws -> UploadSnapshot {
        guard length <= options.maxUploadSize else { throw UploadError.tooLarge(size: length.bytes, limit: options.maxUploadSize.bytes) }
        let layout: ChunkLayout
        do throws(ChunkLayoutError) {
            if let chunkSize {
                layout = try ChunkLayout(fileSize: length, chunkSize: chunkSize)
            } else {
                layout = try ChunkLayout.automatic(fileSize: length)
            }
        } catch {
            throw UploadError.invalidChunkSize(error)
        }
        let now = Timestamp.now
        let map = ChunkMap(
            header: ChunkMapHeader(layout: layout, createdAt: now, expectedSHA256: expectedSHA256, metadata: metadata),
            status: ChunkMapStatus(state: .receiving, sha256: nil, updatedAt: now),
            chunks: Array(repeating: .missing, count: layout.chunkCount))
        let id = UploadID.random()
        let (dataPath, mapPath, fsync) = (dataPath(id), mapPath(id), options.fsync)
        let directory = options.directory
        try await blocking {
            do {
                try self.openUploads.admit(id, length: length.bytes, available: try DiskSpace.available(at: directory))
                do {
                    // The data file first: a chunk map names an upload only once its data file exists.
                    let data = try OwnedDescriptor.open(
                        dataPath, .writeOnly, options: [.create, .exclusiveCreate], permissions: [.ownerReadWrite, .groupRead])
                    do {
                        try data.resize(to: length.bytes)
                        if fsync { try data.dataSync() }
                        try data.close()
                        try ChunkMapFile.write(map, to: mapPath, sync: fsync)
                    } catch {
                        _ = unlink(dataPath.string)
                        throw error
                    }
                } catch {
                    self.openUploads.release(id)
                    throw error
                }
            } catch let error as IOError {
                throw UploadError.storage(error)
            }
        }
        return UploadSnapshot(id: id, map: map, updatedAt: now)
    }

    // MARK: Reading

    public func snapshot(_ id: UploadID) async throws -> UploadSnapshot {
        try await blocking {
            let file = try self.openMap(id)
            defer { try? file.close() }
            return try self.snapshot(of: file, id: id)
        }
    }

    public func chunkMapBytes(_ id: UploadID) async throws -> [UInt8] {
        try await blocking {
            let file = try self.openMap(id)
            defer { try? file.close() }
            // Re-encoded from what was read, so torn entries come out as `missing`
            // with a valid check, exactly as this server sees them.
            return ChunkMapCodec.encode(try file.readMap())
        }
    }

    public func openData(_ id: UploadID) async throws -> OwnedDescriptor {
        try await blocking {
            let file = try self.openMap(id)
            defer { try? file.close() }
            guard try file.readStatus().state == .complete else { throw UploadError.notComplete }
            do throws(IOError) { return try OwnedDescriptor.open(self.dataPath(id), .readOnly) } catch { throw UploadError.storage(error) }
        }
    }

    // MARK: Delete and expiry

    public func delete(_ id: UploadID) async throws {
        try await blocking {
            // The map first: without it the upload no longer exists for any request.
            guard unlink(self.mapPath(id).string) == 0 else {
                if currentErrno() == ENOENT { throw UploadError.notFound }
                throw UploadError.storage(IOError("remove", path: self.mapPath(id), errno: Errno(rawValue: currentErrno())))
            }
            _ = unlink(self.dataPath(id).string)
            self.ended(id)
        }
    }

    public func expire(idleLongerThan idle: Duration) async throws -> [UploadID] {
        let cutoff = Timestamp.now.millisecondsSinceEpoch - Int64(idle.components.seconds) * 1000
        return try await blocking {
            var expired = [UploadID]()
            for id in self.listUploads() {
                guard let file = try? self.openMap(id), let snapshot = try? self.snapshot(of: file, id: id) else { continue }
                try? file.close()
                guard snapshot.state != .complete, snapshot.updatedAt.millisecondsSinceEpoch < cutoff else { continue }
                if unlink(self.mapPath(id).string) == 0 {
                    _ = unlink(self.dataPath(id).string)
                    self.ended(id)
                    expired.append(id)
                }
            }
            return expired
        }
    }

    /// The ids of every upload in the directory (those with a chunk map).
    public func listUploads() -> [UploadID] {
        guard let directory = opendir(options.directory.string) else { return [] }
        defer { closedir(directory) }
        var ids = [UploadID]()
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard name.hasSuffix(".chunkmap"), let id = UploadID(name.dropLast(".chunkmap".count)) else { continue }
            ids.append(id)
        }
        return ids
    }
}
