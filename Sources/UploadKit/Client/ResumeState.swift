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
///
/// Read once per command and kept in memory. Each record is written at once
/// by default; a command uploading many files sets `writeInterval`, so that
/// a thousand files do not rewrite the file two thousand times, and calls
/// `flush()` at its end. A crash then loses at most the records of that
/// interval, which costs those files a fresh upload instead of a resume.
/// Each write re-reads the file and lays this command's records over it, so
/// that two commands running at once keep each other's records.
public final class ResumeState: Sendable {
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

    private struct Cache {
        var entries: [String: Entry]?
        /// This command's records not yet written (nil: forget the key).
        var unwritten: [String: Entry?] = [:]
        var lastWrite: ContinuousClock.Instant?
    }

    public let file: URL
    /// The least time between two writes of the file; zero writes each record at once.
    public let writeInterval: Duration
    private let cache = Locked(Cache())

    public init(environment: [String: String], writeInterval: Duration = .zero) {
        let base =
            environment["XDG_CACHE_HOME"].flatMap { $0.isEmpty ? nil : $0 }
            ?? (environment["HOME"] ?? "/tmp") + "/.cache"
        file = URL(fileURLWithPath: base).appendingPathComponent("uploadverify").appendingPathComponent("uploads.json")
        self.writeInterval = writeInterval
    }

    public static func fingerprint(of descriptor: OwnedDescriptor, path: String) throws(IOError) -> Fingerprint {
        let info = try descriptor.status()
        let real = (try? FileManager.default.destinationOfSymbolicLink(atPath: path)) ?? path
        let modified = Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec)
        return Fingerprint(path: FileTree.absolutePath(real), size: info.size, modifiedNanoseconds: modified)
    }

    private func load() -> [String: Entry] {
        guard let data = try? Data(contentsOf: file) else { return [:] }
        return (try? JSONDecoder().decode([String: Entry].self, from: data)) ?? [:]
    }

    /// The upload this file was last sent to on `server`, if any.
    public func lookup(_ fingerprint: Fingerprint, server: String) -> (url: UploadURL, complete: Bool)? {
        let entry = cache.withLock { cache -> Entry? in
            if cache.entries == nil { cache.entries = load() }
            return cache.entries?[fingerprint.key]
        }
        guard let entry, entry.server == server, let url = try? UploadURL(parsing: entry.url) else { return nil }
        return (url, entry.complete)
    }

    /// Records (or, with nil, forgets) the upload of a file; written
    /// atomically, now or within `writeInterval`.
    public func record(_ fingerprint: Fingerprint, url: UploadURL?, complete: Bool = false) {
        let entry = url.map { Entry(url: $0.description, server: $0.server, complete: complete) }
        cache.withLock { cache in
            if cache.entries == nil { cache.entries = load() }
            cache.entries?[fingerprint.key] = entry
            cache.unwritten[fingerprint.key] = .some(entry)
            let due = cache.lastWrite.map { ContinuousClock.now - $0 >= writeInterval } ?? true
            if writeInterval == .zero || due { write(&cache) }
        }
    }

    /// Writes the records not yet written.
    public func flush() {
        cache.withLock { cache in
            if !cache.unwritten.isEmpty { write(&cache) }
        }
    }

    /// Under the lock: one command's writes never interleave.
    private func write(_ cache: inout Cache) {
        var entries = load()
        for (key, entry) in cache.unwritten { entries[key] = entry }
        cache.unwritten = [:]
        cache.lastWrite = .now
        do {
            try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
            try JSONEncoder().encode(entries).write(to: file, options: .atomic)
        } catch {
            // Losing the record only costs a resume: the upload itself is unaffected.
        }
    }
}
