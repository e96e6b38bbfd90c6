import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Which upload URL a local file was being sent to, so that running the
/// same `upload` again resumes it. Keyed by a fingerprint of the file's
/// real path, size and modification time: a changed file never matches.
/// Kept in `$XDG_CACHE_HOME/uploadverify/uploads.json` (default `~/.cache`).
public struct ResumeState: Sendable {
    public struct Fingerprint: Sendable, Hashable, Codable {
        public let path: String
        public let size: Int64
        public let modifiedNanoseconds: Int64

        public var key: String { "\(path)|\(size)|\(modifiedNanoseconds)" }
    }

    struct Entry: Codable {
        var url: String
        var server: String
        var complete: Bool
    }

    public let file: URL

    public init(environment: [String: String]) {
        let base =
            environment["XDG_CACHE_HOME"].flatMap { $0.isEmpty ? nil : $0 }
            ?? (environment["HOME"] ?? "/tmp") + "/.cache"
        file = URL(fileURLWithPath: base).appendingPathComponent("uploadverify").appendingPathComponent("uploads.json")
    }

    public static func fingerprint(of descriptor: OwnedDescriptor, path: String) throws(IOError) -> Fingerprint {
        let info = try descriptor.status()
        let real = (try? FileManager.default.destinationOfSymbolicLink(atPath: path)) ?? path
        let absolute = real.hasPrefix("/") ? real : FileManager.default.currentDirectoryPath + "/" + real
        let modified = Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec)
        return Fingerprint(path: FilePath(absolute).lexicallyNormalized().string, size: info.size, modifiedNanoseconds: modified)
    }

    private func load() -> [String: Entry] {
        guard let data = try? Data(contentsOf: file) else { return [:] }
        return (try? JSONDecoder().decode([String: Entry].self, from: data)) ?? [:]
    }

    /// The upload this file was last sent to on `server`, if any.
    public func lookup(_ fingerprint: Fingerprint, server: String) -> (url: UploadURL, complete: Bool)? {
        guard let entry = load()[fingerprint.key], entry.server == server, let url = try? UploadURL(parsing: entry.url) else { return nil }
        return (url, entry.complete)
    }

    /// Records (or, with nil, forgets) the upload of a file; written atomically.
    public func record(_ fingerprint: Fingerprint, url: UploadURL?, complete: Bool = false) {
        var entries = load()
        entries[fingerprint.key] = url.map { Entry(url: $0.description, server: $0.server, complete: complete) }
        do {
            try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
            try JSONEncoder().encode(entries).write(to: file, options: .atomic)
        } catch {
            // Losing the record only costs a resume: the upload itself is unaffected.
        }
    }
}
