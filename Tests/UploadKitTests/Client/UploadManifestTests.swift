import Foundation
import Testing
import UploadKit

@Suite struct UploadManifestTests {
    func write(_ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("manifest-\(UUID().uuidString).json").path
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    func entry(_ path: String) -> String {
        """
        {"version":1,"files":[{"path":"\(path)","size":1,"sha256":"\(String(repeating: "ab", count: 32))","url":"http://127.0.0.1:8080/uploads/0123456789abcdef0123456789abcdef"}]}
        """
    }

    @Test func aWrittenManifestReadsBackEqualInPathOrder() throws {
        let url = try UploadURL(parsing: "http://127.0.0.1:8080/uploads/0123456789abcdef0123456789abcdef")
        let digest = try SHA256Digest(hex: String(repeating: "cd", count: 32))
        let manifest = UploadManifest(files: [
            .init(path: "tree/b", size: 2, sha256: digest, url: url), .init(path: "tree/a", size: 1, sha256: digest, url: url),
        ])
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("manifest-\(UUID().uuidString).json").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try manifest.write(to: path)
        let read = try UploadManifest.read(from: path)
        #expect(read == manifest)
        #expect(read.files.map(\.path) == ["tree/a", "tree/b"])
    }

    @Test(arguments: ["../up", "/etc/passwd", "tree/../../up", "tree//a", "./a", ""])
    func aPathThatCouldLandOutsideTheFolderIsRefused(path: String) throws {
        let file = try write(entry(path))
        defer { try? FileManager.default.removeItem(atPath: file) }
        #expect(throws: UploadManifestError.self) { try UploadManifest.read(from: file) }
    }

    @Test func aManifestOfAnotherVersionIsRefusedNamingIt() throws {
        let file = try write(entry("a").replacingOccurrences(of: "\"version\":1", with: "\"version\":2"))
        defer { try? FileManager.default.removeItem(atPath: file) }
        #expect {
            try UploadManifest.read(from: file)
        } throws: { error in
            "\(error)".contains("version 2")
        }
    }
}
