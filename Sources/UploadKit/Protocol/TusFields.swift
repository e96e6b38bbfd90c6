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
    public static let extensions = ["creation", "creation-with-upload", "termination", "expiration", "checksum"]
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
}

public enum TusFieldError: Error, Equatable, CustomStringConvertible {
    case malformedChecksum(String)
    case unknownAlgorithm(String)
    case notANumber(name: String, value: String)
    case malformedSHA256

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
        }
    }
}
