/// What the map knows of one chunk. A digest exists only where it means
/// something: a missing chunk has none, a corrupt one keeps the digest its
/// bytes should have.
public enum ChunkState: Sendable, Hashable {
    case missing
    case verified(XXH3Digest)
    case corrupt(expected: XXH3Digest)

    public var name: String {
        switch self {
        case .missing: "missing"
        case .verified: "verified"
        case .corrupt: "corrupt"
        }
    }

    /// The digest the chunk's bytes have (verified) or should have (corrupt).
    public var digest: XXH3Digest? {
        switch self {
        case .missing: nil
        case .verified(let digest), .corrupt(expected: let digest): digest
        }
    }

    public var isVerified: Bool {
        if case .verified = self { return true }
        return false
    }

    /// The digest a write into this chunk must end with, if any: a damaged
    /// upload holds a confirmed file, so its corrupt chunks take back only
    /// the bytes they were verified with (a receiving upload's client's bytes
    /// are the file, whatever an audit recorded before).
    public func digestARepairMustHave(in upload: UploadState) -> XXH3Digest? {
        guard upload == .damaged, case .corrupt(let recorded) = self else { return nil }
        return recorded
    }
}

/// Where an upload (or a mapped file) stands as a whole.
public enum UploadState: String, Sendable, Hashable {
    /// Chunks are still arriving.
    case receiving
    /// Every chunk verified and the SHA-256 confirmed from disk.
    case complete
    /// Was complete; an audit has since found chunks whose bytes changed.
    case damaged
}
