extension ExitStatus {
    /// What each code means, in the words of docs/PROTOCOL.md's table: for
    /// the manual page, which must not drift from the contract.
    static let documented: [(status: ExitStatus, meaning: String)] = [
        (.ok, "Done: all verified (for diff, identical; for upload and repair, the SHA-256 confirmed)."),
        (
            .integrityProblem,
            "An integrity problem found or left: a corrupt or missing chunk, a size or SHA-256 mismatch, a file that changed while uploaded, "
                + "a source that cannot repair; for diff, any difference."
        ),
        (
            .badInput,
            "Usage or bad input: an unknown option, a malformed size, duration, digest or URL, a path that does not exist or cannot be opened, "
                + "a damaged, truncated or foreign .chunkmap, geometry that does not match, bad TLS files."
        ),
        (
            .failure,
            "I/O, network or server error: a read or write that fails, a server that cannot be reached or answers an error "
                + "(an unknown upload's 404 included)."
        ),
    ]
}
