import ArgumentParser
import SystemPackage
import UploadKit

extension UploadVerify {
    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check a file against its chunk map and/or a SHA-256, naming every corrupt byte range."
        )

        @Argument(help: "The file to check, a folder (each file in it against its chunk map), or an upload URL (the server then audits its copy).")
        var target: String

        @Option(help: "The chunk map to check against (default: TARGET.chunkmap).")
        var map: String?

        @Option(help: "The SHA-256 the whole file must have (64 hex digits).")
        var sha256: String?

        @Flag(help: "Print one JSON object: {ok, corrupt, missing, sha256Matches, ...}.")
        var json = false

        @OptionGroup var access: ServerAccess

        func run() async throws {
            let expectedSHA256 = try sha256.map { try SHA256Digest(hex: $0) }
            if case .upload(let url) = try Target(parsing: target) {
                try await verifyRemote(url, expectedSHA256: expectedSHA256)
                return
            }
            if InputFile.isFolder(target) {
                guard map == nil, sha256 == nil else {
                    throw CommandFailure.badInput("--map and --sha256 are for one file: a folder's files are checked against their own chunk maps")
                }
                let status = try VerifyTree(json: json).run(target)
                if status != .ok { throw ExitCode(status.rawValue) }
                return
            }
            let chunkMap = try loadMap()
            guard chunkMap != nil || expectedSHA256 != nil else {
                throw CommandFailure.badInput(
                    "nothing to check \(target) against: \(target).chunkmap does not exist; make one with 'uploadverify map \(target)' or give --map or --sha256"
                )
            }
            let file = try InputFile.open(target)
            let size = try file.size()
            let bar = ProgressBar.start("verifying \(target)", total: max(size, chunkMap?.layout.fileSize.bytes ?? 0))
            let report = try FileVerifier.verify(file, map: chunkMap, expectedSHA256: expectedSHA256, progress: bar?.reporter)
            bar?.finish()
            try file.close()
            // TARGET.parity, when there is one: what it can heal, and its own state.
            var parity: ParityCheck?
            if let chunkMap { parity = checkParity(report, map: chunkMap) }
            if json {
                try JSONOutput.print(VerifyJSON(report, parity: parity))
            } else {
                printReport(report, chunkCount: chunkMap?.layout.chunkCount, parity: parity)
            }
            if !report.isOK || parity?.isOK == false { throw ExitCode(ExitStatus.integrityProblem.rawValue) }
        }

        /// Checks TARGET.parity (when it exists) against the map and reads
        /// its shards; which of the chunks found damaged it can heal.
        private func checkParity(_ report: VerificationReport, map: ChunkMap) -> ParityCheck? {
            let path = target + ".parity"
            guard ParityFiles.exists(path) else { return nil }
            let parity: ParityFile
            do {
                parity = try ParityFile.open(FilePath(path))
            } catch {
                return ParityCheck(path: path, problem: "\(error)", assessment: nil)
            }
            defer { try? parity.close() }
            if let mismatch = parity.mismatch(with: map) {
                return ParityCheck(path: path, problem: ParityFileError.mismatch(path: path, mismatch).description, assessment: nil)
            }
            if report.findings.contains(where: { if case .sizeMismatch = $0 { true } else { false } }) {
                return ParityCheck(
                    path: path, problem: "\(path) cannot heal \(target): its length is not the map's, and parity heals bytes in place, not a length",
                    assessment: nil)
            }
            let shards: [Int]
            do {
                shards = try parity.damagedShards()
            } catch {
                return ParityCheck(path: path, problem: "\(error)", assessment: nil)
            }
            let damaged = report.findings.compactMap { $0.chunk?.index }
            return ParityCheck(path: path, problem: nil, assessment: ParityAssessment(layout: parity.layout, damagedChunks: damaged, damagedShards: shards))
        }

        /// An upload is checked where its bytes are: the server audits its disk.
        private func verifyRemote(_ url: UploadURL, expectedSHA256: SHA256Digest?) async throws {
            guard map == nil else { throw CommandFailure.badInput("--map is for local files: the server checks an upload against its own map") }
            let (audit, chunkMap) = try await access.makeClient().using { client in
                (try await client.audit(url), try await client.chunkMap(url))
            }
            let layout = chunkMap.layout
            var report = VerificationReport(findings: [], checkedChunks: audit.checkedChunks, sha256Matches: audit.sha256Matches, actualSHA256: nil)
            // The server's own findings: the digest it recorded and the one its disk gives now.
            if let findings = audit.findings {
                report.findings += findings.compactMap(\.finding)
            } else {
                // A server older than findings names the chunks only, not what they hash to now.
                report.findings += audit.corrupt.map(ChunkIndex.init).filter(layout.contains).map { .missing($0, layout.range(of: $0)) }
            }
            for index in chunkMap.indices(where: { if case .missing = $0 { true } else { false } }) {
                report.findings.append(.missing(index, layout.range(of: index)))
            }
            if let expectedSHA256 {
                let confirmed = chunkMap.status.sha256
                report.sha256Matches = (report.sha256Matches ?? true) && confirmed == expectedSHA256
                if let confirmed, confirmed != expectedSHA256 { report.findings.append(.sha256Mismatch(expected: expectedSHA256, actual: confirmed)) }
            }
            if json {
                try JSONOutput.print(VerifyJSON(report))
            } else {
                var lines = ["\(url): \(audit.checkedChunks) verified chunks re-hashed by the server"]
                lines += report.findings.map { finding in
                    if case .corrupt(let index, let range, let expected, let actual) = finding {
                        return "  chunk \(index) is corrupt on the server: \(range) (\(range.length) bytes) hash to xxh3 \(actual), expected \(expected)"
                    }
                    if case .sha256Mismatch(let confirmed, let actual) = finding, audit.sha256Matches == false {
                        return "  the server's file no longer has its confirmed SHA-256: it is \(actual), confirmed \(confirmed)"
                    }
                    return "  \(finding)"
                }
                lines.append(report.isOK ? "ok" : "to repair: uploadverify repair \(url) --from GOOD-COPY")
                Terminal.standardOutput.writeLine(lines.joined(separator: "\n"))
            }
            if !report.isOK { throw ExitCode(ExitStatus.integrityProblem.rawValue) }
        }

        private func loadMap() throws -> ChunkMap? {
            let path = map ?? target + ".chunkmap"
            if map == nil, (try? OwnedDescriptor.open(FilePath(path), .readOnly)) == nil { return nil }
            let file = try ChunkMapFile.open(FilePath(path))
            defer { try? file.close() }
            return try file.readMap()
        }

        private func printReport(_ report: VerificationReport, chunkCount: Int?, parity: ParityCheck?) {
            var lines = [String]()
            if let chunkCount {
                let bad = report.findings.filter { $0.chunk != nil }.count
                lines.append("\(target): \(chunkCount - bad) of \(chunkCount) chunks verified" + (bad > 0 ? ", \(bad) not" : ""))
            }
            lines += report.findings.map { "  \($0)" }
            if let sha = report.actualSHA256, report.sha256Matches == true { lines.append("SHA-256 matches: \(sha)") }
            if let parity {
                if let problem = parity.problem {
                    lines.append("parity cannot be used: \(problem)")
                } else if let assessment = parity.assessment {
                    if assessment.isIntact {
                        let layout = assessment.layout
                        lines.append(
                            "\(parity.path): intact, \(layout.stripeCount) stripes of \(layout.dataShards) chunks + \(layout.parityShards) parity shards; "
                                + "heals up to \(layout.parityShards) damaged chunks per stripe")
                    } else {
                        lines += ParityReport.summary(assessment, target: target, parityPath: parity.path) + ParityReport.stripes(assessment)
                    }
                }
            }
            if report.isOK && parity?.isOK != false {
                lines.append("ok")
            } else if let parity, parity.healsEverything, parity.assessment?.isIntact == false {
                lines.append("to repair: uploadverify repair \(target)   (heals from \(parity.path); no copy needed)")
            } else if report.isOK {
                lines.append("the file is ok; to make a new parity: uploadverify map \(target) --parity PERCENT")
            } else {
                lines.append("to repair: uploadverify repair \(target) --from SOURCE   (SOURCE: a good copy of the file, or its upload URL)")
            }
            Terminal.standardOutput.writeLine(lines.joined(separator: "\n"))
        }
    }
}

/// `verify --json`: the contract's keys, plus what else was found.
struct VerifyJSON: Encodable {
    struct Chunk: Encodable {
        let index: Int
        let offset: Int64
        let length: Int64
        let expected: String?
        let actual: String?
    }

    struct SizeMismatch: Encodable {
        let expected: Int64
        let actual: Int64
    }

    let ok: Bool
    let checkedChunks: Int
    let corrupt: [Chunk]
    let missing: [Chunk]
    let sizeMismatch: SizeMismatch?
    let sha256Matches: Bool?
    let sha256: String?
    /// TARGET.parity's state; null when there is none (or for a URL).
    let parity: ParityJSON?

    init(_ report: VerificationReport, parity: ParityCheck? = nil) {
        ok = report.isOK && parity?.isOK != false
        self.parity = parity.map(ParityJSON.init)
        checkedChunks = report.checkedChunks
        var corrupt = [Chunk]()
        var missing = [Chunk]()
        var size: SizeMismatch?
        for finding in report.findings {
            switch finding {
            case .corrupt(let index, let range, let expected, let actual):
                corrupt.append(
                    Chunk(index: index.value, offset: range.offset, length: range.length, expected: expected.description, actual: actual.description))
            case .missing(let index, let range):
                missing.append(Chunk(index: index.value, offset: range.offset, length: range.length, expected: nil, actual: nil))
            case .sizeMismatch(let expected, let actual):
                size = SizeMismatch(expected: expected, actual: actual)
            case .sha256Mismatch:
                break
            }
        }
        self.corrupt = corrupt
        self.missing = missing
        sizeMismatch = size
        sha256Matches = report.sha256Matches
        sha256 = report.actualSHA256?.description
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(ok, forKey: .ok)
        try container.encode(checkedChunks, forKey: .checkedChunks)
        try container.encode(corrupt, forKey: .corrupt)
        try container.encode(missing, forKey: .missing)
        try container.encode(sizeMismatch, forKey: .sizeMismatch)
        try container.encode(sha256Matches, forKey: .sha256Matches)
        try container.encode(sha256, forKey: .sha256)
        try container.encode(parity, forKey: .parity)
    }

    enum CodingKeys: String, CodingKey {
        case ok, checkedChunks, corrupt, missing, sizeMismatch, sha256Matches, sha256, parity
    }
}

/// What `verify` found of TARGET.parity.
struct ParityCheck {
    let path: String
    /// Why it cannot be used (truncated, foreign, of another version, ...), when it cannot.
    let problem: String?
    let assessment: ParityAssessment?

    /// Nothing wrong with the parity itself.
    var isOK: Bool { problem == nil && (assessment?.damagedShards.isEmpty ?? true) }
    /// Every damaged chunk and parity shard (if any) heals from it.
    var healsEverything: Bool { problem == nil && assessment?.canHealEverything == true }
}

/// `verify --json`'s `parity`: `{path, usable, problem, dataShards,
/// parityShards, stripes, damagedParityShards, healsEverything, unhealable:
/// [{stripe, chunks, parityShards}]}`, `null` where a value is unknown.
struct ParityJSON: Encodable {
    struct Stripe: Encodable {
        let stripe: Int
        let chunks: [Int]
        let parityShards: [Int]
    }

    let path: String
    let usable: Bool
    let problem: String?
    let dataShards: Int?
    let parityShards: Int?
    let stripes: Int?
    let damagedParityShards: [Int]
    let healsEverything: Bool
    let unhealable: [Stripe]

    init(_ check: ParityCheck) {
        path = check.path
        usable = check.problem == nil
        problem = check.problem
        let assessment = check.problem == nil ? check.assessment : nil
        dataShards = assessment?.layout.dataShards
        parityShards = assessment?.layout.parityShards
        stripes = assessment?.layout.stripeCount
        damagedParityShards = assessment?.damagedShards ?? []
        healsEverything = check.healsEverything
        unhealable = (assessment?.unhealable ?? []).map {
            Stripe(stripe: $0.index, chunks: $0.damagedChunks.map(\.value), parityShards: $0.damagedShards)
        }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(path, forKey: .path)
        try container.encode(usable, forKey: .usable)
        try container.encode(problem, forKey: .problem)
        try container.encode(dataShards, forKey: .dataShards)
        try container.encode(parityShards, forKey: .parityShards)
        try container.encode(stripes, forKey: .stripes)
        try container.encode(damagedParityShards, forKey: .damagedParityShards)
        try container.encode(healsEverything, forKey: .healsEverything)
        try container.encode(unhealable, forKey: .unhealable)
    }

    enum CodingKeys: String, CodingKey {
        case path, usable, problem, dataShards, parityShards, stripes, damagedParityShards, healsEverything, unhealable
    }
}
