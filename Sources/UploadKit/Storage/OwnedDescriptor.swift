import Synchronization
import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A file descriptor that is closed exactly once: by `close()`, whose error
/// is reported, or else when the last reference goes, so that no path
/// (errors included) leaks it. Positioned reads and writes never move a
/// shared offset, so one descriptor may serve several threads.
public final class OwnedDescriptor: Sendable {
    public let raw: FileDescriptor
    public let path: FilePath
    private let closed = Atomic<Bool>(false)

    private init(raw: FileDescriptor, path: FilePath) {
        self.raw = raw
        self.path = path
    }

    public static func open(
        _ path: FilePath, _ mode: FileDescriptor.AccessMode,
        options: FileDescriptor.OpenOptions = [], permissions: FilePermissions? = nil
    ) throws(IOError) -> OwnedDescriptor {
        do {
            let fd = try FileDescriptor.open(
                path, mode, options: options.union(.closeOnExec), permissions: permissions, retryOnInterrupt: true)
            return OwnedDescriptor(raw: fd, path: path)
        } catch {
            throw IOError("open", path: path, error: error)
        }
    }

    deinit {
        if !closed.load(ordering: .acquiring) { try? raw.close() }
    }

    /// Closes now and reports the result: `close()` can report a write-back
    /// error, which must not be lost.
    public func close() throws(IOError) {
        let (exchanged, _) = closed.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing)
        guard exchanged else { return }
        do { try raw.close() } catch { throw IOError("close", path: path, error: error) }
    }

    /// Reads until `buffer` is full or the file ends; returns the bytes read.
    public func readAll(fromAbsoluteOffset offset: Int64, into buffer: UnsafeMutableRawBufferPointer) throws(IOError) -> Int {
        var done = 0
        while done < buffer.count {
            let rest = UnsafeMutableRawBufferPointer(rebasing: buffer[done...])
            let n: Int
            do {
                n = try raw.read(fromAbsoluteOffset: offset + Int64(done), into: rest, retryOnInterrupt: true)
            } catch {
                throw IOError("read", path: path, error: error)
            }
            if n == 0 { break }
            done += n
        }
        return done
    }

    /// Writes every byte at `offset`, retrying short writes.
    public func writeAll(toAbsoluteOffset offset: Int64, _ bytes: UnsafeRawBufferPointer) throws(IOError) {
        do {
            _ = try raw.writeAll(toAbsoluteOffset: offset, bytes)
        } catch {
            throw IOError("write", path: path, error: error)
        }
    }

    public func writeAll(toAbsoluteOffset offset: Int64, _ bytes: [UInt8]) throws(IOError) {
        let result: Result<Void, IOError> = bytes.withUnsafeBytes { buffer in
            Result { () throws(IOError) in try writeAll(toAbsoluteOffset: offset, buffer) }
        }
        try result.get()
    }

    /// The file's length in bytes (for a sparse file, its logical length).
    public func size() throws(IOError) -> Int64 {
        try status().size
    }

    /// `fstat` of the descriptor.
    public func status() throws(IOError) -> Stat {
        do { return try raw.stat() } catch { throw IOError("stat", path: path, errno: error) }
    }

    /// Sets the file's length; a longer file is extended with a hole.
    public func resize(to length: Int64) throws(IOError) {
        guard ftruncate(raw.rawValue, off_t(length)) == 0 else {
            throw IOError("resize", path: path, errno: Errno(rawValue: Glibc.errno))
        }
    }

    /// Flushes the file's data (and the metadata needed to read it) to the device.
    /// After a failure the kernel may have dropped the dirty pages: never
    /// retry and report success.
    public func dataSync() throws(IOError) {
        guard fdatasync(raw.rawValue) == 0 else {
            throw IOError("fdatasync", path: path, errno: Errno(rawValue: Glibc.errno))
        }
    }

    /// Flushes `directory`'s entries to the device: a file created in it, or
    /// renamed over another, is durable only once its directory is synced.
    /// The directory's descriptor is closed on every path.
    public static func syncDirectory(_ directory: FilePath) throws(IOError) {
        let opened = try OwnedDescriptor.open(directory, .readOnly, options: [.directory])
        guard fsync(opened.raw.rawValue) == 0 else {
            let failure = IOError("fsync", path: directory, errno: Errno(rawValue: Glibc.errno))
            try? opened.close()
            throw failure
        }
        try opened.close()
    }

    /// Tells the kernel the file will be read front to back.
    public func adviseSequential() {
        _ = posix_fadvise(raw.rawValue, 0, 0, POSIX_FADV_SEQUENTIAL)
    }
}

func currentErrno() -> CInt { Glibc.errno }
