import SystemPackage

/// The store's writes on the way to a verified chunk (and a completed
/// upload), named so that a test can fail the N-th of each kind.
public enum DiskOperation: String, Sendable, CaseIterable, CustomStringConvertible {
    case dataWrite = "data write"
    case dataSync = "data fdatasync"
    case mapWrite = "chunk map write"
    case mapSync = "chunk map fdatasync"

    public var description: String { rawValue }
}

/// Asked before each `DiskOperation`; an errno returned is reported as that
/// operation's failure and the operation is not performed. Production
/// stores have none: this is how tests prove that every failing write,
/// sync or sidecar update ends in a clear error and never in a verified chunk.
public protocol DiskFaultInjector: Sendable {
    func failure(before operation: DiskOperation) -> Errno?
}

extension FileUploadStore {
    /// Runs one disk operation, unless the fault injector fails it first.
    func perform<T>(_ operation: DiskOperation, on path: FilePath, _ body: () throws(IOError) -> T) throws(IOError) -> T {
        if let errno = options.faults?.failure(before: operation) {
            throw IOError(operation.rawValue, path: path, errno: errno)
        }
        return try body()
    }
}
