extension ExitStatus {
    /// What each code means, word for word docs/PROTOCOL.md's exit-code
    /// table (its code marks dropped): for the manual page, which must not
    /// drift from the contract (a test compares the two).
    static let documented: [(status: ExitStatus, meaning: String)] = [
        (.ok, "all verified (for diff: identical; for upload and repair: the SHA-256 confirmed)"),
        (
            .integrityProblem,
            "an integrity problem found or left: a corrupt or missing chunk, a size or SHA-256 mismatch, a file that changed while uploaded, "
                + "a source that cannot repair, for diff any difference"
        ),
        (
            .badInput,
            "usage or bad input: unknown option, malformed size, duration, digest or URL, a path that does not exist or cannot be opened, "
                + "a directory where a file is needed, a damaged, truncated or foreign .chunkmap, geometry that does not match, bad TLS files"
        ),
        (
            .failure,
            "I/O, network or server error: a read or write that fails, a file that shrinks while read, a server that cannot be reached "
                + "or answers an error not listed under 1"
        ),
    ]
}
