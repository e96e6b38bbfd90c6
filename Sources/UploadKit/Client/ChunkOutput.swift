import Synchronization
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// Where fetched chunks are written: the output file, and the same file
/// opened a second time with `O_DIRECT` when its filesystem takes that, so
/// that a chunk's page-aligned part goes from its buffer to the device
/// without a copy into the page cache. On this machine a buffered write of
/// 2 GiB into fresh page cache took 3.7-7.8 s (the kernel's copy was half a
/// download's CPU) and a direct one 1.8-3.6 s; a download is written once
/// and rarely read soon after, so the cache would hold nothing worth it.
/// The unaligned end of the last chunk, and every write once the
/// filesystem refuses a direct one (`EINVAL`), go through the buffered
/// descriptor; both write the same file, and the kernel keeps their views
/// of it coherent.
public final class ChunkOutput: Sendable {
    /// The buffered descriptor: reads, syncs and unaligned writes.
    public let file: OwnedDescriptor
    private let direct: OwnedDescriptor?
    private let directRefused = Atomic<Bool>(false)

    /// `directly`: also open the file with `O_DIRECT` (nothing happens when it cannot be).
    public init(_ file: OwnedDescriptor, directly: Bool = false) {
        self.file = file
        direct = directly ? Self.openDirect(file.path) : nil
    }

    /// Whether writes still go around the page cache.
    public var writesDirectly: Bool { direct != nil && !directRefused.load(ordering: .relaxed) }

    /// Writes the buffer's bytes at `offset`.
    public func write(_ buffer: ChunkBuffer, at offset: Int64) throws(IOError) {
        let bytes = buffer.bytes
        var written = 0
        if let direct, !directRefused.load(ordering: .relaxed), offset % Int64(ChunkBuffer.alignment) == 0 {
            let aligned = bytes.count / ChunkBuffer.alignment * ChunkBuffer.alignment
            if aligned > 0 {
                do {
                    try direct.writeAll(toAbsoluteOffset: offset, UnsafeRawBufferPointer(rebasing: bytes[0..<aligned]))
                    written = aligned
                } catch let refusal where refusal.errno == .invalidArgument {
                    // The filesystem (or this range of it) takes no direct writes.
                    directRefused.store(true, ordering: .relaxed)
                }
            }
        }
        try file.writeAll(toAbsoluteOffset: offset + Int64(written), UnsafeRawBufferPointer(rebasing: bytes[written...]))
    }

    /// Closes the direct descriptor; the buffered one stays the caller's.
    public func close() {
        try? direct?.close()
    }

    private static func openDirect(_ path: FilePath) -> OwnedDescriptor? {
        guard let flag = directFlag else { return nil }
        return try? OwnedDescriptor.open(path, .writeOnly, options: FileDescriptor.OpenOptions(rawValue: flag))
    }

    // O_DIRECT, which Glibc's Swift module does not export.
    #if os(Linux) && (arch(x86_64) || arch(i386))
    private static let directFlag: Int32? = 0o40000
    #elseif os(Linux) && (arch(arm64) || arch(arm))
    private static let directFlag: Int32? = 0o200000
    #else
    private static let directFlag: Int32? = nil
    #endif
}
