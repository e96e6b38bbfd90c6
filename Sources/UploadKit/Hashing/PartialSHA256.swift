/// A SHA-256 over the first `hashedBytes` bytes of a file, to be carried on
/// from there by whoever reads the rest (`FileScan.scan(continuing:)`).
/// Once finalized it is spent.
public final class PartialSHA256: @unchecked Sendable {
    let hasher = SHA256Hasher()
    public private(set) var hashedBytes: Int64 = 0

    public init() {}

    /// The next bytes of the file, in order.
    public func update(_ bytes: UnsafeRawBufferPointer) {
        hasher.update(bytes)
        hashedBytes += Int64(bytes.count)
    }
}
