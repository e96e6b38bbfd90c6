#if canImport(Glibc)
import Glibc
#endif

/// Work done ahead of need, such as hashing an upload's verified prefix before
/// `complete` asks for it, should not slow what a client is waiting on: on a
/// busy machine it would take a core from the requests themselves.
enum BackgroundPriority {
    /// The nice value such work runs at. Under full load it gets about a tenth
    /// of a core against the requests' threads, not half, yet never starves:
    /// `complete` waits for the block it is hashing, and the kernel's idle
    /// class could make that wait last seconds.
    static let niceness: Int32 = 10

    /// Lowers the calling thread (not the process). A failure leaves it where
    /// it was: this is about speed, not correctness.
    static func lowerCurrentThread() {
        #if os(Linux)
        // Linux keeps a nice value per thread, addressed by its thread ID,
        // which Glibc has no gettid() for here: /proc/thread-self names it.
        var link = [CChar](repeating: 0, count: 64)
        guard readlink("/proc/thread-self", &link, link.count - 1) > 0,
            let thread = String(cString: link).split(separator: "/").last.flatMap({ id_t($0) })
        else { return }
        _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), thread, niceness)
        #endif
    }
}
