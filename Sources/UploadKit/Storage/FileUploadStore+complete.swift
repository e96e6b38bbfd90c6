import SystemPackage

extension FileUploadStore {
    /// Holds the upload's `.upload` lock exclusively from the first read of
    /// the map to the status written: no chunk is written meanwhile.
    public func complete(_ id: UploadID, sha256 given: SHA256Digest?, requireSHA256: Bool) async throws -> UploadSnapshot {
        try await withUploadWideChange(id) { map in
            let current = try map.readMap()
            let announced = current.header.expectedSHA256
            if let announced, let given, announced != given {
                throw UploadError.sha256Disagrees(atCreation: announced, atCompletion: given)
            }
            if current.status.state == .complete, let confirmed = current.status.sha256 {
                if let expected = given ?? announced, expected != confirmed {
                    throw UploadError.sha256Mismatch(expected: expected, actual: confirmed)
                }
                return try self.snapshot(of: map, id: id)
            }
            // A damaged upload is completed again against the SHA-256 it was confirmed with, and no other.
            if current.status.state == .damaged, let confirmed = current.status.sha256, let given, given != confirmed {
                throw UploadError.confirmedOtherwise(confirmed: confirmed, given: given)
            }
            let expected = given ?? announced ?? current.status.sha256
            guard expected != nil || !requireSHA256 else { throw UploadError.sha256Required }
            let missing = current.indices { if case .missing = $0 { true } else { false } }
            let corrupt = current.indices { if case .corrupt = $0 { true } else { false } }
            guard missing.isEmpty, corrupt.isEmpty else { throw UploadError.incomplete(missing: missing, corrupt: corrupt) }

            // The parity is made beside the pass that confirms the bytes, and
            // kept only if they are confirmed (an unreadable data file leaves
            // it to the pass below to report).
            let parity = self.options.parityPercent.flatMap { try? self.startParity(id, layout: current.layout, percent: $0) }
            defer { parity?.abandon() }
            var check = try self.checkOnDisk(
                id, map: map, snapshot: current, computeSHA256: true, continuing: self.prefixHashing.take(id, checkedAgainst: current),
                requireExactSize: true)
            if check.continued, let expected, check.sha256 != expected, check.findings.isEmpty {
                // The hashed prefix was read at another moment than this pass:
                // a mismatch is only believed from one pass over the whole file.
                check = try self.checkOnDisk(id, map: map, snapshot: current, computeSHA256: true, continuing: nil, requireExactSize: true)
            }
            guard check.findings.isEmpty else { throw UploadError.corrupt(check.findings) }
            guard let actual = check.sha256 else { throw UploadError.storage(IOError("hash", path: self.dataPath(id), errno: .ioError)) }
            if let expected, actual != expected { throw UploadError.sha256Mismatch(expected: expected, actual: actual) }
            do {
                try self.perform(.mapWrite, on: map.path) { () throws(IOError) in
                    try map.write(ChunkMapStatus(state: .complete, sha256: actual, updatedAt: .now))
                }
                if self.options.fsync {
                    do {
                        try self.perform(.mapSync, on: map.path) { () throws(IOError) in try map.sync() }
                    } catch {
                        // As for a chunk: an unsynced "complete" must not be seen.
                        try? map.write(current.status)
                        throw error
                    }
                }
                self.ended(id)
            } catch let error as IOError {
                throw UploadError.storage(error)
            }
            // The upload is complete whether or not its parity can be
            // written; an audit then reports that it has none.
            try? parity?.commit(map: current, sha256: actual, sync: self.options.fsync)
            return try self.snapshot(of: map, id: id)
        }
    }

    /// Holds the upload's `.upload` lock exclusively for the whole pass: a
    /// chunk rewritten (repaired) meanwhile would be judged on bytes read
    /// before it was, and a good chunk marked corrupt.
    ///
    /// With `heal`, damage found in a complete upload (or in its parity) is
    /// then healed from `ID.parity` under the same lock (see `healFromParity`).
    public func audit(_ id: UploadID, checkSHA256: Bool, heal: Bool) async throws -> AuditReport {
        try await withUploadWideChange(id) { map in
            let current = try map.readMap()
            let wasComplete = current.status.state != .receiving
            let checkSHA256 = wasComplete && checkSHA256
            let check = try self.checkOnDisk(id, map: map, snapshot: current, computeSHA256: checkSHA256, continuing: nil, requireExactSize: false)
            var findings = check.findings
            var sha256Matches: Bool?
            if checkSHA256, let confirmed = current.status.sha256, let actual = check.sha256 {
                sha256Matches = actual == confirmed
                if actual != confirmed { findings.append(.sha256Mismatch(expected: confirmed, actual: actual)) }
            }
            let firstCorrupt = check.findings.compactMap { $0.chunk?.range.offset }.min()
            if let firstCorrupt, current.status.appendOffset > firstCorrupt {
                // Appends resume from the first corrupt chunk, which they can mend.
                var status = current.status
                status.appendOffset = firstCorrupt
                try self.storage { try map.write(status) }
            }
            if wasComplete, !check.findings.isEmpty || sha256Matches == false {
                var status = try self.storage { try map.readStatus() }
                status.state = .damaged
                status.updatedAt = .now
                do {
                    try map.write(status)
                    if self.options.fsync { try map.sync() }
                } catch let error as IOError {
                    throw UploadError.storage(error)
                }
                // The chunks before the first damaged one are good: hash them
                // now, while the client works out what to send back.
                self.prefixHashing.resume(id, files: self.files(id))
            }
            if !wasComplete, firstCorrupt != nil, self.options.fsync { try self.storage { try map.sync() } }
            // Only a complete upload has a parity: one still receiving has no SHA-256 to heal towards.
            let damaged = !check.findings.isEmpty || sha256Matches == false
            let healing = heal && wasComplete ? try self.healFromParity(id, map: map, dataDamaged: damaged) : nil
            return AuditReport(checkedChunks: check.checked, findings: findings, sha256Matches: sha256Matches, heal: healing)
        }
    }

    /// One pass over the data file: re-hashes every verified chunk (and the
    /// whole file when asked), and marks chunks whose bytes changed `corrupt`.
    private func checkOnDisk(
        _ id: UploadID, map: ChunkMapFile, snapshot: ChunkMap, computeSHA256: Bool, continuing partial: PartialSHA256?,
        requireExactSize: Bool
    ) throws -> (checked: Int, findings: [IntegrityFinding], sha256: SHA256Digest?, continued: Bool) {
        do {
            let data = try OwnedDescriptor.open(dataPath(id), .readOnly)
            defer { try? data.close() }
            let size = try data.size()
            guard size == snapshot.layout.fileSize.bytes || !requireExactSize else {
                throw UploadError.dataSizeMismatch(expected: snapshot.layout.fileSize.bytes, actual: size)
            }
            let report = try FileVerifier.verify(data, map: snapshot, expectedSHA256: nil, computeSHA256: computeSHA256, continuing: partial)
            var corrupt = [IntegrityFinding]()
            var marked = false
            for finding in report.findings {
                guard let (index, _) = finding.chunk else { continue }
                switch snapshot[index] {
                case .verified(let digest):
                    // Its bytes changed, or the file no longer reaches them.
                    corrupt.append(finding)
                    try map.write(.corrupt(expected: digest), at: index)
                    marked = true
                case .corrupt:
                    corrupt.append(finding)  // still wrong: reported, already marked
                case .missing:
                    continue  // nothing was known of its bytes
                }
            }
            if marked, options.fsync { try map.sync() }
            return (report.checkedChunks, corrupt, report.actualSHA256, partial != nil)
        } catch let error as IOError {
            throw UploadError.storage(error)
        } catch let error as FileScanError {
            if case .io(let io) = error { throw UploadError.storage(io) }
            throw UploadError.storage(IOError("read", path: dataPath(id), errno: .ioError))
        }
    }
}
