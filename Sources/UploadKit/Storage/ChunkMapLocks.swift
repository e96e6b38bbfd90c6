import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The parts of an upload's chunk map that writers lock, and so the whole
/// of the coordination between requests, in one process or many, on one
/// machine or several over a shared file system: nothing else is shared.
///
/// Lock layout (byte ranges of the `.chunkmap` file; see `ChunkMapFormat`):
///
/// | range | region | shared by | exclusive by |
/// |---|---|---|---|
/// | byte 1 (in the immutable magic) | `.gate` | a writer, just while it takes `.upload` | an upload-wide change, from before it waits for `.upload` to its end |
/// | the status record, bytes 128..<192 | `.upload` | every chunk write and append, for the whole request | complete, audit, delete, expiry, for their whole work |
/// | byte 0 (in the immutable magic) | `.append` | - | the one append in progress, for its whole body; a chunk `PUT` into the chunk that holds the recorded append offset, while it lowers that offset |
/// | entry i | `.chunk(i)` | - | the writer of chunk i (a chunk `PUT`, for the whole request, or the append filling it, until its entry is committed) |
///
/// Order: `.gate`, `.upload`, `.append`, `.chunk`. Only `.gate` and
/// `.upload` are ever waited for, by polling (no thread is held waiting);
/// the others are tried once, and a holder is reported busy. The gate keeps
/// a stream of writers from starving an upload-wide change: once one waits,
/// new writers wait behind it.
public enum ChunkMapRegion: Sendable, Hashable {
    case gate
    case upload
    case append
    case chunk(ChunkIndex)
}

public enum LockMode: Sendable {
    case shared
    case exclusive
}

/// Takes and releases locks on regions of an open chunk map. The store's
/// only means of coordination; injected so that tests can count or delay it.
public protocol ChunkMapLocking: Sendable {
    /// Takes the lock if no other open file description holds a
    /// conflicting one; false if one does. Never waits.
    func tryLock(_ region: ChunkMapRegion, _ mode: LockMode, in map: ChunkMapFile) throws(IOError) -> Bool
    func unlock(_ region: ChunkMapRegion, in map: ChunkMapFile) throws(IOError)
}

/// Open-file-description locks (`F_OFD_SETLK`, Linux 3.15 and later). They
/// belong to one open of the file, not to the process: two opens in one
/// process exclude each other as two processes do, and closing another
/// descriptor of the file does not drop them (a classic POSIX lock would
/// be dropped). The kernel releases them when the process dies; they work
/// across nodes on GlusterFS's FUSE mounts. Every lock is released
/// explicitly before its descriptor is closed: on GlusterFS, a release
/// left to `close` reached the other nodes 9-50 ms later. An exclusive
/// lock needs a descriptor open for writing.
public struct OpenFileDescriptionLocks: ChunkMapLocking {
    public init() {}

    public func tryLock(_ region: ChunkMapRegion, _ mode: LockMode, in map: ChunkMapFile) throws(IOError) -> Bool {
        try Self.tryLock(map.lockedBytes(region), mode, of: map.descriptor)
    }

    public func unlock(_ region: ChunkMapRegion, in map: ChunkMapFile) throws(IOError) {
        try Self.unlock(map.lockedBytes(region), of: map.descriptor)
    }

    private static func tryLock(_ bytes: ByteRange, _ mode: LockMode, of file: OwnedDescriptor) throws(IOError) -> Bool {
        switch control(setLock, mode.type, bytes, file) {
        case 0: return true
        case EAGAIN, EACCES: return false
        case let errno: throw IOError("lock", path: file.path, errno: Errno(rawValue: errno))
        }
    }

    private static func unlock(_ bytes: ByteRange, of file: OwnedDescriptor) throws(IOError) {
        let errno = control(setLock, CShort(F_UNLCK), bytes, file)
        guard errno == 0 else { throw IOError("unlock", path: file.path, errno: Errno(rawValue: errno)) }
    }

    // From <fcntl.h>; Glibc exports them only under _GNU_SOURCE.
    private static let setLock: CInt = 37

    /// One `fcntl`; answers 0 or the errno.
    private static func control(_ command: CInt, _ type: CShort, _ bytes: ByteRange, _ file: OwnedDescriptor) -> CInt {
        var request = flock()
        request.l_type = type
        request.l_whence = CShort(SEEK_SET)
        request.l_start = off_t(bytes.offset)
        request.l_len = off_t(bytes.length)
        request.l_pid = 0  // required of OFD locks
        let result = withUnsafeMutablePointer(to: &request) { fcntl(file.raw.rawValue, command, UnsafeMutableRawPointer($0)) }
        return result == 0 ? 0 : currentErrno()
    }
}

extension LockMode {
    fileprivate var type: CShort { self == .shared ? CShort(F_RDLCK) : CShort(F_WRLCK) }
}

/// The locks one request holds on one open chunk map. Released in the
/// reverse order they were taken, explicitly, before the map is closed.
/// Used by one task at a time.
final class HeldLocks: @unchecked Sendable {
    let map: ChunkMapFile
    private let locker: any ChunkMapLocking
    private var held: [ChunkMapRegion] = []

    init(_ map: ChunkMapFile, _ locker: any ChunkMapLocking) {
        self.map = map
        self.locker = locker
    }

    /// Takes `region` unless another holder has it; false if one does.
    func tryTake(_ region: ChunkMapRegion, _ mode: LockMode) throws(IOError) -> Bool {
        guard try locker.tryLock(region, mode, in: map) else { return false }
        held.append(region)
        return true
    }

    func release(_ region: ChunkMapRegion) {
        guard let position = held.lastIndex(of: region) else { return }
        held.remove(at: position)
        try? locker.unlock(region, in: map)
    }

    func releaseAll() {
        while let region = held.popLast() { try? locker.unlock(region, in: map) }
    }
}
