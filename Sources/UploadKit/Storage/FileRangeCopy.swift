import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Copies bytes from one file into another at a given offset, in the kernel
/// where it can: `copy_file_range(2)` shares the blocks (a reflink, no second
/// copy on disk) where the file system can (Btrfs, XFS), and elsewhere copies
/// without a trip through user space. Both sides are positioned: no write
/// appends, and neither descriptor's file offset moves. Where the kernel
/// cannot (`EXDEV`, `ENOSYS`, `EOPNOTSUPP`, or `EINVAL` from file systems
/// that refuse it), positioned reads and writes through one 1 MiB buffer
/// copy the rest: nothing ever holds a whole file in memory.
enum FileRangeCopy {
    static let bufferSize = 1 << 20

    /// Copies `length` bytes from the start of `source` to `destination` at
    /// `offset`. A source shorter than `length` is an error (`EIO`), never
    /// a short copy. `inKernel` false goes straight to the read/write loop
    /// (for tests: the fallback is otherwise hard to reach).
    static func copy(from source: OwnedDescriptor, to destination: OwnedDescriptor, at offset: Int64, length: Int64, inKernel: Bool = true) throws(IOError) {
        var done: Int64 = 0
        if inKernel, let kernelCopy = Self.copyFileRange {
            while done < length {
                var input = done
                var output = offset + done
                // At most 1 GiB a call: the kernel caps it near 2 GiB anyway.
                let want = Int(min(length - done, 1 << 30))
                let copied = kernelCopy(source.raw.rawValue, &input, destination.raw.rawValue, &output, want, 0)
                if copied > 0 {
                    done += Int64(copied)
                    continue
                }
                // 0 is the source's end: the loop below reads there and reports it.
                if copied == 0 { break }
                let code = currentErrno()
                if code == EINTR { continue }
                guard [EXDEV, ENOSYS, EOPNOTSUPP, EINVAL].contains(code) else {
                    throw IOError("copy_file_range", path: destination.path, errno: Errno(rawValue: code))
                }
                break
            }
        }
        guard done < length else { return }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: bufferSize, alignment: 4096)
        defer { buffer.deallocate() }
        while done < length {
            let want = Int(min(Int64(bufferSize), length - done))
            let piece = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<want])
            let got = try source.readAll(fromAbsoluteOffset: done, into: piece)
            guard got == want else { throw IOError("read", path: source.path, errno: .ioError) }
            try destination.writeAll(toAbsoluteOffset: offset + done, UnsafeRawBufferPointer(piece))
            done += Int64(want)
        }
    }

    private typealias CopyFileRange =
        @convention(c) (Int32, UnsafeMutablePointer<Int64>?, Int32, UnsafeMutablePointer<Int64>?, Int, UInt32) -> Int

    /// Found by name: Swift's Glibc module declares `copy_file_range` only
    /// under `_GNU_SOURCE`, which it is not built with. nil where the C
    /// library lacks it (the loop then copies). The handle stays open: it
    /// is the program's own, and the C library is never unloaded.
    nonisolated(unsafe) private static let copyFileRange: CopyFileRange? = {
        guard let process = dlopen(nil, RTLD_NOW), let symbol = dlsym(process, "copy_file_range") else { return nil }
        return unsafeBitCast(symbol, to: CopyFileRange.self)
    }()
}
