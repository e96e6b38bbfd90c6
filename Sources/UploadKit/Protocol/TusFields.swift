#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// What tus 1.0.0 asks of its header values, parsed into the store's terms.
public enum TusFields {
    /// The one version of tus this server speaks.
    public static let version = "1.0.0"
    /// Not creation-defer-length: a chunk map needs the length up front.
    /// Nor concatenation-unfinished: a final upload is made of complete parts.
    public static let extensions = ["creation", "creation-with-upload", "termination", "expiration", "checksum", "concatenation"]
    public static let offsetMediaType = "application/offset+octet-stream"

    /// `Upload-Checksum: ALGORITHM BASE64`.
    public static func checksum(_ value: String) throws(TusFieldError) -> BodyChecksum {
        let parts = value.split(separator: " ", omittingEmptySubsequences: true)
        guard parts.count == 2 else { throw .malformedChecksum(value) }
        guard let algorithm = ChecksumAlgorithm(rawValue: parts[0].lowercased()) else { throw .unknownAlgorithm(String(parts[0])) }
        guard let digest = Data(base64Encoded: String(parts[1])), digest.count == algorithm.digestLength else {
            throw .malformedChecksum(value)
        }
        return BodyChecksum(algorithm, digest: Array(digest))
    }

    /// `Upload-Offset` and `Upload-Length`: a non-negative decimal.
    public static func byteCount(_ value: String, name: String) throws(TusFieldError) -> Int64 {
        guard let number = ASCIIDecimal.parse(value) else { throw .notANumber(name: name, value: value) }
        return number
    }

    /// The SHA-256 a client may announce in its metadata, under the key
    /// `sha256`: 64 hex digits, or the 32 bytes themselves, base64-encoded as
    /// every metadata value is.
    public static func announcedSHA256(inMetadata metadata: String) throws(TusFieldError) -> SHA256Digest? {
        guard let pairs = try? UploadMetadata.validate(metadata), let pair = pairs.first(where: { $0.key == "sha256" }) else { return nil }
        guard let bytes = Data(base64Encoded: pair.value) else { throw .malformedSHA256 }
        if bytes.count == 32 { return SHA256Digest(bytes: Array(bytes)) }
        guard let hex = String(data: bytes, encoding: .utf8), let digest = try? SHA256Digest(hex: hex) else { throw .malformedSHA256 }
        return digest
    }

    /// `Upload-Concat` at creation: `partial`, or `final;URL URL …` (no
    /// space after the semicolon needed, spaces between URLs). Each URL is
    /// absolute (`http://HOST/files/ID`, the host not looked at: behind a
    /// proxy it may be any) or a path (`/files/ID`, or with any prefix
    /// before `/files/`), and names an upload by its last segment; whether
    /// that is an id, and an upload's, is for the caller to find.
    public static func concatenation(_ value: String) throws(TusFieldError) -> TusConcatenation {
        if value == "partial" { return .partial }
        guard value.hasPrefix("final;") else { throw .malformedConcatenation(value) }
        var names = [String]()
        for url in value.dropFirst("final;".count).split(separator: " ", omittingEmptySubsequences: true) {
            guard let name = uploadName(inURL: url) else { throw .malformedConcatenation(value) }
            names.append(name)
        }
        guard !names.isEmpty else { throw .malformedConcatenation(value) }
        return .final(names)
    }

    /// The `Upload-Concat` a `HEAD` answers: `partial`, or `final;` and
    /// the parts as paths of this server.
    public static func concatenationValue(_ role: ConcatenationRole) -> String {
        switch role {
        case .partial: "partial"
        case .final(let parts): "final;" + parts.map { "/files/\($0)" }.joined(separator: " ")
        }
    }

    /// The segment after `/files/` at the end of a URL's path (a trailing `/` allowed).
    private static func uploadName(inURL url: Substring) -> String? {
        var path = url
        if let scheme = url.firstRange(of: "://") {
            let rest = url[scheme.upperBound...]
            guard let slash = rest.firstIndex(of: "/") else { return nil }
            path = rest[slash...]
        }
        guard !path.contains("?"), !path.contains("#") else { return nil }
        var segments = path.split(separator: "/", omittingEmptySubsequences: false)
        if segments.count > 1, segments.last?.isEmpty == true { segments.removeLast() }
        guard segments.count >= 2, segments[segments.count - 2] == "files", let name = segments.last, !name.isEmpty else { return nil }
        return String(name)
    }
}

/// What `Upload-Concat` asks of a creation.
public enum TusConcatenation: Sendable, Hashable {
    case partial
    /// The partial uploads to concatenate, in order, each by the last
    /// segment of its URL (not yet checked to be an id).
    case final([String])
}

public enum TusFieldError: Error, Equatable, CustomStringConvertible {
    case malformedChecksum(String)
    case unknownAlgorithm(String)
    case notANumber(name: String, value: String)
    case malformedSHA256
    case malformedConcatenation(String)

    public var description: String {
        switch self {
        case .malformedChecksum(let value):
            "Upload-Checksum '\(value)' is not 'ALGORITHM BASE64-DIGEST' with a digest of that algorithm's length"
        case .unknownAlgorithm(let name):
            "Upload-Checksum algorithm '\(name)' is not one of \(ChecksumAlgorithm.allCases.map(\.rawValue).joined(separator: ", "))"
        case .notANumber(let name, let value):
            "\(name) '\(value)' is not a decimal byte count"
        case .malformedSHA256:
            "Upload-Metadata's sha256 is neither 64 hex digits nor 32 bytes, base64-encoded"
        case .malformedConcatenation(let value):
            "Upload-Concat '\(value)' is neither 'partial' nor 'final;' and the partial uploads' URLs, separated by spaces, each ending in /files/ID"
        }
    }
}
