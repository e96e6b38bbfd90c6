import Foundation
import SystemPackage

/// What a command given paths (files or folders) works on: every regular
/// file found, folders walked depth first in name order, and everything
/// else named with what was done about it, so that nothing is skipped in
/// silence. Links inside a folder are not followed (a link to a parent
/// would loop, and a link out of the tree would send what the user did not
/// name); a link named on the command line is followed, as `cp` does.
public enum FileTree {
    public struct Entry: Sendable, Equatable {
        /// The path to open, as the command line named it plus the folders walked.
        public let path: String
        /// The path under the named file's or folder's parent (a folder
        /// `photos` gives `photos/2024/a.jpg`): what a manifest records and
        /// a download of it recreates.
        public let relativePath: String
        public let kind: Kind
    }

    public enum Kind: Sendable, Equatable {
        case file(size: Int64)
        /// Not a regular file: reported, not an error.
        case skipped(SkipReason)
        /// Named but not there, or a folder that cannot be listed: an error.
        case unreadable(String)
    }

    public enum SkipReason: Sendable, Equatable, CustomStringConvertible {
        case symbolicLink(target: String)
        case special(String)

        public var description: String {
            switch self {
            case .symbolicLink(let target): "a symbolic link (to \(target)), not followed"
            case .special(let kind): "\(kind), not a regular file"
            }
        }
    }

    /// Every entry under `paths`, in order.
    public static func walk(_ paths: [String]) -> [Entry] {
        var entries = [Entry]()
        for path in paths {
            let base = FilePath(absolutePath(path)).lastComponent?.string ?? ""
            // Named on the command line: a link is followed.
            let resolved = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
            switch kind(of: resolved) {
            case .directory: walk(folder: path, relative: base, into: &entries)
            case .other(let kind): entries.append(Entry(path: path, relativePath: base, kind: kind))
            case .missing(let reason): entries.append(Entry(path: path, relativePath: base, kind: .unreadable(reason)))
            }
        }
        return entries
    }

    private static func walk(folder: String, relative: String, into entries: inout [Entry]) {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: folder).sorted()
        } catch {
            entries.append(Entry(path: folder, relativePath: relative, kind: .unreadable("the folder cannot be read (\(reason(error)))")))
            return
        }
        for name in names {
            let path = folder.hasSuffix("/") ? folder + name : folder + "/" + name
            let under = relative.isEmpty ? name : relative + "/" + name
            switch kind(of: path) {
            case .directory: walk(folder: path, relative: under, into: &entries)
            case .other(let kind): entries.append(Entry(path: path, relativePath: under, kind: kind))
            case .missing(let reason): entries.append(Entry(path: path, relativePath: under, kind: .unreadable(reason)))
            }
        }
    }

    private enum Found {
        case directory
        case other(Kind)
        case missing(String)
    }

    /// What is at `path`, the link itself when it is one.
    private static func kind(of path: String) -> Found {
        let attributes: [FileAttributeKey: Any]
        do {
            attributes = try FileManager.default.attributesOfItem(atPath: path)
        } catch {
            return .missing(reason(error))
        }
        switch attributes[.type] as? FileAttributeType {
        case .typeDirectory?: return .directory
        case .typeRegular?:
            let size = (attributes[.size] as? NSNumber)?.int64Value ?? 0
            return .other(.file(size: size))
        case .typeSymbolicLink?:
            let target = (try? FileManager.default.destinationOfSymbolicLink(atPath: path)) ?? "?"
            return .other(.skipped(.symbolicLink(target: target)))
        case .typeCharacterSpecial?: return .other(.skipped(.special("a character device")))
        case .typeBlockSpecial?: return .other(.skipped(.special("a block device")))
        case .typeSocket?: return .other(.skipped(.special("a socket")))
        default: return .other(.skipped(.special("a FIFO or another special file")))
        }
    }

    /// `path` made absolute against the current directory and lexically
    /// normalized (`.` and `..` resolved as text, no link followed): one
    /// spelling for the paths that must compare equal.
    public static func absolutePath(_ path: String) -> String {
        FilePath(path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path).lexicallyNormalized().string
    }

    private static func reason(_ error: any Error) -> String {
        let nsError = error as NSError
        if let underlying = nsError.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
            return Errno(rawValue: Int32(underlying.code)).description
        }
        if nsError.code == NSFileReadNoSuchFileError || nsError.code == NSFileNoSuchFileError { return "no such file or directory" }
        if nsError.code == NSFileReadNoPermissionError { return "permission denied" }
        return nsError.localizedDescription
    }
}
