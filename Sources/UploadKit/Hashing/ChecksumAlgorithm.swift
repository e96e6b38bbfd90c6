import CCrypto

/// Digests a client may give for a whole body (tus's checksum extension,
/// RFC 9530 fields), computed through OpenSSL's EVP interface.
public enum ChecksumAlgorithm: String, Sendable, CaseIterable {
    case sha1
    case md5
    case sha256
    case sha512

    public var digestLength: Int {
        switch self {
        case .sha1: 20
        case .md5: 16
        case .sha256: 32
        case .sha512: 64
        }
    }

    fileprivate var evp: OpaquePointer? {
        switch self {
        case .sha1: EVP_sha1()
        case .md5: EVP_md5()
        case .sha256: EVP_sha256()
        case .sha512: EVP_sha512()
        }
    }
}

/// A streaming digest of any `ChecksumAlgorithm`. Not copyable: it owns
/// the C context and frees it in `deinit`.
public struct ChecksumHasher: ~Copyable, @unchecked Sendable {
    public let algorithm: ChecksumAlgorithm
    private let context: OpaquePointer

    public init(_ algorithm: ChecksumAlgorithm) {
        guard let context = EVP_MD_CTX_new() else { fatalError("EVP_MD_CTX_new failed: out of memory") }
        guard EVP_DigestInit_ex(context, algorithm.evp, nil) == 1 else {
            fatalError("EVP_DigestInit_ex(\(algorithm)) failed: this OpenSSL cannot compute \(algorithm)")
        }
        self.algorithm = algorithm
        self.context = context
    }

    deinit { EVP_MD_CTX_free(context) }

    public func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return }
        _ = EVP_DigestUpdate(context, base, bytes.count)
    }

    /// The digest of everything fed; feed nothing more after it.
    public func finalize() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 64)
        var length: UInt32 = 0
        _ = out.withUnsafeMutableBufferPointer { EVP_DigestFinal_ex(context, $0.baseAddress, &length) }
        return Array(out.prefix(Int(length)))
    }
}
