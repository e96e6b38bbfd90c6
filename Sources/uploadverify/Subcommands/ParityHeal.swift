import SystemPackage
import UploadKit

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension UploadVerify.Repair {
    /// `repair FILE` without `--from`: heals FILE in place from FILE.parity,
    /// against FILE.chunkmap. More damage than the parity covers changes nothing.
    func healFromParity() throws {
        guard case .file(let path) = try Target(parsing: target) else {
            throw CommandFailure.badInput("repair \(target) needs --from SOURCE: only a local file heals from its parity (FILE.parity)")
        }
        let mapPath = path + ".chunkmap"
        let parityPath = path + ".parity"
        let file = try OwnedDescriptor.open(FilePath(path), .readWrite)
        defer { try? file.close() }
        let type = try file.status().type
        guard type == .regular else {
            throw CommandFailure.badInput("\(path) is \(type == .directory ? "a directory" : "not a regular file"): give a file")
        }
        guard ParityFiles.exists(mapPath) else {
            throw CommandFailure.badInput(
                "\(mapPath) does not exist: healing needs the map and the parity that 'uploadverify map \(path) --parity PERCENT' writes; "
                    + "without them, repair from a copy with --from SOURCE")
        }
        let mapReader = try ChunkMapFile.open(FilePath(mapPath))
        let map = try mapReader.readMap()
        try mapReader.close()
        guard ParityFiles.exists(parityPath) else {
            throw CommandFailure.badInput(
                "\(parityPath) does not exist: make one with 'uploadverify map \(path) --parity 10' while the file is good, "
                    + "or repair from a copy with --from SOURCE")
        }
        let parity = try ParityFiles.open(parityPath, writable: true)
        defer { try? parity.close() }
        // The map is written only to mark its `corrupt` entries verified again.
        var mapFile: ChunkMapFile?
        if map.chunks.contains(where: { if case .corrupt = $0 { true } else { false } }) {
            mapFile = try ChunkMapFile.open(FilePath(mapPath), writable: true)
        }
        defer { try? mapFile?.close() }
        let outcome: HealOutcome
        do {
            outcome = try ParityHealer().heal(file, map: map, parity: parity, mapFile: mapFile)
        } catch let error as ParityFileError {
            throw ParityFiles.failure(error)
        } catch let error as ParityHealError {
            throw ParityFiles.failure(error, path: path, parityPath: parityPath, printReport: !json)
        }
        try file.close()
        if json {
            try JSONOutput.print(
                HealJSON(
                    ok: true, chunksMoved: outcome.chunksHealed.count, bytesMoved: outcome.bytesHealed,
                    parityShardsRebuilt: outcome.shardsRebuilt.count, sha256: outcome.sha256.description))
        } else {
            Terminal.standardOutput.writeLine(
                "repaired \(target): \(outcome.chunksHealed.count) chunks healed from \(parityPath) (\(outcome.bytesHealed) bytes), "
                    + "\(outcome.shardsRebuilt.count) parity shards rebuilt; SHA-256 \(outcome.sha256) confirmed")
        }
    }
}

/// `repair FILE --json` when healing from the parity: the keys of `repair
/// --json`, and how many parity shards were rebuilt too.
struct HealJSON: Encodable {
    let ok: Bool
    let chunksMoved: Int
    let bytesMoved: Int64
    let parityShardsRebuilt: Int
    let sha256: String
}

/// Opening FILE.parity from the command line, and its errors in the contract's exit codes.
enum ParityFiles {
    static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    static func open(_ path: String, writable: Bool) throws -> ParityFile {
        do {
            return try ParityFile.open(FilePath(path), writable: writable)
        } catch let error as ParityFileError {
            throw failure(error)
        }
    }

    /// A damaged, truncated, foreign or stale parity file is bad input (as
    /// such a `.chunkmap` is); a failed read is an I/O error.
    static func failure(_ error: ParityFileError) -> any Error {
        switch error {
        case .io(let io): return io
        case .invalid, .mismatch: return CommandFailure.badInput(error.description)
        }
    }

    /// Damage the parity cannot heal is an integrity problem left (exit 1).
    static func failure(_ error: ParityHealError, path: String, parityPath: String, printReport: Bool) -> any Error {
        let copy = "repair it from a good copy with 'uploadverify repair \(path) --from SOURCE' (SOURCE: a good copy of the file, or its upload URL)"
        switch error {
        case .beyondParity(let assessment):
            if printReport {
                let lines = ParityReport.summary(assessment, target: path, parityPath: parityPath) + ParityReport.stripes(assessment)
                Terminal.standardOutput.writeLine((lines + ["nothing was changed"]).joined(separator: "\n"))
            }
            let worst = assessment.unhealable.first.map { "stripe \($0.index) has \($0.damage) damaged shards" } ?? "a stripe is beyond it"
            return CommandFailure(
                status: .integrityProblem,
                message: "\(path) has more damage than \(parityPath) covers (\(worst), at most \(assessment.layout.parityShards) heal); "
                    + "nothing was changed: \(copy)")
        case .sizeChanged:
            return CommandFailure(status: .integrityProblem, message: "\(path): \(error): \(copy)")
        case .rebuiltWrong, .stillDamaged, .sha256Mismatch:
            return CommandFailure(status: .integrityProblem, message: "\(path): \(error)")
        }
    }
}

/// The lines `verify` and `repair` print about what a parity can heal.
enum ParityReport {
    /// At most this many stripes are listed one by one.
    static let listedStripes = 20

    static func summary(_ assessment: ParityAssessment, target: String, parityPath: String) -> [String] {
        let layout = assessment.layout
        return [
            "\(parityPath): \(assessment.damagedChunks.count) damaged chunks and \(assessment.damagedShards.count) damaged parity shards; "
                + "it heals up to \(layout.parityShards) of the \(layout.dataShards + layout.parityShards) shards of each of its \(layout.stripeCount) stripes"
        ]
    }

    /// One line per damaged stripe (the ones it cannot heal first).
    static func stripes(_ assessment: ParityAssessment) -> [String] {
        let m = assessment.layout.parityShards
        let ordered = assessment.unhealable + assessment.healable
        var lines = ordered.prefix(listedStripes).map { stripe in
            let what = damage(stripe)
            return stripe.damage > m
                ? "  stripe \(stripe.index) cannot be healed: \(what) (\(stripe.damage) damaged shards, at most \(m) heal)"
                : "  stripe \(stripe.index) heals: \(what)"
        }
        if ordered.count > listedStripes { lines.append("  ... and \(ordered.count - listedStripes) more damaged stripes") }
        return lines
    }

    static func damage(_ stripe: ParityAssessment.Stripe) -> String {
        var parts = [String]()
        if !stripe.damagedChunks.isEmpty {
            parts.append((stripe.damagedChunks.count == 1 ? "chunk " : "chunks ") + stripe.damagedChunks.map(\.description).joined(separator: ", "))
        }
        if !stripe.damagedShards.isEmpty {
            parts.append(
                (stripe.damagedShards.count == 1 ? "parity shard " : "parity shards ") + stripe.damagedShards.map(String.init).joined(separator: ", "))
        }
        return parts.joined(separator: " and ") + " damaged"
    }
}
