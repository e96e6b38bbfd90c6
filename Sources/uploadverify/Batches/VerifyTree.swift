import SystemPackage
import UploadKit

/// `verify DIR`: every file of the tree against its `FILE.chunkmap`, one
/// result per file, and an exit code for the whole: 1 when any file is
/// damaged or gone (a chunk map whose file is not there), else 3 when one
/// could not be read, else 0. A file without a map is listed as not
/// checked and counted, but changes nothing: a tree grows, and 'map DIR'
/// maps what is new.
struct VerifyTree {
    let json: Bool

    func run(_ folder: String) throws -> ExitStatus {
        let tree = SidecarFiles(FileTree.walk([folder]))
        var statuses = [ExitStatus]()
        var counts = (ok: 0, damaged: 0, missing: 0, unchecked: 0, failed: 0)
        for entry in tree.others {
            let (line, status) = SidecarFiles.line(for: entry)
            statuses.append(status)
            if status != .ok { counts.failed += 1 }
            let word = status == .ok ? "skipped" : "failed"
            emit(TreeVerifyJSON(path: entry.path, status: word, detail: String(line.dropFirst(entry.path.count + 2))), line)
        }
        for map in tree.orphanMaps {
            let file = String(map.path.dropLast(".chunkmap".count))
            counts.missing += 1
            statuses.append(.integrityProblem)
            emit(
                TreeVerifyJSON(path: file, status: "missing", detail: "the file is not there; its chunk map \(map.path) is"),
                "\(file): missing, the file is not there (its chunk map \(map.path) is)")
        }
        for parity in tree.orphanParity {
            emit(
                TreeVerifyJSON(path: parity.path, status: "skipped", detail: "parity whose file is not there"),
                "\(parity.path): skipped, parity whose file is not there")
        }
        for file in tree.files {
            guard tree.hasMap(file) else {
                counts.unchecked += 1
                emit(
                    TreeVerifyJSON(path: file.path, status: "unchecked", detail: "no chunk map"),
                    "\(file.path): not checked, no chunk map (make one with 'uploadverify map \(file.path)')")
                continue
            }
            do {
                let (report, chunkCount) = try verify(file.path)
                if report.isOK {
                    counts.ok += 1
                    let sha = report.actualSHA256.map { ", SHA-256 \($0) matches" } ?? ""
                    emit(
                        TreeVerifyJSON(path: file.path, status: "ok", report: VerifyJSON(report)),
                        "\(file.path): ok, \(counted(chunkCount, "chunk")) verified\(sha)")
                } else {
                    counts.damaged += 1
                    statuses.append(.integrityProblem)
                    let bad = report.findings.filter { $0.chunk != nil }.count
                    var line = "\(file.path): damaged, \(bad) of \(chunkCount) chunks not verified"
                    line += report.findings.map { "\n  \($0)" }.joined()
                    let fromCopy = ParityFiles.exists(file.path + ".parity") ? "" : " --from SOURCE"
                    line += "\n  to repair: uploadverify repair \(file.path)\(fromCopy)"
                    emit(TreeVerifyJSON(path: file.path, status: "damaged", report: VerifyJSON(report)), line)
                }
            } catch {
                let (status, message) = ExitStatus.describe(error)
                counts.failed += 1
                statuses.append(status)
                emit(TreeVerifyJSON(path: file.path, status: "failed", detail: message), "\(file.path): failed: \(message)")
            }
        }
        if !json {
            let checked = counts.ok + counts.damaged
            Terminal.standardOutput.writeLine(
                "\(counted(checked, "file")) checked: \(counts.ok) ok, \(counts.damaged) damaged; \(counts.missing) missing, "
                    + "\(counts.unchecked) without a chunk map, \(counts.failed) failed")
        }
        return ExitStatus.worst(statuses)
    }

    private func verify(_ path: String) throws -> (VerificationReport, chunkCount: Int) {
        let mapFile = try ChunkMapFile.open(FilePath(path + ".chunkmap"))
        let map: ChunkMap
        do {
            map = try mapFile.readMap()
            try mapFile.close()
        } catch {
            try? mapFile.close()
            throw error
        }
        let file = try InputFile.open(path)
        defer { try? file.close() }
        let bar = ProgressBar.start("verifying \(path)", total: max(try file.size(), map.layout.fileSize.bytes))
        defer { bar?.finish() }
        return (try FileVerifier.verify(file, map: map, expectedSHA256: nil, progress: bar?.reporter), map.layout.chunkCount)
    }

    private func emit(_ entry: TreeVerifyJSON, _ line: String) {
        if json {
            Terminal.standardOutput.writeLine(JSONOutput.line(entry))
        } else {
            Terminal.standardOutput.writeLine(line)
        }
    }
}

/// One line of `verify DIR --json`: `status` is ok, damaged, missing,
/// unchecked, skipped or failed; `report` is what `verify FILE --json`
/// prints, for the files checked.
struct TreeVerifyJSON: Encodable {
    let path: String
    let status: String
    var detail: String?
    var report: VerifyJSON?
}
