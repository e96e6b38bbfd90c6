import Foundation
import Testing
import UploadKit

/// The project's hashing and maps agree with what `xxhsum -H3` and
/// `sha256sum` printed for the files in `fixtures/` (see fixtures/README.md).
@Suite struct FixtureDigestTests {
    struct FixtureFile: Sendable, CustomStringConvertible {
        let name: String
        let size: Int64
        let sha256: String
        let xxh3Whole: String
        let chunkDigests: [String]
        var description: String { name }
    }

    static func table(_ name: String) -> [[String]] {
        let text = (try? String(contentsOf: fixturesDirectory.appendingPathComponent(name), encoding: .utf8)) ?? ""
        return text.split(separator: "\n").dropFirst().map { $0.split(separator: "\t", omittingEmptySubsequences: false).map(String.init) }
    }

    static let files: [FixtureFile] = {
        let chunks = table("digests.tsv")
        return table("sha256.tsv").map { row in
            FixtureFile(
                name: row[0], size: Int64(row[1])!, sha256: row[2], xxh3Whole: row[3],
                chunkDigests: chunks.filter { $0[0] == row[0] }.sorted { Int($0[2])! < Int($1[2])! }.map { $0[5] })
        }
    }()

    @Test func theFixtureTablesAreThere() {
        #expect(Self.files.count == 5)
        #expect(Self.files.map(\.chunkDigests.count).reduce(0, +) == 9)
    }

    @Test(arguments: files)
    func scanMatchesXxhsumPerChunkAndSha256sumWhole(file: FixtureFile) throws {
        let descriptor = try openForReading(fixturesDirectory.appendingPathComponent(file.name).path)
        let layout = try ChunkLayout(fileSize: ByteCount(file.size), chunkSize: .kibibytes(64))
        let withSHA = try FileScan.scan(descriptor, layout: layout, computeSHA256: true)
        let withoutSHA = try FileScan.scan(descriptor, layout: layout, computeSHA256: false)
        try descriptor.close()
        #expect(withSHA.chunkDigests.map(\.description) == file.chunkDigests)
        #expect(withoutSHA.chunkDigests.map(\.description) == file.chunkDigests)
        #expect(withSHA.sha256?.description == file.sha256)
    }

    @Test(arguments: files)
    func oneShotHashesMatchTheWholeFileValues(file: FixtureFile) throws {
        let bytes = [UInt8](try Data(contentsOf: fixturesDirectory.appendingPathComponent(file.name)))
        #expect(XXH3Hasher.hash(bytes).description == file.xxh3Whole)
        #expect(SHA256Hasher.hash(bytes).description == file.sha256)
    }
}
