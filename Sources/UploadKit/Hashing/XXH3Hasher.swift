import CXXHash

/// Streaming XXH3-64 with seed 0, through libxxhash's dispatching entry
/// points (AVX2 / AVX-512 where the CPU has them).
///
/// Not copyable: it owns the C state and frees it in `deinit`.
public struct XXH3Hasher: ~Copyable, @unchecked Sendable {
    private let state: OpaquePointer

    public init() {
        guard let state = XXH3_createState() else {
            fatalError("XXH3_createState failed: out of memory")
        }
        self.state = state
        reset()
    }

    deinit { XXH3_freeState(state) }

    public func reset() {
        _ = XXH3_64bits_reset(state)
    }

    public func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return }
        #if arch(x86_64)
        _ = XXH3_64bits_update_dispatch(state, base, bytes.count)
        #else
        _ = XXH3_64bits_update(state, base, bytes.count)
        #endif
    }

    public func update<C: ContiguousBytes>(_ bytes: C) {
        bytes.withUnsafeBytes { update($0) }
    }

    /// The digest of everything fed since the last reset; the state is kept.
    public func digest() -> XXH3Digest {
        XXH3Digest(XXH3_64bits_digest(state))
    }

    /// XXH3-64 of one buffer in one call.
    public static func hash(_ bytes: UnsafeRawBufferPointer) -> XXH3Digest {
        #if arch(x86_64)
        return XXH3Digest(XXH3_64bits_dispatch(bytes.baseAddress, bytes.count))
        #else
        return XXH3Digest(XXH3_64bits(bytes.baseAddress, bytes.count))
        #endif
    }

    public static func hash<C: ContiguousBytes>(_ bytes: C) -> XXH3Digest {
        bytes.withUnsafeBytes { hash($0) }
    }

    /// XXH3-64 with a seed: used for the chunk-map's own record checks, never
    /// for data digests (those are always seed 0).
    static func hash(_ bytes: UnsafeRawBufferPointer, seed: UInt64) -> UInt64 {
        #if arch(x86_64)
        return XXH3_64bits_withSeed_dispatch(bytes.baseAddress, bytes.count, seed)
        #else
        return XXH3_64bits_withSeed(bytes.baseAddress, bytes.count, seed)
        #endif
    }
}

/// Bytes laid out contiguously: `[UInt8]`, `ArraySlice<UInt8>`, buffers.
public protocol ContiguousBytes {
    func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R
}

extension Array: ContiguousBytes where Element == UInt8 {}
extension ArraySlice: ContiguousBytes where Element == UInt8 {}
extension UnsafeRawBufferPointer: ContiguousBytes {
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(self)
    }
}
