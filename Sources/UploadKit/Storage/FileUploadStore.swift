import NIOCore
import NIOPosix
import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The `UploadStore` on a file system: `DIR/ID` is the data file and
/// `DIR/ID.chunkmap` its chunk map. Blocking file I/O runs on the store's
/// I/O threads, never on an event loop or the concurrency pool.
///
/// Any number of stores, in one process or in several (`serve` processes,
/// the offline `audit`), may share one directory: they coordinate only
/// through byte-range locks on each upload's chunk map (see
/// `ChunkMapRegion` for the layout). Nothing a store keeps in memory is trusted without being
/// checked against the files (the hashed prefix, see `PrefixHashing`).
public final class FileUploadStore: UploadStore {
    public struct Options: Sendable {
        public var directory: FilePath
        public var maxUploadSize: ByteCount
        /// fdatasync data and map entry before a chunk is acknowledged.
        public var fsync: Bool
        /// How large a batch of buffers writers gather before one hop to the I/O pool.
        public var writeBatches: WriteBatchLimits
        /// Incomplete uploads allowed at once in the directory.
        public var maxOpenUploads: Int
        /// The only coordination between writers: locks on chunk maps.
        public var locker: any ChunkMapLocking
        /// Tests only: fails chosen disk operations.
        public var faults: (any DiskFaultInjector)?
        /// Tests only: stops at a point of a chunk write or an append.
        public var crashProbe: (any CrashProbe)?
        /// `serve --parity PERCENT`: Reed-Solomon parity of about this share
        /// of each upload, written beside it (`ID.parity`) at completion.
        public var parityPercent: Int?

        public init(
            directory: FilePath, maxUploadSize: ByteCount = ChunkLayout.maximumFileSize, fsync: Bool = true,
            writeBatches: WriteBatchLimits = WriteBatchLimits(),
            maxOpenUploads: Int = 1000, locker: any ChunkMapLocking = OpenFileDescriptionLocks(), faults: (any DiskFaultInjector)? = nil,
            crashProbe: (any CrashProbe)? = nil, parityPercent: Int? = nil
        ) {
            self.parityPercent = parityPercent
            self.maxOpenUploads = maxOpenUploads
            self.directory = directory
            self.maxUploadSize = maxUploadSize
            self.fsync = fsync
            self.writeBatches = writeBatches
            self.locker = locker
            self.faults = faults
            self.crashProbe = crashProbe
        }
    }

    public let options: Options
    let writeLocks = FileWriteLocks()
    let batchSizing: WriteBatchSizing
    let prefixHashing: PrefixHashing
    let executor: StoreExecutor
    private let layouts = Locked<[UploadID: ChunkLayout]>([:])

    public init(options: Options, executor: StoreExecutor = .shared) throws(IOError) {
        self.options = options
        self.executor = executor
        self.batchSizing = WriteBatchSizing(options.writeBatches)
        self.prefixHashing = PrefixHashing(lane: executor.background)
        if mkdir(options.directory.string, 0o755) != 0 && currentErrno() != EEXIST {
            throw IOError("create directory", path: options.directory, errno: Errno(rawValue: currentErrno()))
        }
    }

    func dataPath(_ id: UploadID) -> FilePath { options.directory.appending(id.rawValue) }
    func mapPath(_ id: UploadID) -> FilePath { options.directory.appending(id.rawValue + ".chunkmap") }
    func files(_ id: UploadID) -> PrefixHashing.Files { .init(data: dataPath(id), map: mapPath(id)) }

    /// What the store keeps in memory for an upload in progress (its hashed
    /// prefix), let go once it completed, was deleted or expired.
    func ended(_ id: UploadID) {
        prefixHashing.forget(id)
    }

    /// Opens an upload's data file for a writer; one deleted (or expired)
    /// since its map was opened is `notFound`.
    func openDataForWriting(_ id: UploadID, _ mode: SystemPackage.FileDescriptor.AccessMode) async throws -> OwnedDescriptor {
        do {
            return try await blocking { try OwnedDescriptor.open(self.dataPath(id), mode) }
        } catch let error as IOError {
            guard error.errno == .noSuchFileOrDirectory || error.isStaleHandle else { throw UploadError.storage(error) }
            try checkReachable()
            throw UploadError.notFound
        }
    }

    /// Runs file operations, reporting a failed system call as the store's
    /// `.storage` error (other errors pass as they are).
    func storage<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let error as IOError { throw UploadError.storage(error) }
    }

    /// Whether the data directory is there to be read: on a network
    /// filesystem a lost mount leaves either an error (ENOTCONN) or, once
    /// unmounted, the empty directory beneath it, where every upload would
    /// look deleted. So a missing upload is only `notFound` while this holds.
    public func checkReachable() throws {
        if let problem = DataDirectory.unreachable(options.directory) { throw UploadError.storageUnreachable(problem) }
    }

    /// Runs blocking file work on the I/O pool.
    func blocking<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await executor.requests.runIfActive(work)
    }

    /// Opens an upload's chunk map; a missing one is `notFound`.
    func openMap(_ id: UploadID, writable: Bool = false) throws -> ChunkMapFile {
        do {
            return try ChunkMapFile.open(mapPath(id), writable: writable)
        } catch .io(let error) where error.errno == .noSuchFileOrDirectory || error.isStaleHandle {
            try checkReachable()
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
        // A concatenation's role is recorded in the metadata (see ConcatenationRecord): a client may not forge one.
        if ConcatenationRecord.isNamed(in: metadata) { throw UploadError.reservedMetadataKey(ConcatenationRecord.key) }
        return try await create(length: length, chunkSize: chunkSize, expectedSHA256: expectedSHA256, recording: metadata)
    }

    /// `create`, with `metadata` written to the map as given (the store's own records included).
    func create(length: ByteCount, chunkSize: ByteCount?, expectedSHA256: SHA256Digest?, recording metadata: String) async throws -> UploadSnapshot {
        guard length <= options.maxUploadSize else { throw UploadError.tooLarge(size: length.bytes, limit: options.maxUploadSize.bytes) }
        try checkReachable()
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
        try await blocking {
            do {
                // Most refusals come here, before anything is written.
                try self.admit(id, length: length.bytes)
                // The data file first: a chunk map names an upload only once its data file exists.
                let data = try OwnedDescriptor.open(
                    dataPath, .writeOnly, options: [.create, .exclusiveCreate], permissions: [.ownerReadWrite, .groupRead])
                do {
                    try data.resize(to: length.bytes)
                    if fsync { try data.dataSync() }
                    try data.close()
                    try ChunkMapFile.write(map, to: mapPath, sync: fsync)
                    // Both new names (the data file's and the map's) durable before the 201.
                    if fsync { try OwnedDescriptor.syncDirectory(self.options.directory) }
                    // Again, now that this upload counts for any other store creating at once.
                    try self.admit(id, length: length.bytes)
                } catch {
                    _ = unlink(mapPath.string)
                    _ = unlink(dataPath.string)
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

    public func layout(_ id: UploadID) async throws -> ChunkLayout {
        if let known = layouts.withLock({ $0[id] }) { return known }
        let layout = try await blocking {
            let file = try self.openMap(id)
            defer { try? file.close() }
            return file.layout
        }
        layouts.withLock { known in
            // A header never changes and ids are never reused, so the cache
            // is never wrong; it is only kept small.
            if known.count >= 4096 { known.removeAll(keepingCapacity: true) }
            known[id] = layout
        }
        return layout
    }

    public func read(_ id: UploadID, range: ByteRange?) async throws -> DataStream {
        try await blocking {
            let file = try self.openMap(id)
            defer { try? file.close() }
            guard try file.readStatus().state == .complete else { throw UploadError.notComplete }
            let data = try self.storage { try OwnedDescriptor.open(self.dataPath(id), .readOnly) }
            let size = try self.storage { try data.size() }
            let range = range ?? ByteRange(offset: 0, length: size)
            guard range.end <= size else {
                try? data.close()
                throw UploadError.rangeOutsideFile(range, fileSize: size)
            }
            // The reader closes the file once it has read the range, or when it is dropped.
            let buffers = FileRangeReader(file: data, range: range, on: self.executor.requests) { at in
                UploadError.dataSizeMismatch(expected: size, actual: at)
            }
            return DataStream(range: range, fileSize: size, buffers: buffers)
        }
    }

    // MARK: Delete and expiry

    /// Waits for the upload's writers to finish (its `.upload` lock,
    /// exclusive), then removes the map and the data file: a writer that
    /// waited finds the map removed and writes nothing.
    public func delete(_ id: UploadID) async throws {
        try await withUploadWideChange(id) { _ in try self.remove(id) }
    }

    /// The map first: without it the upload no longer exists for any request.
    private func remove(_ id: UploadID) throws {
        guard unlink(mapPath(id).string) == 0 else {
            if currentErrno() == ENOENT { throw UploadError.notFound }
            throw UploadError.storage(IOError("remove", path: mapPath(id), errno: Errno(rawValue: currentErrno())))
        }
        _ = unlink(dataPath(id).string)
        _ = unlink(parityPath(id).string)
        ended(id)
    }

    /// Whichever store takes an idle upload's `.upload` lock removes it; an
    /// upload with a writer (or an audit) at work is not idle, and is skipped.
    public func expire(idleLongerThan idle: Duration) async throws -> [UploadID] {
        let cutoff = Timestamp.now.millisecondsSinceEpoch - Int64(idle.components.seconds) * 1000
        return try await blocking {
            var expired = [UploadID]()
            for id in self.listUploads() {
                guard let map = try? self.openMap(id, writable: true) else { continue }
                let locks = HeldLocks(map, self.options.locker)
                defer {
                    locks.releaseAll()
                    try? map.close()
                }
                guard (try? locks.tryTake(.gate, .exclusive)) == true, (try? locks.tryTake(.upload, .exclusive)) == true,
                    (try? map.isRemoved()) == false,
                    let snapshot = try? self.snapshot(of: map, id: id),
                    snapshot.state != .complete, snapshot.updatedAt.millisecondsSinceEpoch < cutoff
                else { continue }
                if (try? self.remove(id)) != nil { expired.append(id) }
            }
            return expired
        }
    }

    // MARK: Admission

    /// Admits the upload just created, counting it among the open ones
    /// first: two stores creating at once each see the other's upload, so
    /// they may both refuse, but never both admit what only one fits.
    private func admit(_ id: UploadID, length: Int64) throws {
        let others = openUploadsStillNeeding(except: id)
        try UploadAdmission.check(
            length: length, open: others, available: try DiskSpace.available(at: options.directory), limit: options.maxOpenUploads)
    }

    /// For every upload not complete in the directory (receiving, or damaged
    /// and taking repairs), the bytes it may
    /// still write: its length less what its data file already holds on disk.
    /// Read from the files at each creation, so that every store sharing the
    /// directory counts every other's uploads.
    func openUploadsStillNeeding(except excluded: UploadID? = nil) -> [Int64] {
        let directory = options.directory.string
        return listUploads().compactMap { id -> Int64? in
            guard id != excluded, let (fileSize, status) = ChunkMapFile.peekStatus(atPath: "\(directory)/\(id.rawValue).chunkmap"),
                status.state != .complete
            else { return nil }
            return max(0, fileSize - ChunkMapFile.allocatedBytes(atPath: "\(directory)/\(id.rawValue)"))
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
