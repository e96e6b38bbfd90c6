import Testing
import UploadKit

@Suite struct FileVerifierTests {
    func mapOf(_ bytes: [UInt8], _ layout: ChunkLayout) -> ChunkMap {
        ChunkMap(layout: layout, digests: FileScanTests.expectedDigests(bytes, layout), sha256: SHA256Hasher.hash(bytes))
    }

    @Test func anIntactFileHasNoFindings() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let (path, bytes, layout) = try FileScanTests.sample(in: directory)
        let report = try FileVerifier.verify(try openForReading(path), map: mapOf(bytes, layout), expectedSHA256: SHA256Hasher.hash(bytes))
        #expect(report.isOK)
        #expect(report.checkedChunks == 6)
        #expect(report.sha256Matches == true)
    }

    @Test func aFlippedByteIsNamedWithItsChunkAndByteRange() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let (_, bytes, layout) = try FileScanTests.sample(in: directory)
        var damaged = bytes
        damaged[2 * 65_536 + 5] ^= 1
        let path = try directory.write(damaged, to: "damaged")
        let report = try FileVerifier.verify(try openForReading(path), map: mapOf(bytes, layout), expectedSHA256: nil)
        #expect(report.findings.count == 1)
        #expect(report.findings.first?.chunk?.index == ChunkIndex(2))
        #expect(report.findings.first?.chunk?.range == ByteRange(offset: 131_072, length: 65_536))
        #expect(report.sha256Matches == nil)
    }

    @Test func aWrongSHA256IsAFinding() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let (path, _, _) = try FileScanTests.sample(in: directory)
        let wrong = SHA256Hasher.hash([UInt8]())
        let report = try FileVerifier.verify(try openForReading(path), map: nil, expectedSHA256: wrong)
        #expect(report.sha256Matches == false)
        guard case .sha256Mismatch(let expected, _) = report.findings.first else {
            Issue.record("no SHA-256 mismatch reported")
            return
        }
        #expect(expected == wrong)
    }

    @Test func aTruncatedFileReportsItsSizeAndTheChunksItNoLongerReaches() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let (_, bytes, layout) = try FileScanTests.sample(in: directory)
        let path = try directory.write(Array(bytes[0..<(3 * 65_536 + 10)]), to: "truncated")
        let report = try FileVerifier.verify(try openForReading(path), map: mapOf(bytes, layout), expectedSHA256: nil)
        #expect(report.findings.contains(.sizeMismatch(expected: Int64(bytes.count), actual: 3 * 65_536 + 10)))
        let missing = report.findings.compactMap { finding -> Int? in
            if case .missing(let index, _) = finding { return index.value }
            return nil
        }
        #expect(missing == [4, 5])
        #expect(report.findings.contains { if case .corrupt(ChunkIndex(3), _, _, _) = $0 { true } else { false } })
    }

    @Test func chunksTheMapDoesNotHoldAreReportedMissing() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let (path, bytes, layout) = try FileScanTests.sample(in: directory)
        var map = mapOf(bytes, layout)
        map[ChunkIndex(1)] = .missing
        let report = try FileVerifier.verify(try openForReading(path), map: map, expectedSHA256: nil)
        #expect(report.findings == [.missing(ChunkIndex(1), layout.range(of: ChunkIndex(1)))])
    }
}
