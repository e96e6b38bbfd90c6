import NIOConcurrencyHelpers

/// A value behind a pthread mutex (NIO's lock), used where
/// Synchronization's `Mutex` would be: on Linux that one locks with futexes
/// ThreadSanitizer cannot see, so `make test-sanitizers` reported every
/// access made under it as a race (it did, in the upload's sent counter).
public final class Locked<Value>: @unchecked Sendable {
    private let lock = NIOLock()
    private var value: Value

    public init(_ value: Value) { self.value = value }

    public func withLock<Result, Failure: Error>(_ body: (inout Value) throws(Failure) -> Result) throws(Failure) -> Result {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}
