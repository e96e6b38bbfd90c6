/// What can go wrong talking to a server, in words a person can act on.
public enum ClientError: Error, Sendable, CustomStringConvertible {
    case notAnUploadURL(String)
    case notAServerURL(String)
    /// The server answered with a problem (RFC 9457) or an unexpected status.
    case server(status: Int, type: String?, detail: String)
    case unreachable(String, reason: String)
    case badAnswer(String)
    case sizeMismatch(local: Int64, remote: Int64)
    case fileChanged(String)
    /// The SHA-256 of the local file (`local`: the one uploaded, downloaded
    /// or repaired) is not the one confirmed (`confirmed`: the server's from
    /// its disk, or for a local repair the source file's).
    case sha256Mismatch(local: SHA256Digest, confirmed: SHA256Digest)
    /// A local file could not be read or written.
    case local(IOError)
    /// A repair cannot reach a confirmed SHA-256 (a damaged source, a server
    /// chunk verified with other bytes, a geometry that differs).
    case cannotRepair(String)
    /// A chunk fetched from a server hashed to another XXH3 than the one the
    /// server recorded for it, on every attempt. Its bytes were not written.
    case chunkArrivedWrong(index: ChunkIndex, range: ByteRange, expected: XXH3Digest, actual: XXH3Digest, attempts: Int)

    public var description: String {
        switch self {
        case .notAnUploadURL(let text):
            return "'\(text)' is not an upload URL: write http://HOST:PORT/uploads/ID"
        case .notAServerURL(let text):
            return "'\(text)' is not a server URL: write http://HOST:PORT"
        case .server(let status, _, let detail):
            return "the server answered \(status): \(detail)"
        case .unreachable(let server, let reason):
            return "cannot reach \(server): \(reason)"
        case .badAnswer(let what):
            return "the server's answer makes no sense: \(what)"
        case .sizeMismatch(let local, let remote):
            return "the upload is \(remote) bytes but the file is \(local) bytes: it is another file's upload"
        case .fileChanged(let path):
            return "\(path) changed while it was being uploaded: upload it again once it is stable"
        case .sha256Mismatch(let local, let confirmed):
            return "the local file's SHA-256 is \(local), but the confirmed one (the server's, or for a local repair the source's) is \(confirmed)"
        case .local(let error):
            return error.description
        case .cannotRepair(let reason):
            return "cannot repair: \(reason)"
        case .chunkArrivedWrong(let index, let range, let expected, let actual, let attempts):
            return
                "chunk \(index) (\(range), \(range.length) bytes) arrived with xxh3 \(actual) instead of the server's \(expected) on each of \(attempts) attempts, so it was not written: the server's copy is damaged (check with 'uploadverify verify URL') or something on the way changes the bytes"
        }
    }

    /// The problem type's last path component, e.g. `chunk-busy`.
    public var problemSlug: String? {
        guard case .server(_, let type?, _) = self else { return nil }
        return type.split(separator: "/").last.map(String.init)
    }

    /// Worth another try: the network, or the server saying so.
    public var isTransient: Bool {
        switch self {
        case .unreachable: return true
        case .server(let status, _, _): return status >= 500 || status == 408 || problemSlug == "chunk-busy"
        default: return false
        }
    }
}
