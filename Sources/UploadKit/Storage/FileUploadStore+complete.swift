import SystemPackage
extension FileUploadStore {
    public func complete(_ id: UploadID, sha256 given: SHA256Digest?) async throws -> UploadSnapshot {
        try await blocking {
            let map = try self.openMap(id, writable: true)
            defer { try? map.close() }
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
            // A damaged upload is completed again against the SHA-256 it was confirmed with.
            guard let expected = given ?? announced ?? current.status.sha256 else { throw UploadError.sha256Required }
            let missing = current.indices { if case .missing = $0 { true } else { false } }
            let corrupt = current.indices { if case .corrupt = $0 { true } else { false } }
            guard missing.isEmpty, corrupt.isEmpty else { throw UploadError.incomplete(missing: missing, corrupt: corrupt) }

            let check = try self.checkOnDisk(
                id, map: map, snapshot: current, computeSHA256: true, continuing: self.prefixHashing.take(id), requireExactSize: true)
            guard check.corrupt.isEmpty else { throw UploadError.corrupt(check.corrupt) }
            guard let actual = check.sha256, actual == expected else {
                throw UploadError.sha256Mismatch(expected: expected, actual: check.sha256 ?? expected)
            }
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
            return try self.snapshot(of: map, id: id)
        }
    }

    public func audit(_ id: UploadID, checkSHA256: Bool) async throws -> AuditReport {
        try await blocking {
            let map = try self.openMap(id, writable: true)
            defer { try? map.close() }
            let current = try map.readMap()
            let wasComplete = current.status.state != .receiving
            let checkSHA256 = wasComplete && checkSHA256
            let check = try self.checkOnDisk(id, map: map, snapshot: current, computeSHA256: checkSHA256, continuing: nil, requireExactSize: false)
            var sha256Matches: Bool?
            if checkSHA256, let confirmed = current.status.sha256 {
                sha256Matches = check.sha256 == confirmed
            }
            if wasComplete, !check.corrupt.isEmpty || sha256Matches == false {
                var status = current.status
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
            return AuditReport(checkedChunks: check.checked, corrupt: check.corrupt, sha256Matches: sha256Matches)
        }
    }

    /// One pass over the data file: re-hashes every verified chunk (and the
    /// whole file when asked), and marks chunks whose bytes changed `corrupt`.
    private func checkOnDisk(
        _ id: UploadID, map: ChunkMapFile, snapshot: ChunkMap, computeSHA256: Bool, continuing partial: PartialSHA256?,
        requireExactSize: Bool
    ) throws -> (checked: Int, corrupt: [ChunkIndex], sha256: SHA256Digest?) {
        do {
            let data = try OwnedDescriptor.open(dataPath(id), .readOnly)
            defer { try? data.close() }
            let size = try data.size()
            guard size == snapshot.layout.fileSize.bytes || !requireExactSize else {
                throw UploadError.dataSizeMismatch(expected: snapshot.layout.fileSize.bytes, actual: size)
            }
            let report = try FileVerifier.verify(data, map: snapshot, expectedSHA256: nil, computeSHA256: computeSHA256, continuing: partial)
            var corrupt = [ChunkIndex]()
            // Findings about chunks that were not verified say nothing new.
            for finding in report.findings {
                guard let (index, _) = finding.chunk, case .verified(let digest) = snapshot[index] else { continue }
                corrupt.append(index)
                try map.write(.corrupt(expected: digest), at: index)
            }
            if !corrupt.isEmpty, options.fsync { try map.sync() }
            return (report.checkedChunks, corrupt, report.actualSHA256)
        } catch let error as IOError {
            throw UploadError.storage(error)
        } catch let error as FileScanError {
            if case .io(let io) = error { throw UploadError.storage(io) }
            throw UploadError.storage(IOError("read", path: dataPath(id), errno: .ioError))
        }
    }
}
