import SystemPackage

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

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
        do {
            let attributes = try FileManager.default.attributesOfItem(atPath: string)
            guard let date = attributes[.modificationDate] as? Date else { throw IOError("stat", path: self, errno: .ioError) }
            return Timestamp(millisecondsSinceEpoch: Int64((date.timeIntervalSince1970 * 1000).rounded()))
        } catch let error as IOError {
            throw error
        } catch {
            throw IOError("stat", path: self, errno: .noSuchFileOrDirectory)
        }
    }
}
