import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

enum DiskSpace {
    /// Bytes an unprivileged process may still write on the file system of `path`.
    static func available(at path: FilePath) throws(IOError) -> Int64 {
        var info = statvfs()
        guard statvfs(path.string, &info) == 0 else {
            throw IOError("statvfs", path: path, errno: Errno(rawValue: currentErrno()))
        }
        return Int64(info.f_bavail) * Int64(info.f_frsize)
    }
}

extension FilePath {
    /// The last modification time, in milliseconds since the epoch.
    func modificationTime() throws(IOError) -> Timestamp {
        var info = Glibc.stat()
        guard fstatat(AT_FDCWD, string, &info, 0) == 0 else {
            throw IOError("stat", path: self, errno: Errno(rawValue: currentErrno()))
        }
        return Timestamp(millisecondsSinceEpoch: Int64(info.st_mtim.tv_sec) * 1000 + Int64(info.st_mtim.tv_nsec) / 1_000_000)
    }
}
