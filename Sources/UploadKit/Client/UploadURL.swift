#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// An upload's address: `http(s)://host:port/uploads/ID`, checked strictly.
public struct UploadURL: Sendable, Hashable, CustomStringConvertible {
    /// `http://host:port`, without a trailing slash.
    public let server: String
    public let id: UploadID

    public init(server: String, id: UploadID) {
        self.server = server
        self.id = id
    }

    public init(parsing text: String) throws(ClientError) {
        guard let schemeEnd = text.firstRange(of: "://"), ["http", "https"].contains(text[..<schemeEnd.lowerBound].lowercased()) else {
            throw .notAnUploadURL(text)
        }
        let rest = text[schemeEnd.upperBound...]
        guard let pathStart = rest.firstIndex(of: "/") else { throw .notAnUploadURL(text) }
        let path = rest[pathStart...].split(separator: "/", omittingEmptySubsequences: false)
        // "", "uploads", ID (and an optional trailing slash)
        guard path.count >= 3, path[1] == "uploads", path.count == 3 || (path.count == 4 && path[3].isEmpty),
            let id = UploadID(path[2]), !rest[..<pathStart].isEmpty
        else { throw .notAnUploadURL(text) }
        self.server = String(text[..<pathStart])
        self.id = id
    }

    /// A server base URL, as `--server` takes it.
    public static func server(_ text: String) throws(ClientError) -> String {
        var base = text
        while base.hasSuffix("/") { base.removeLast() }
        guard let schemeEnd = base.firstRange(of: "://"), ["http", "https"].contains(base[..<schemeEnd.lowerBound].lowercased()),
            !base[schemeEnd.upperBound...].isEmpty, !base[schemeEnd.upperBound...].contains("/")
        else { throw .notAServerURL(text) }
        return base
    }

    public var description: String { "\(server)/uploads/\(id)" }
}

/// What a command's TARGET or SOURCE names.
public enum Target: Sendable, Hashable {
    case file(String)
    case upload(UploadURL)

    public init(parsing text: String) throws(ClientError) {
        let lower = text.lowercased()
        if lower.hasPrefix("http://") || lower.hasPrefix("https://") {
            self = .upload(try UploadURL(parsing: text))
        } else {
            self = .file(text)
        }
    }
}
