#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A dedicated OS thread for blocking work (positioned reads, hashing) that
/// must run in parallel with the caller whatever else the process's thread
/// pools are doing. `join()` waits for it; a thread is always joined.
final class WorkerThread: @unchecked Sendable {
    private var handle: pthread_t

    init(_ body: @escaping @Sendable () -> Void) {
        final class Box {
            let body: @Sendable () -> Void
            init(_ body: @escaping @Sendable () -> Void) { self.body = body }
        }
        let context = Unmanaged.passRetained(Box(body)).toOpaque()
        var handle = pthread_t()
        let status = pthread_create(
            &handle, nil,
            { context in
                let box = Unmanaged<Box>.fromOpaque(context!).takeRetainedValue()
                box.body()
                return nil
            }, context)
        precondition(status == 0, "pthread_create failed with \(status)")
        self.handle = handle
    }

    func join() {
        pthread_join(handle, nil)
    }
}
