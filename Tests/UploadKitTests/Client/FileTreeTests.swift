import Foundation
import Testing
import UploadKit

@Suite struct FileTreeTests {
    /// A scratch folder `root/photos` with files, a subfolder, a link and a FIFO.
    func makeTree() throws -> URL {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("filetree-\(UUID().uuidString)")
        let photos = root.appendingPathComponent("photos")
        try FileManager.default.createDirectory(at: photos.appendingPathComponent("2024"), withIntermediateDirectories: true)
        try Data("b".utf8).write(to: photos.appendingPathComponent("b.jpg"))
        try Data("aa".utf8).write(to: photos.appendingPathComponent("a.jpg"))
        try Data("ccc".utf8).write(to: photos.appendingPathComponent("2024/c.jpg"))
        try FileManager.default.createSymbolicLink(atPath: photos.appendingPathComponent("link").path, withDestinationPath: "a.jpg")
        #expect(mkfifo(photos.appendingPathComponent("pipe").path, 0o600) == 0)
        return root
    }

    @Test func aFolderIsWalkedDepthFirstInNameOrderUnderItsOwnName() throws {
        let root = try makeTree()
        defer { try? FileManager.default.removeItem(at: root) }
        let entries = FileTree.walk([root.appendingPathComponent("photos").path])
        #expect(entries.map(\.relativePath) == ["photos/2024/c.jpg", "photos/a.jpg", "photos/b.jpg", "photos/link", "photos/pipe"])
        #expect(entries[0].kind == .file(size: 3))
        #expect(entries[0].path == root.appendingPathComponent("photos/2024/c.jpg").path)
    }

    @Test func linksInsideAFolderAreReportedNotFollowed() throws {
        let root = try makeTree()
        defer { try? FileManager.default.removeItem(at: root) }
        let link = FileTree.walk([root.appendingPathComponent("photos").path]).first { $0.relativePath == "photos/link" }
        #expect(link?.kind == .skipped(.symbolicLink(target: "a.jpg")))
    }

    @Test func specialFilesAreReportedNotRead() throws {
        let root = try makeTree()
        defer { try? FileManager.default.removeItem(at: root) }
        let pipe = FileTree.walk([root.appendingPathComponent("photos").path]).first { $0.relativePath == "photos/pipe" }
        guard case .skipped(.special)? = pipe?.kind else {
            Issue.record("the FIFO is \(String(describing: pipe?.kind))")
            return
        }
    }

    @Test func aLinkNamedOnTheCommandLineIsFollowed() throws {
        let root = try makeTree()
        defer { try? FileManager.default.removeItem(at: root) }
        let entries = FileTree.walk([root.appendingPathComponent("photos/link").path])
        #expect(entries.map(\.kind) == [.file(size: 2)])
        #expect(entries.map(\.relativePath) == ["link"])
    }

    @Test func aPathThatIsNotThereIsUnreadable() {
        let entries = FileTree.walk(["/nonexistent-\(UUID().uuidString)"])
        guard case .unreadable? = entries.first?.kind else {
            Issue.record("got \(entries)")
            return
        }
    }
}
