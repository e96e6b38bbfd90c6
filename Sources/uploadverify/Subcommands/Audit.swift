import ArgumentParser
import SystemPackage
import UploadKit

extension UploadVerify {
    struct Audit: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Scrub a server's data directory: re-hash every verified chunk and mark the ones whose bytes changed corrupt.",
            discussion:
                "Safe while any number of servers run on the directory: each upload is audited holding its chunk map's upload lock, which waits for the chunk writes in flight and holds new ones until the pass ends. Exits 1 when anything is corrupt."
        )

        @Option(name: .customLong("data-dir"), help: "The server's data directory.")
        var dataDirectory: String

        @Argument(help: "Upload ids to audit (default: every upload in the directory).")
        var ids: [String] = []

        @Flag(help: "Then heal what was found from each upload's parity (ID.parity, written by 'serve --parity'), in place.")
        var heal = false

        @Flag(help: "Print {uploads: [{id, checkedChunks, corrupt, sha256Matches, findings, heal}]}.")
        var json = false

        func run() async throws {
            let directory = try InputFile.openDirectory(dataDirectory)
            let store = try FileUploadStore(options: .init(directory: directory))
            let targets =
                try ids.isEmpty
                ? store.listUploads().sorted { $0.rawValue < $1.rawValue }
                : ids.map { text in
                    guard let id = UploadID(text) else { throw CommandFailure.badInput("'\(text)' is not an upload id (32 hex digits)") }
                    return id
                }
            var results = [AuditJSON.Upload]()
            for id in targets {
                let report: AuditReport
                do { report = try await store.audit(id, checkSHA256: true, heal: heal) } catch UploadError.notFound {
                    throw CommandFailure.badInput("no upload \(id) in \(dataDirectory)")
                }
                results.append(AuditJSON.Upload(id: id.rawValue, report: report))
            }
            if json {
                try JSONOutput.print(AuditJSON(uploads: results))
            } else {
                var lines = results.map { upload -> String in
                    var line = "\(upload.id): \(upload.checkedChunks) verified chunks checked"
                    if upload.corrupt.isEmpty && upload.sha256Matches != false && upload.heal?.result != "healed" {
                        return line + ", ok" + (upload.heal?.result == "refused" ? "\n  parity: \(upload.heal?.detail ?? "")" : "")
                    }
                    if !upload.corrupt.isEmpty {
                        line += ", \(upload.corrupt.count) corrupt (chunks \(upload.corrupt.map(String.init).joined(separator: ", ")))"
                    }
                    if upload.sha256Matches == false { line += ", SHA-256 no longer matches" }
                    let details = upload.findings.compactMap(\.finding).map { "\n  \($0)" }.joined()
                    return line + details + "\n  " + Self.healLine(upload)
                }
                if results.isEmpty { lines.append("no uploads in \(dataDirectory)") }
                Terminal.standardOutput.writeLine(lines.joined(separator: "\n"))
            }
            if results.contains(where: { $0.damageLeft }) {
                throw ExitCode(ExitStatus.integrityProblem.rawValue)
            }
        }

        /// What was done about the damage, or what to do.
        static func healLine(_ upload: AuditJSON.Upload) -> String {
            let repair = "to repair: uploadverify repair http://HOST:PORT/uploads/\(upload.id) --from GOOD-COPY"
            guard let heal = upload.heal else { return repair }
            switch heal.result {
            case "healed":
                let chunks = heal.chunks.map(String.init).joined(separator: ", ")
                let shards = heal.parityShards.isEmpty ? "" : ", parity shards \(heal.parityShards.map(String.init).joined(separator: ", ")) rebuilt"
                return "healed from its parity: chunks \(chunks.isEmpty ? "none" : chunks)\(shards); complete again, SHA-256 \(heal.sha256 ?? "") confirmed"
            case "no-parity": return "no parity to heal from; " + repair
            default: return "parity cannot heal it: \(heal.detail ?? heal.result); " + repair
            }
        }
    }
}

struct AuditJSON: Encodable {
    struct Upload: Encodable {
        let id: String
        let checkedChunks: Int
        let corrupt: [Int]
        let sha256Matches: Bool?
        /// Each chunk found wrong, with its range and both digests.
        let findings: [FindingDocument]
        /// With --heal: what healing from parity did.
        let heal: HealDocument?

        init(id: String, report: AuditReport) {
            self.id = id
            checkedChunks = report.checkedChunks
            corrupt = report.corrupt.map(\.value)
            sha256Matches = report.sha256Matches
            findings = report.findings.map(FindingDocument.init)
            heal = report.heal.map(HealDocument.init)
        }

        /// Damage found and not healed: what exits 1.
        var damageLeft: Bool {
            (!corrupt.isEmpty || sha256Matches == false) && heal?.result != "healed"
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(id, forKey: .id)
            try container.encode(checkedChunks, forKey: .checkedChunks)
            try container.encode(corrupt, forKey: .corrupt)
            try container.encode(sha256Matches, forKey: .sha256Matches)
            try container.encode(findings, forKey: .findings)
            try container.encode(heal, forKey: .heal)
        }

        enum CodingKeys: String, CodingKey { case id, checkedChunks, corrupt, sha256Matches, findings, heal }
    }

    let uploads: [Upload]
}
