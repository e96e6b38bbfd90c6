import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A failed system call on a file, with what a person needs to act on it:
/// the operation, the path and the system's reason.
public struct IOError: Error, Equatable, CustomStringConvertible {
    public let operation: String
    public let path: FilePath
    public let errno: Errno

    public init(_ operation: String, path: FilePath, errno: Errno) {
        self.operation = operation
        self.path = path
        self.errno = errno
    }

    init(_ operation: String, path: FilePath, error: any Error) {
        self.init(operation, path: path, errno: (error as? Errno) ?? .ioError)
    }

    public var isOutOfSpace: Bool { errno == .noSpace || errno == .diskQuotaExceeded }

    /// The storage is out of reach rather than wrong: a network filesystem's
    /// mount that lost its server (GlusterFS's FUSE client answers ENOTCONN),
    /// an NFS handle gone stale, a device gone. Worth a retry, elsewhere or later.
    public var isStorageUnreachable: Bool {
        switch errno.rawValue {
        case ENOTCONN, ENODEV, ENXIO, EHOSTDOWN, EHOSTUNREACH, ETIMEDOUT: true
        default: false
        }
    }

    /// The file was removed under an open descriptor through another client
    /// of a shared filesystem (another node's delete): NFS and GlusterFS
    /// answer ESTALE, for a second or so, where a local disk would have
    /// gone on reading the unlinked file.
    public var isStaleHandle: Bool { errno.rawValue == ESTALE }

    public var description: String {
        "cannot \(operation) \(path): \(errno.description)"
    }
}
