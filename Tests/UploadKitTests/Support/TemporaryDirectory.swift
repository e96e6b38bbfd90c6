import Foundation
import SystemPackage
import Testing
import UploadKit

/// A fresh directory under the system's temp dir, removed by `remove()`.
struct TemporaryDirectory {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("uploadverify-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    func path(_ name: String) -> String { url.appendingPathComponent(name).path }

    func write(_ bytes: [UInt8], to name: String) throws -> String {
        let path = path(name)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    func remove() { try? FileManager.default.removeItem(at: url) }
}

/// Deterministic bytes that do not compress: a small xorshift generator.
func pseudoRandomBytes(_ count: Int, seed: UInt64 = 0x9E37_79B9_7F4A_7C15) -> [UInt8] {
    var state = seed
    var bytes = [UInt8]()
    bytes.reserveCapacity(count)
    while bytes.count < count {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        withUnsafeBytes(of: state) { bytes.append(contentsOf: $0.prefix(count - bytes.count)) }
    }
    return bytes
}

/// The repository's `fixtures/` folder.
let fixturesDirectory = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("fixtures")

func openForReading(_ path: String) throws -> OwnedDescriptor {
    try OwnedDescriptor.open(FilePath(path), .readOnly)
}

/// Open descriptors of this process, to catch leaks.
func openDescriptorCount() -> Int {
    (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? 0
}

/// Polls, through an open of its own, until another open holds `region` of
/// the chunk map at `path` (or 5 s pass, recorded as an issue).
func waitUntilHeld(_ region: ChunkMapRegion, of path: FilePath) async throws {
    let probe = try ChunkMapFile.open(path, writable: true)
    defer { try? probe.close() }
    let locks = OpenFileDescriptionLocks()
    for _ in 0..<500 {
        guard try locks.tryLock(region, .exclusive, in: probe) else { return }
        try locks.unlock(region, in: probe)
        try await Task.sleep(for: .milliseconds(10))
    }
    Issue.record("\(region) was not taken in 5 s")
}
