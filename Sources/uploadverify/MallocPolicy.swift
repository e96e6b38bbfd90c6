#if canImport(Glibc)
import Glibc
#endif

/// Chunk bodies move through 1 MiB buffers, allocated and freed thousands of
/// times a second. glibc's defaults hand such memory back to the kernel as
/// soon as 2 MiB lie free at the top of a heap, so the next buffers fault
/// in fresh, zeroed pages: `upload` of 4 GiB took 242,000 page faults and
/// 1.7 s of system time, and 7,600 faults and 1.2 s with the memory kept
/// (on this VM a fresh page is dearer still: its host must supply it).
/// Keeping freed memory for reuse changes no peak: the buffers in flight
/// are bounded by design, and the peak is what is held either way.
enum MallocPolicy {
    static func keepFreedMemoryForReuse() {
        #if canImport(Glibc)
        // <malloc.h> is not in Swift's Glibc module: find mallopt by name.
        typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
        guard let process = dlopen(nil, RTLD_NOW) else { return }
        defer { dlclose(process) }
        guard let symbol = dlsym(process, "mallopt") else { return }
        let mallopt = unsafeBitCast(symbol, to: Mallopt.self)
        // <malloc.h>: M_TRIM_THRESHOLD is -1, M_MMAP_THRESHOLD -3. Buffers up to
        // 64 MiB come from the heap, not mappings of their own (the default
        // threshold moves, and starts at 128 KiB); trim only past 1 GiB free.
        _ = mallopt(-3, 64 << 20)
        _ = mallopt(-1, 1 << 30)
        #endif
    }
}
