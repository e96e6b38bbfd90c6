import SystemPackage

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

    public var description: String {
        "cannot \(operation) \(path): \(errno.description)"
    }
}
