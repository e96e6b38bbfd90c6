import SystemPackage
import UploadKit

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Opening what the user named on the command line.
enum InputFile {
    /// Opens a regular file for reading; a directory or device is refused
    /// with a message instead of a confusing read error later.
    static func open(_ path: String) throws -> OwnedDescriptor {
        let file = try OwnedDescriptor.open(FilePath(path), .readOnly)
        let type = try file.status().type
        guard type == .regular else {
            throw CommandFailure.badInput("\(path) is \(type == .directory ? "a directory" : "not a regular file"): give a file")
        }
        return file
    }

    /// A directory that must already exist (a server's data directory).
    static func openDirectory(_ path: String) throws -> FilePath {
        let handle = try OwnedDescriptor.open(FilePath(path), .readOnly)
        defer { try? handle.close() }
        guard try handle.status().type == .directory else { throw CommandFailure.badInput("\(path) is not a directory") }
        return FilePath(path)
    }

    /// Whether `path` holds a chunk map: it starts with the map's magic bytes
    /// (or is named `.chunkmap`, so that a damaged one is reported as such).
    static func isChunkMap(_ path: String) -> Bool {
        if path.hasSuffix(".chunkmap") { return true }
        guard let file = try? OwnedDescriptor.open(FilePath(path), .readOnly) else { return false }
        var magic = [UInt8](repeating: 0, count: ChunkMapFormat.magic.count)
        let read = magic.withUnsafeMutableBytes { try? file.readAll(fromAbsoluteOffset: 0, into: $0) }
        return read == magic.count && magic == ChunkMapFormat.magic
    }

    /// Whether `path` is a folder (or a link to one): the commands that take
    /// a file take a folder as the tree of its files.
    static func isFolder(_ path: String) -> Bool {
        guard let handle = try? OwnedDescriptor.open(FilePath(path), .readOnly) else { return false }
        defer { try? handle.close() }
        return (try? handle.status().type) == .directory
    }

    static func isUploadURL(_ text: String) -> Bool {
        text.hasPrefix("http://") || text.hasPrefix("https://")
    }

    /// Scans `path` with a progress bar while a person watches.
    static func scan(_ file: OwnedDescriptor, layout: ChunkLayout, computeSHA256: Bool, title: String) throws -> FileScanResult {
        let bar = ProgressBar.start(title, total: layout.fileSize.bytes)
        defer { bar?.finish() }
        return try FileScan.scan(file, layout: layout, computeSHA256: computeSHA256, progress: bar?.reporter)
    }
}
