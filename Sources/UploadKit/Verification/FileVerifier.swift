import SystemPackage

/// What checking a file against its map and/or a SHA-256 found.
public struct VerificationReport: Sendable {
    public var findings: [IntegrityFinding]
    public var checkedChunks: Int
    /// nil when no SHA-256 was checked.
    public var sha256Matches: Bool?
    public var actualSHA256: SHA256Digest?

    public init(findings: [IntegrityFinding], checkedChunks: Int, sha256Matches: Bool?, actualSHA256: SHA256Digest?) {
        self.findings = findings
        self.checkedChunks = checkedChunks
        self.sha256Matches = sha256Matches
        self.actualSHA256 = actualSHA256
    }

    public var isOK: Bool { findings.isEmpty }
}

/// Checks a file on disk against a chunk map and/or an expected SHA-256, in
/// one pass where it can. Read-only.
public enum FileVerifier {
    /// `computeSHA256` computes (and reports) the file's SHA-256 even with no
    /// expected value to compare it with; `partial` is a SHA-256 of the
    /// file's start to carry on (used only when the file has the map's size).
    public static func verify(
        _ file: OwnedDescriptor, map: ChunkMap?, expectedSHA256: SHA256Digest?, computeSHA256: Bool = false,
        continuing partial: PartialSHA256? = nil,
        progress: (@Sendable (Int64) -> Void)? = nil
    ) throws(FileScanError) -> VerificationReport {
        let wantSHA256 = computeSHA256 || expectedSHA256 != nil
        let actualSize: Int64
        do { actualSize = try file.size() } catch { throw .io(error) }
        var report = VerificationReport(findings: [], checkedChunks: 0, sha256Matches: nil, actualSHA256: nil)

        guard let map else {
            if wantSHA256 { try checkSHA256(file, size: actualSize, expected: expectedSHA256, into: &report, progress: progress) }
            return report
        }

        let mapLayout = map.layout
        let sameSize = actualSize == mapLayout.fileSize.bytes
        if !sameSize {
            report.findings.append(.sizeMismatch(expected: mapLayout.fileSize.bytes, actual: actualSize))
        }
        // A shorter file is scanned in the map's chunk size up to its end; a
        // longer one up to the map's end. Chunks past the file are missing.
        let scanLayout =
            actualSize < mapLayout.fileSize.bytes
            ? try! ChunkLayout(fileSize: ByteCount(actualSize), chunkSize: mapLayout.chunkSize)
            : mapLayout
        let shaInSamePass = sameSize && wantSHA256
        let scan = try FileScan.scan(
            file, layout: scanLayout, computeSHA256: shaInSamePass, continuing: partial, progress: progress)

        for index in mapLayout.indices {
            let range = mapLayout.range(of: index)
            guard let expected = map[index].digest else {
                report.findings.append(.missing(index, range))
                continue
            }
            guard index.value < scanLayout.chunkCount else {
                report.findings.append(.missing(index, range))
                continue
            }
            report.checkedChunks += 1
            let actual = scan.chunkDigests[index.value]
            if actual != expected || scanLayout.range(of: index) != range {
                report.findings.append(.corrupt(index, range, expected: expected, actual: actual))
            }
        }

        if wantSHA256 {
            if let sha256 = scan.sha256 {
                record(sha256, expected: expectedSHA256, into: &report)
            } else {
                try checkSHA256(file, size: actualSize, expected: expectedSHA256, into: &report, progress: progress)
            }
        }
        return report
    }

    private static func checkSHA256(
        _ file: OwnedDescriptor, size: Int64, expected: SHA256Digest?, into report: inout VerificationReport,
        progress: (@Sendable (Int64) -> Void)?
    ) throws(FileScanError) {
        let layout: ChunkLayout
        do { layout = try ChunkLayout.automatic(fileSize: ByteCount(size)) } catch {
            throw .io(IOError("hash", path: file.path, errno: .fileTooLarge))
        }
        let scan = try FileScan.scan(file, layout: layout, computeSHA256: true, progress: progress)
        record(scan.sha256!, expected: expected, into: &report)
    }

    private static func record(_ actual: SHA256Digest, expected: SHA256Digest?, into report: inout VerificationReport) {
        report.actualSHA256 = actual
        guard let expected else { return }
        report.sha256Matches = actual == expected
        if actual != expected { report.findings.append(.sha256Mismatch(expected: expected, actual: actual)) }
    }
}
