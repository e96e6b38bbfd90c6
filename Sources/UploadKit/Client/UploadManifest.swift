#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// What `upload --manifest M` writes and `download --manifest M` reads back:
/// each file sent, under the path it had below the folder (or file) named
/// on the command line, with its size, its confirmed SHA-256 and the upload
/// that holds it. JSON, one object, `version` 1:
///
///     {"files":[{"path":"photos/a.jpg","sha256":"…","size":1048576,"url":"http://…/uploads/ID"}],"version":1}
public struct UploadManifest: Sendable, Codable, Equatable {
    public struct File: Sendable, Codable, Equatable {
        public let path: String
        public let size: Int64
        public let sha256: String
        public let url: String

        public init(path: String, size: Int64, sha256: SHA256Digest, url: UploadURL) {
            self.path = path
            self.size = size
            self.sha256 = sha256.description
            self.url = url.description
        }
    }

    public static let version = 1
    public let version: Int
    public let files: [File]

    /// Files in path order, so that two manifests of one tree compare equal.
    public init(files: [File]) {
        version = Self.version
        self.files = files.sorted { $0.path < $1.path }
    }

    /// Written to a temporary name beside `path`, then renamed over it: a
    /// reader never sees half a manifest.
    public func write(to path: String) throws {
        try JSONCoding.encode(self).write(to: URL(fileURLWithPath: path), options: .atomic)
    }

    public static func read(from path: String) throws(UploadManifestError) -> UploadManifest {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw .unreadable(path, FileManager.default.fileExists(atPath: path) ? "it cannot be read" : "no such file")
        }
        let manifest: UploadManifest
        do { manifest = try JSONDecoder().decode(UploadManifest.self, from: data) } catch {
            throw .invalid(path, "it is not a manifest of 'uploadverify upload --manifest' (\(error))")
        }
        guard manifest.version == version else {
            throw .invalid(path, "it is a version \(manifest.version) manifest; this uploadverify reads version \(version)")
        }
        for file in manifest.files {
            guard isSafeRelativePath(file.path) else {
                throw .invalid(path, "its entry '\(file.path)' is not a relative path inside the output folder")
            }
            guard (try? SHA256Digest(hex: file.sha256)) != nil, (try? UploadURL(parsing: file.url)) != nil, file.size >= 0 else {
                throw .invalid(path, "its entry '\(file.path)' has no valid sha256, size or url")
            }
        }
        return manifest
    }

    /// A manifest names where files land: never outside the folder they are
    /// downloaded into (no absolute path, no `..`, no empty or `.` part).
    static func isSafeRelativePath(_ path: String) -> Bool {
        guard !path.isEmpty, !path.hasPrefix("/"), !path.utf8.contains(0) else { return false }
        return path.split(separator: "/", omittingEmptySubsequences: false).allSatisfy { $0 != "" && $0 != "." && $0 != ".." }
    }
}

public enum UploadManifestError: Error, Sendable, CustomStringConvertible {
    case unreadable(String, String)
    case invalid(String, String)

    public var description: String {
        switch self {
        case .unreadable(let path, let reason): "cannot read the manifest \(path): \(reason)"
        case .invalid(let path, let reason): "\(path) cannot be used: \(reason)"
        }
    }
}
