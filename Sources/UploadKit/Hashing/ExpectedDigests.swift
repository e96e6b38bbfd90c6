/// The digests a client claims for bytes it sends (a chunk, an append):
/// the bytes are refused unless each one given matches.
public struct ExpectedDigests: Sendable, Hashable {
    public var xxh3: XXH3Digest?
    public var sha256: SHA256Digest?

    public init(xxh3: XXH3Digest? = nil, sha256: SHA256Digest? = nil) {
        self.xxh3 = xxh3
        self.sha256 = sha256
    }
}
