import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// Apart from the store's files, which import NIO: there `stat` would name
// CNIOLinux's, not the C library's (see ChunkMapFile.allocatedBytes).
enum DataDirectory {
    /// Why `directory` cannot be used now, or nil when it is a directory that answers.
    static func unreachable(_ directory: FilePath) -> String? {
        var info = stat()
        guard stat(directory.string, &info) == 0 else {
            return "the data directory cannot be read: \(Errno(rawValue: errno).description)"
        }
        guard info.st_mode & S_IFMT == S_IFDIR else { return "the data directory is not a directory" }
        return nil
    }
}
