import Foundation
import Testing

/// The built `uploadverify` binary, run as a user would run it.
enum UploadVerifyBinary {
    /// The binary sits beside the test bundle in the build folder
    /// (`UPLOADVERIFY_BIN` overrides).
    static let url: URL = {
        if let path = ProcessInfo.processInfo.environment["UPLOADVERIFY_BIN"] { return URL(fileURLWithPath: path) }
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        var folder = exe.deletingLastPathComponent()
        while folder.path != "/" {
            let candidate = folder.appendingPathComponent("uploadverify")
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: candidate.path, isDirectory: &isDirectory), !isDirectory.boolValue {
                return candidate
            }
            folder = folder.deletingLastPathComponent()
        }
        return exe.deletingLastPathComponent().appendingPathComponent("uploadverify")
    }()

    static func run(_ arguments: [String], in directory: URL? = nil, environment: [String: String] = [:]) throws -> CommandResult {
        try Subprocess.run(url.path, arguments, in: directory, environment: environment)
    }

    /// Starts it in the background, its output discarded.
    static func start(_ arguments: [String], in directory: URL? = nil, environment: [String: String] = [:]) throws -> Process {
        try Subprocess.start(url.path, arguments, in: directory, environment: environment)
    }
}

/// A scratch folder with copies of the fixtures, removed at the end.
struct Workspace {
    let url: URL

    static let fixtures = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("fixtures")

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("uploadverify-e2e-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    func path(_ name: String) -> String { url.appendingPathComponent(name).path }

    /// Copies a known-good fixture in; tests damage the copy, never the original.
    @discardableResult
    func copyFixture(_ name: String, as newName: String? = nil) throws -> String {
        let destination = path(newName ?? name)
        try FileManager.default.copyItem(atPath: Self.fixtures.appendingPathComponent(name).path, toPath: destination)
        return destination
    }

    func write(_ bytes: [UInt8], to name: String) throws -> String {
        try Data(bytes).write(to: URL(fileURLWithPath: path(name)))
        return path(name)
    }

    /// Flips the bits of one byte in place.
    func damage(_ name: String, at offset: Int) throws {
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path(name))))
        bytes[offset] ^= 0xFF
        try Data(bytes).write(to: URL(fileURLWithPath: path(name)))
    }

    func run(_ arguments: String...) throws -> CommandResult {
        try UploadVerifyBinary.run(arguments, in: url)
    }

    func remove() { try? FileManager.default.removeItem(at: url) }
}

func json(_ text: String) throws -> [String: Any] {
    let object = try JSONSerialization.jsonObject(with: Data(text.utf8))
    return try #require(object as? [String: Any])
}

/// Bad input is reported in one line on stderr, prefixed with the tool's name.
func expectOneLineError(_ result: CommandResult, status: Int32, mentioning needle: String, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(result.status == status, "exit status", sourceLocation: sourceLocation)
    let lines = result.stderr.split(separator: "\n")
    #expect(lines.count == 1, "one line on stderr: \(result.stderr)", sourceLocation: sourceLocation)
    #expect(result.stderr.hasPrefix("uploadverify: "), sourceLocation: sourceLocation)
    #expect(result.stderr.contains(needle), "stderr mentions \(needle): \(result.stderr)", sourceLocation: sourceLocation)
}
