import Foundation
import SystemPackage
import Testing
import UploadKit

/// Two `uploadverify serve` processes on ONE data directory, both serving
/// the same uploads at once, with the offline `uploadverify audit` as a
/// third process: the races that the chunk-map locks (`ChunkMapLocks.swift`)
/// settle, each from both sides over real sockets, 50 rounds each, and
/// `kill -9` of either server mid-upload.
///
/// The races are driven by Python clients (one process per test, looping
/// the rounds, for precise timing); where a race has an order worth
/// forcing, they watch the upload's `.upload` lock with `F_OFD_GETLK`. What
/// is on disk is then read here, with the project's own chunk-map decoder.
@Suite(.serialized) struct SharedDirectoryTests {
    static let chunkSize = 65_536
    static let rounds = 50

    // MARK: Chunks through both servers

    @Test func chunksSentAlternatelyToTwoServersCompleteOneUpload() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        let data = workspace.url.appendingPathComponent("uploads")
        let servers = try twoServers(on: data)
        defer { stop(servers) }

        // Per round: 4 chunks at once, chunk i through server (i + round) % 2, complete through the
        // server that did not create it, the data read back through the one that did.
        let report = try runPython(Self.alternately, servers, data: data)
        let records = try roundRecords(report)
        #expect(records.count == Self.rounds)
        for (round, record) in records.enumerated() {
            let id = try #require(record["id"] as? String)
            let sha256 = try #require(record["sha256"] as? String)
            let label = "round \(round), upload \(id)"
            let puts = answers(record["puts"])
            #expect(puts.count == 4 && puts.allSatisfy { $0.status == 200 && $0.written == true }, "\(label): \(puts)")
            let done = Answer(record["complete"])
            #expect(done.status == 200 && done.state == "complete" && done.sha256 == sha256, "\(label): complete answered \(done)")
            #expect(record["dataStatus"] as? Int == 200 && record["dataSHA256"] as? String == sha256, "\(label): GET …/data")

            let disk = try onDisk(data, id)
            #expect(disk.status.state == .complete && disk.status.sha256?.description == sha256, "\(label): status on disk")
            #expect(SHA256Hasher.hash(disk.bytes).description == sha256, "\(label): the data file is the source")
            #expect(expectVerifiedChunksHoldTheirBytes(disk, label) == 4, "\(label): every chunk verified")
            #expect(disk.entries.map { $0.digest?.description } == puts.map(\.xxh3), "\(label): each entry is its writer's XXH3")
        }
    }

    // MARK: One chunk, two writers

    @Test func theSameChunkRacedThroughBothServersWithTheSameBytesIsWrittenOnce() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        let data = workspace.url.appendingPathComponent("uploads")
        let servers = try twoServers(on: data)
        defer { stop(servers) }

        // Per round: one chunk of a 3-chunk upload sent through both servers at once (in two
        // rounds of three with a pause mid-body, which widens the overlap); a chunk-busy is
        // sent again until it is answered otherwise, as a client does.
        let report = try runPython(Self.sameBytes, servers, data: data)
        let records = try roundRecords(report)
        #expect(records.count == Self.rounds)
        var overlapped = 0
        for (round, record) in records.enumerated() {
            let id = try #require(record["id"] as? String)
            let index = try #require(record["index"] as? Int)
            let sha256 = try #require(record["sha256"] as? String)
            let label = "round \(round), upload \(id), chunk \(index)"
            let sides = (record["answers"] as? [Any] ?? []).map { answers($0) }
            try #require(sides.count == 2 && sides.allSatisfy { !$0.isEmpty }, "\(label): \(sides)")
            if sides.contains(where: { $0.count > 1 }) { overlapped += 1 }
            let finals = sides.compactMap(\.last)
            #expect(finals.allSatisfy { $0.status == 200 }, "\(label): \(sides)")
            #expect(
                finals.filter { $0.written == true }.count == 1 && finals.filter { $0.written == false }.count == 1,
                "\(label): exactly one written, the other a duplicate: \(sides)")

            let disk = try onDisk(data, id)
            for (position, state) in disk.entries.enumerated() where position != index {
                #expect(state == .missing, "\(label): chunk \(position) was never sent")
            }
            guard case .verified(let digest) = disk.entries[index] else {
                Issue.record("\(label): not verified on disk: \(disk.entries[index])")
                continue
            }
            #expect(XXH3Hasher.hash(disk.chunk(index)) == digest, "\(label): the entry is not its bytes' XXH3")
            #expect(SHA256Hasher.hash(disk.chunk(index)).description == sha256, "\(label): the bytes on disk are not the ones sent")
            #expect(finals.allSatisfy { $0.xxh3 == digest.description }, "\(label): \(finals)")
        }
        #expect(overlapped > 0, "no round had one writer answered chunk-busy: the race never overlapped")
        print("SharedDirectoryTests, same bytes: \(records.count) rounds, \(overlapped) with a chunk-busy answered and retried")
    }

    @Test func theSameChunkRacedThroughBothServersWithDifferentBytesKeepsOnlyTheWinners() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        let data = workspace.url.appendingPathComponent("uploads")
        let servers = try twoServers(on: data)
        defer { stop(servers) }

        // As above with other bytes on each side; no retries, except of a loser told chunk-busy.
        let report = try runPython(Self.differentBytes, servers, data: data)
        let records = try roundRecords(report)
        #expect(records.count == Self.rounds)
        var busyLosers = 0
        for (round, record) in records.enumerated() {
            let id = try #require(record["id"] as? String)
            let index = try #require(record["index"] as? Int)
            let shas = try #require(record["sha256"] as? [String])
            let label = "round \(round), upload \(id), chunk \(index)"
            let first = answers(record["first"])
            let retried = (record["retried"] as? [Any] ?? []).map { answers($0) }
            try #require(first.count == 2 && retried.count == 2 && shas.count == 2, "\(label): \(record)")
            let winners = first.indices.filter { first[$0].status == 200 }
            #expect(winners.count == 1, "\(label): exactly one 200: \(first)")
            guard winners.count == 1 else { continue }
            let winner = winners[0]
            let loser = 1 - winner
            #expect(first[winner].written == true && retried[winner].isEmpty, "\(label): \(first[winner])")
            #expect(first[loser].status == 409 && ["chunk-busy", "chunk-conflict"].contains(first[loser].type), "\(label): the loser got \(first[loser])")
            if first[loser].isBusy {
                busyLosers += 1
                // Sent again once the winner is done: a verified chunk is never rewritten.
                let last = retried[loser].last
                #expect(last?.status == 409 && last?.type == "chunk-conflict", "\(label): the busy loser, retried, got \(retried[loser])")
            } else {
                #expect(retried[loser].isEmpty, "\(label)")
            }

            let disk = try onDisk(data, id)
            for (position, state) in disk.entries.enumerated() where position != index {
                #expect(state == .missing, "\(label): chunk \(position) was never sent")
            }
            guard case .verified(let digest) = disk.entries[index] else {
                Issue.record("\(label): not verified on disk: \(disk.entries[index])")
                continue
            }
            let onDiskSHA256 = SHA256Hasher.hash(disk.chunk(index)).description
            #expect(onDiskSHA256 == shas[winner] && onDiskSHA256 != shas[loser], "\(label): the data file holds the winner's bytes only")
            #expect(XXH3Hasher.hash(disk.chunk(index)) == digest, "\(label): the entry is not its bytes' XXH3")
            #expect(first[winner].xxh3 == digest.description, "\(label): the entry is not the winner's XXH3")
        }
        print("SharedDirectoryTests, different bytes: \(records.count) rounds, the loser chunk-busy (then chunk-conflict) in \(busyLosers)")
    }

    // MARK: Against the offline audit

    @Test func completeRacingAnOfflineAuditEndsComplete() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        let data = workspace.url.appendingPathComponent("uploads")
        let servers = try twoServers(on: data)
        defer { stop(servers) }

        // Per round: an 8-chunk upload through both servers, then its complete against
        // `uploadverify audit --data-dir DIR ID`: the audit first (the complete sent once the
        // audit is seen holding the upload), the complete first, or both at once.
        let report = try runPython(Self.completeAgainstAudit, servers, data: data)
        let records = try roundRecords(report)
        #expect(records.count == Self.rounds)
        var auditHeldFirst = 0
        for (round, record) in records.enumerated() {
            let id = try #require(record["id"] as? String)
            let sha256 = try #require(record["sha256"] as? String)
            let label = "round \(round) (\(record["order"] ?? "")), upload \(id)"
            if record["auditHeldFirst"] as? Bool == true { auditHeldFirst += 1 }
            let puts = answers(record["puts"])
            #expect(puts.allSatisfy { $0.status == 200 }, "\(label): \(puts)")
            let done = Answer(record["complete"])
            #expect(done.status == 200 && done.state == "complete" && done.sha256 == sha256, "\(label): complete answered \(done)")
            let audit = AuditRun(record["audit"])
            #expect(audit.exit == 0, "\(label): the audit: \(audit)")
            #expect(audit.uploads.count == 1 && audit.corrupt(id) == [], "\(label): the audit found corrupt chunks: \(audit)")
            #expect(audit.upload(id)?["sha256Matches"] as? Bool != false, "\(label): \(audit)")
            #expect(Answer(record["status"]).state == "complete", "\(label): the other server's status: \(Answer(record["status"]))")

            let disk = try onDisk(data, id)
            #expect(disk.status.state == .complete && disk.status.sha256?.description == sha256, "\(label): status on disk")
            #expect(SHA256Hasher.hash(disk.bytes).description == sha256, "\(label): the data file is the source")
            #expect(expectVerifiedChunksHoldTheirBytes(disk, label) == 8, "\(label): every chunk verified")
        }
        #expect(auditHeldFirst > 0, "no complete was sent while the audit held the upload")
        print("SharedDirectoryTests, complete against audit: \(records.count) rounds, \(auditHeldFirst) sent while the audit held the upload")
    }

    @Test func aRepairRacingAnOfflineAuditLeavesNoGoodChunkMarkedCorrupt() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        let data = workspace.url.appendingPathComponent("uploads")
        let servers = try twoServers(on: data)
        defer { stop(servers) }

        // 50 complete uploads of 8 chunks, chunk (round % 8) of each overwritten at rest, one
        // audit of the directory marks them; then per round the good bytes PUT (and complete)
        // through one server against an audit of that upload: the audit holding the upload
        // (it read the damaged chunk before the repair), the repair mid-body when the audit
        // starts, or both at once. Then one more audit of the directory.
        let report = try runPython(Self.repairAgainstAudit, servers, data: data)
        let damage = AuditRun(report["damageAudit"])
        #expect(damage.exit == 1, "the audit of the damage: \(damage)")
        let lastAudit = AuditRun(report["finalAudit"])
        #expect(lastAudit.exit == 0 && lastAudit.uploads.count == Self.rounds, "the audit after the repairs: \(lastAudit)")
        let records = try roundRecords(report)
        #expect(records.count == Self.rounds)
        var readBeforeTheRepair = 0
        var waitedForTheRepair = 0
        var refusedCompletes = [String]()
        for (round, record) in records.enumerated() {
            let id = try #require(record["id"] as? String)
            let index = try #require(record["index"] as? Int)
            let sha256 = try #require(record["sha256"] as? String)
            let label = "round \(round) (\(record["order"] ?? "")), upload \(id), chunk \(index)"
            #expect(damage.corrupt(id) == [index], "\(label): the damage audit: \(String(describing: damage.upload(id)))")

            let put = Answer(record["put"])
            #expect(put.status == 200 && put.written == true, "\(label): the repair's PUT answered \(put)")
            let completes = answers(record["completes"])
            #expect(
                completes.count <= 2 && completes.last?.status == 200 && completes.last?.state == "complete"
                    && completes.last?.sha256 == sha256, "\(label): complete answered \(completes)")
            if completes.count == 2 { refusedCompletes.append("\(label): \(completes[0])") }

            let audit = AuditRun(record["audit"])
            let found = audit.corrupt(id)
            #expect((audit.exit == 1 && found == [index]) || (audit.exit == 0 && found == []), "\(label): the racing audit: \(audit)")
            if record["repairSentWhileAuditHeld"] as? Bool == true {
                // The repair waited for the audit, which saw the damaged bytes and must not have marked anything else.
                readBeforeTheRepair += 1
                #expect(found == [index], "\(label): the audit held the upload when the repair was sent: \(audit)")
            }
            if record["auditWaitedForWriter"] as? Bool == true {
                waitedForTheRepair += 1
                #expect(audit.exit == 0 && found == [], "\(label): the audit waited for the repair, then found: \(audit)")
            }
            #expect(
                lastAudit.corrupt(id) == [] && lastAudit.upload(id)?["sha256Matches"] as? Bool == true,
                "\(label): the last audit: \(String(describing: lastAudit.upload(id)))")

            // No chunk whose bytes are good is marked corrupt: every one is verified, with its bytes' XXH3.
            let disk = try onDisk(data, id)
            #expect(disk.status.state == .complete && disk.status.sha256?.description == sha256, "\(label): status on disk")
            #expect(SHA256Hasher.hash(disk.bytes).description == sha256, "\(label): the data file is the source again")
            #expect(expectVerifiedChunksHoldTheirBytes(disk, label) == 8, "\(label): every chunk verified")
        }
        #expect(readBeforeTheRepair > 0, "no repair was sent while the audit held the upload")
        #expect(waitedForTheRepair > 0, "no audit was seen waiting for a repair in progress")
        print(
            "SharedDirectoryTests, repair against audit: \(records.count) rounds, \(readBeforeTheRepair) repairs sent while the audit held the upload, "
                + "\(waitedForTheRepair) audits waiting for a repair mid-body; completes refused and retried: \(refusedCompletes.isEmpty ? "none" : refusedCompletes.joined(separator: "; "))"
        )
    }

    // MARK: Delete

    @Test func deleteRacingChunkWritesOnBothServersLeavesNoOrphanAndNoDescriptor() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        let data = workspace.url.appendingPathComponent("uploads")
        let servers = try twoServers(on: data)
        defer { stop(servers) }

        // Per round: four chunk PUTs (two through each server) stopped halfway through their
        // bodies, holding their writer's lock; a DELETE through one server; the bodies finished;
        // two more PUTs while the delete waits or after it. Then the files and, within 5 s, both
        // servers' descriptors (from /proc, against a count taken after a warm-up round).
        let report = try runPython(Self.deleteAgainstWrites, servers, data: data)
        let baseline = try #require(report["baseline"] as? [Int])
        try #require(baseline.count == 2)
        let records = try roundRecords(report)
        #expect(records.count == Self.rounds)
        var waited = 0
        for (round, record) in records.enumerated() {
            let id = try #require(record["id"] as? String)
            let label = "round \(round), upload \(id)"
            let deleted = Answer(record["delete"])
            #expect(deleted.status == 204, "\(label): DELETE answered \(deleted)")
            let slow = answers(record["slow"])
            let late = answers(record["late"])
            #expect(slow.count == 4 && late.count == 2, "\(label)")
            // A writer either finished before the delete took the upload, or found it gone.
            #expect((slow + late).allSatisfy { $0.status == 200 || ($0.status == 404 && $0.type == "upload-not-found") }, "\(label): \(slow) \(late)")
            if record["writerHeld"] as? Bool == true {
                // A writer held the upload when the DELETE was sent: the delete waited for it.
                #expect(slow.contains { $0.status == 200 }, "\(label): a writer in progress was not let finish: \(slow)")
                if slow.contains(where: { $0.status == 200 }) { waited += 1 }
            }
            #expect(record["left"] as? [String] == [], "\(label): files left: \(record["left"] ?? "")")
            #expect(!FileManager.default.fileExists(atPath: data.appendingPathComponent(id).path), "\(label): an orphan data file")
            #expect(!FileManager.default.fileExists(atPath: data.appendingPathComponent(id + ".chunkmap").path), "\(label): the chunk map is left")
            let descriptors = record["descriptors"] as? [Int] ?? []
            #expect(
                descriptors.count == 2 && zip(descriptors, baseline).allSatisfy { $0 <= $1 },
                "\(label): descriptors \(descriptors), \(baseline) before")
        }
        #expect(waited > 0, "no delete was seen waiting for a writer")
        #expect(try FileManager.default.contentsOfDirectory(atPath: data.path) == [], "the data directory should be empty")
        print("SharedDirectoryTests, delete against writes: \(records.count) rounds, \(waited) with the delete waiting for writers in progress")
    }

    // MARK: kill -9

    @Test func killingEitherServerMidUploadLeavesTheOtherServingAndEveryVerifiedChunkHoldsItsBytes() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        let data = workspace.url.appendingPathComponent("uploads")
        // fsync on, as deployed.
        var servers = try twoServers(on: data, [])
        defer { stop(servers) }
        let cache = ["XDG_CACHE_HOME": workspace.path("cache")]
        let chunkCount = 64

        // Each server killed twice, alternately: 0 serves the command-line client, 1 a Python client.
        for (round, victim) in [0, 1, 0, 1].enumerated() {
            let survivor = 1 - victim
            let label = "round \(round), server \(victim) killed"
            let source = workspace.path("source-\(round)")
            try Subprocess.writeRandomFile(source, count: chunkCount * Self.chunkSize - 4321)
            let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: source)))
            let created = try Curl.request(
                "POST", servers[0].base + "/uploads", headers: ["Upload-Length": "\(bytes.count)", "Upload-Chunk-Size": "\(Self.chunkSize)"])
            let path = try #require(created.headers["location"], "\(label): POST /uploads answered \(created.status)")
            let id = String(path.split(separator: "/").last ?? "")

            // The Python client sends from the last chunk down through server 1; once it has
            // written one, the command-line client sends from the first up through server 0.
            let log = workspace.path("client-\(round).log")
            let other = try startPython(
                Self.killClient, servers, data: data, extra: ["path": path, "size": bytes.count, "source": source, "log": log, "through": 1])
            defer { end(other) }
            let pythonWrote = waitUntil(timeout: 30) { writtenChunks(log) >= 1 }
            try #require(pythonWrote, "\(label): the Python client wrote no chunk")
            let client = try UploadVerifyBinary.start(["upload", source, "--id", servers[0].base + path, "--concurrency", "2"], environment: cache)
            defer { end(client) }
            let clientWrote = waitUntil(timeout: 30) { verified(data, id).first == true }
            try #require(clientWrote, "\(label): the command-line client wrote no chunk")

            usleep(UInt32.random(in: 0...30_000))
            let verifiedBeforeTheKill = verified(data, id).filter { $0 }.count
            servers[victim].kill9()
            end(client)
            end(other)
            #expect(verifiedBeforeTheKill < chunkCount, "\(label): the upload had finished before the kill")

            // The other serves on; once its requests from the killed clients are over, what the map calls verified is checked.
            #expect(try Curl.request("GET", servers[survivor].base + "/healthz").status == 200, "\(label): the survivor stopped serving")
            let settled = waitUntil(timeout: 10) { chunkRequestsInFlight(servers[survivor]) == 0 }
            try #require(settled, "\(label): the survivor's chunk requests did not end")
            let disk = try onDisk(data, id)
            #expect(disk.bytes.count == bytes.count, "\(label): the data file's size drifted")
            let verifiedAfterTheKill = expectVerifiedChunksHoldTheirBytes(disk, label, source: bytes)

            // The survivor takes the rest: exactly the chunks not verified, and confirms the SHA-256.
            let resumed = try Subprocess.run(
                "timeout", ["120", UploadVerifyBinary.url.path, "upload", source, "--id", servers[survivor].base + path, "--json"], environment: cache)
            try #require(resumed.status == 0, "\(label): the resume through the survivor: \(resumed.stderr)")
            let result = try json(resumed.stdout)
            #expect(result["sha256"] as? String == SHA256Hasher.hash(bytes).description, "\(label): \(result)")
            #expect(result["chunksSent"] as? Int == chunkCount - verifiedAfterTheKill, "\(label): \(verifiedAfterTheKill) were verified: \(result)")
            let finished = try onDisk(data, id)
            #expect(finished.status.state == .complete && finished.bytes == bytes, "\(label): after the resume")
            #expect(expectVerifiedChunksHoldTheirBytes(finished, label, source: bytes) == chunkCount, "\(label): after the resume")

            // The killed one, restarted on the directory, serves the upload as complete.
            servers[victim] = try ServerProcess(dataDirectory: data)
            let status = try json(String(decoding: try Curl.request("GET", servers[victim].base + path).body, as: UTF8.self))
            #expect(status["state"] as? String == "complete" && status["sha256"] as? String == SHA256Hasher.hash(bytes).description, "\(label): \(status)")
            print(
                "SharedDirectoryTests, kill -9: \(label) with \(verifiedBeforeTheKill) of \(chunkCount) chunks verified, \(verifiedAfterTheKill) once settled")
        }
    }

    // MARK: Helpers

    /// Two servers on one data directory, on ports of their own.
    func twoServers(on data: URL, _ arguments: [String] = ["--no-fsync"]) throws -> [ServerProcess] {
        let first = try ServerProcess(dataDirectory: data, arguments: arguments)
        let second = try ServerProcess(dataDirectory: data, arguments: arguments)
        return [first, second]
    }

    func stop(_ servers: [ServerProcess]) {
        for server in servers where server.process.isRunning { server.kill9() }
    }

    /// A client process, ended abruptly (a client that dies is a case the server handles anyway).
    func end(_ process: Process) {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    func waitUntil(timeout: TimeInterval, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while !condition() {
            if Date() > deadline { return false }
            usleep(2_000)
        }
        return true
    }

    /// What the Python clients are given, as JSON in `SHARED_DIRECTORY_TEST`.
    func parameters(_ servers: [ServerProcess], _ data: URL, _ extra: [String: Any]) throws -> [String: String] {
        var values: [String: Any] = [
            "ports": servers.map { $0.port },
            "pids": servers.map { Int($0.process.processIdentifier) },
            "data": data.path,
            "binary": UploadVerifyBinary.url.path,
            "rounds": Self.rounds,
        ]
        values.merge(extra) { $1 }
        return ["SHARED_DIRECTORY_TEST": String(decoding: try JSONSerialization.data(withJSONObject: values), as: UTF8.self)]
    }

    /// Runs a client after the shared Python prelude, to its end; what it printed, as JSON.
    func runPython(_ code: String, _ servers: [ServerProcess], data: URL, extra: [String: Any] = [:]) throws -> [String: Any] {
        let result = try Subprocess.run("python3", ["-c", Self.prelude + "\n" + code], environment: try parameters(servers, data, extra))
        guard result.status == 0 else { throw SubprocessFailure(program: "python3", result: result) }
        return try json(result.stdout)
    }

    func startPython(_ code: String, _ servers: [ServerProcess], data: URL, extra: [String: Any]) throws -> Process {
        try Subprocess.start("python3", ["-c", Self.prelude + "\n" + code], environment: try parameters(servers, data, extra))
    }

    func roundRecords(_ report: [String: Any]) throws -> [[String: Any]] {
        try #require(report["rounds"] as? [[String: Any]])
    }

    /// The chunks the Python kill-test client has written (lines `INDEX 200 - True`).
    func writtenChunks(_ log: String) -> Int {
        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").filter { $0.hasSuffix(" True") }.count
    }

    /// Which chunks the map on disk calls verified (empty when it cannot be read).
    func verified(_ data: URL, _ id: String) -> [Bool] {
        guard let map = try? ChunkMapFile.open(FilePath(data.appendingPathComponent(id + ".chunkmap").path)) else { return [] }
        defer { try? map.close() }
        return ((try? map.readEntries()) ?? []).map(\.isVerified)
    }

    /// The server's `uploadverify_chunk_requests_in_flight` gauge.
    func chunkRequestsInFlight(_ server: ServerProcess) -> Double? {
        guard let answer = try? Curl.request("GET", server.base + "/metrics"), answer.status == 200 else { return nil }
        let line = String(decoding: answer.body, as: UTF8.self).split(separator: "\n")
            .first { $0.hasPrefix("uploadverify_chunk_requests_in_flight ") }
        return line.flatMap { Double($0.split(separator: " ").last ?? "") }
    }

    /// An upload as it is on disk: its chunk map's status and entries, its data file's bytes.
    struct OnDisk {
        let status: ChunkMapStatus
        let entries: [ChunkState]
        let bytes: [UInt8]

        func chunk(_ index: Int) -> [UInt8] {
            let start = min(index * SharedDirectoryTests.chunkSize, bytes.count)
            return Array(bytes[start..<min(start + SharedDirectoryTests.chunkSize, bytes.count)])
        }
    }

    func onDisk(_ data: URL, _ id: String) throws -> OnDisk {
        let map = try ChunkMapFile.open(FilePath(data.appendingPathComponent(id + ".chunkmap").path))
        defer { try? map.close() }
        let status = try map.readStatus()
        let entries = try map.readEntries()
        return OnDisk(status: status, entries: entries, bytes: [UInt8](try Data(contentsOf: data.appendingPathComponent(id))))
    }

    /// Every chunk the map calls verified holds bytes that hash to its entry (and are the
    /// source's, when given); none is marked corrupt. Returns how many are verified.
    @discardableResult
    func expectVerifiedChunksHoldTheirBytes(
        _ disk: OnDisk, _ label: String, source: [UInt8]? = nil, sourceLocation: SourceLocation = #_sourceLocation
    ) -> Int {
        var count = 0
        for (index, state) in disk.entries.enumerated() {
            switch state {
            case .verified(let digest):
                count += 1
                let bytes = disk.chunk(index)
                #expect(XXH3Hasher.hash(bytes) == digest, "\(label): chunk \(index) is verified, its bytes hash otherwise", sourceLocation: sourceLocation)
                if let source {
                    let start = index * Self.chunkSize
                    let expected = Array(source[start..<min(start + Self.chunkSize, source.count)])
                    #expect(bytes == expected, "\(label): chunk \(index) is verified, its bytes are not the source's", sourceLocation: sourceLocation)
                }
            case .corrupt:
                Issue.record("\(label): chunk \(index) is marked corrupt", sourceLocation: sourceLocation)
            case .missing:
                break
            }
        }
        return count
    }

    /// One HTTP answer as a Python client reported it.
    struct Answer: CustomStringConvertible {
        let fields: [String: Any]

        init(_ object: Any?) { fields = object as? [String: Any] ?? [:] }

        var status: Int { fields["status"] as? Int ?? -1 }
        /// The problem's slug (`chunk-busy`), empty for a success.
        var type: String { fields["type"] as? String ?? "" }
        var written: Bool? { fields["written"] as? Bool }
        var xxh3: String? { fields["xxh3"] as? String }
        var state: String? { fields["state"] as? String }
        var sha256: String? { fields["sha256"] as? String }
        var isBusy: Bool { status == 409 && type == "chunk-busy" }

        var description: String {
            var text = "\(status)"
            if !type.isEmpty { text += " \(type)" }
            if let written { text += " written=\(written)" }
            if let state { text += " state=\(state)" }
            return text
        }
    }

    func answers(_ object: Any?) -> [Answer] {
        (object as? [Any] ?? []).map { Answer($0) }
    }

    /// One run of `uploadverify audit --json`, as a Python client reported it.
    struct AuditRun: CustomStringConvertible {
        let fields: [String: Any]

        init(_ object: Any?) { fields = object as? [String: Any] ?? [:] }

        var exit: Int { fields["exit"] as? Int ?? -1 }
        var uploads: [[String: Any]] { (fields["report"] as? [String: Any])?["uploads"] as? [[String: Any]] ?? [] }
        func upload(_ id: String) -> [String: Any]? { uploads.first { $0["id"] as? String == id } }
        /// The corrupt chunks the audit named for `id`; nil when it did not report that upload.
        func corrupt(_ id: String) -> [Int]? { upload(id)?["corrupt"] as? [Int] }

        var description: String { "exit \(exit), \(uploads), stderr: \(fields["stderr"] ?? "")" }
    }
}

// MARK: The Python clients

extension SharedDirectoryTests {
    /// Shared by every client: raw HTTP over sockets (so a request can stop mid-body, and a
    /// 409 that closes the connection is still read), the offline audit, and `F_OFD_GETLK`
    /// on the upload's `.upload` lock. Parameters come in `SHARED_DIRECTORY_TEST`.
    static let prelude = #"""
        import base64, fcntl, hashlib, json, os, random, select, socket, struct, subprocess, threading, time

        P = json.loads(os.environ["SHARED_DIRECTORY_TEST"])
        PORTS = P["ports"]
        PIDS = P["pids"]
        DATA = P["data"]
        BINARY = P["binary"]
        ROUNDS = P["rounds"]
        CHUNK = 65536


        # One HTTP answer as {status, type (the problem's slug), doc (its JSON), headers, body};
        # status 0 when the connection ended before an answer.
        def read_answer(s):
            data = b""
            try:
                while b"\r\n\r\n" not in data:
                    piece = s.recv(65536)
                    if not piece:
                        return {"status": 0, "type": "closed", "doc": {}, "headers": {}, "body": b""}
                    data += piece
                head, _, body = data.partition(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                status = int(lines[0].split(" ")[1])
                headers = {}
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
                length = int(headers.get("content-length", "0"))
                while len(body) < length:
                    piece = s.recv(65536)
                    if not piece:
                        break
                    body += piece
            except (OSError, ValueError, IndexError) as error:
                return {"status": 0, "type": "closed: %s" % error, "doc": {}, "headers": {}, "body": b""}
            doc = {}
            if headers.get("content-type", "").startswith("application/") and body:
                try:
                    doc = json.loads(body)
                except ValueError:
                    doc = {}
            slug = doc.get("type", "").rsplit("/", 1)[-1] if isinstance(doc, dict) else ""
            return {"status": status, "type": slug, "doc": doc, "headers": headers, "body": body}


        def connect(port):
            s = socket.create_connection(("127.0.0.1", port))
            s.settimeout(30)
            return s


        def refused(error):
            return {"status": 0, "type": "refused: %s" % error, "doc": {}, "headers": {}, "body": b""}


        # One request on a connection of its own.
        def request(port, method, path, headers=None, body=b""):
            lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(body)}", "Connection: close"]
            lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
            try:
                s = connect(port)
            except OSError as error:
                return refused(error)
            try:
                s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
            except OSError:
                pass
            answer = read_answer(s)
            s.close()
            return answer


        def chunk_head(path, index, total, length):
            first = index * CHUNK
            return (f"PUT {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Range: bytes {first}-{first + length - 1}/{total}\r\n"
                    f"Content-Length: {length}\r\nConnection: close\r\n\r\n").encode()


        # PUT of one chunk. With `pause` (seconds) or `rest` (an Event to wait for), the
        # head and half the body go first and the other half after; a server that has
        # answered already (a 409 closes the connection) is sent no more.
        def put_chunk(port, path, index, total, body, barrier=None, pause=0.0, rest=None):
            try:
                s = connect(port)
            except OSError as error:
                return refused(error)
            if barrier is not None:
                barrier.wait(10)
            try:
                if pause or rest is not None:
                    half = len(body) // 2
                    s.sendall(chunk_head(path, index, total, len(body)) + body[:half])
                    if rest is not None:
                        rest.wait(30)
                    else:
                        time.sleep(pause)
                    if not select.select([s], [], [], 0)[0]:
                        s.sendall(body[half:])
                else:
                    s.sendall(chunk_head(path, index, total, len(body)) + body)
            except OSError:
                pass
            answer = read_answer(s)
            s.close()
            return answer


        def busy(answer):
            return answer["status"] == 409 and answer["type"] == "chunk-busy"


        # `first` is an attempt's answer; while it is 409 chunk-busy, the chunk is sent
        # again, as a client should. Every answer, in order.
        def retrying_busy(port, path, index, total, body, first):
            answers = [first]
            while busy(answers[-1]) and len(answers) < 1000:
                time.sleep(0.002)
                answers.append(put_chunk(port, path, index, total, body))
            return answers


        def create(port, size, chunk=CHUNK):
            answer = request(port, "POST", "/uploads", {"Upload-Length": str(size), "Upload-Chunk-Size": str(chunk)})
            assert answer["status"] == 201, lean(answer)
            return answer["headers"]["location"]


        def upload_id(path):
            return path.rsplit("/", 1)[1]


        def chunks_of(source):
            return [source[i:i + CHUNK] for i in range(0, len(source), CHUNK)]


        def repr_digest(source):
            return "sha-256=:" + base64.b64encode(hashlib.sha256(source).digest()).decode() + ":"


        def complete(port, path, source):
            return request(port, "POST", path + "/complete", {"Repr-Digest": repr_digest(source)})


        # Runs each (function, arguments...) on a thread of its own; their results, in order.
        def in_parallel(*calls):
            results = [None] * len(calls)

            def run(position, call):
                results[position] = call[0](*call[1:])

            threads = [threading.Thread(target=run, args=(position, call)) for position, call in enumerate(calls)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            return results


        # Every chunk of `source` at once, chunk i through server (i + shift) % 2.
        def put_all(path, source, shift=0):
            parts = chunks_of(source)
            return in_parallel(*[(put_chunk, PORTS[(i + shift) % 2], path, i, len(source), part) for i, part in enumerate(parts)])


        # The offline audit: `uploadverify audit`, a process of its own on the same directory.
        def start_audit(*ids):
            return subprocess.Popen([BINARY, "audit", "--data-dir", DATA, "--json", *ids], stdout=subprocess.PIPE, stderr=subprocess.PIPE)


        def finish_audit(process):
            stdout, stderr = process.communicate(timeout=120)
            return {"exit": process.returncode, "report": json.loads(stdout) if stdout.strip() else {}, "stderr": stderr.decode(errors="replace")}


        def audit(*ids):
            return finish_audit(start_audit(*ids))


        def open_map(upload):
            return os.open(os.path.join(DATA, upload + ".chunkmap"), os.O_RDONLY)


        # Who holds the upload's `.upload` lock (the chunk map's status record, bytes
        # 128..<192, see ChunkMapLocks.swift), asked with F_OFD_GETLK: "exclusive"
        # (complete, audit, delete), "shared" (chunk writers) or None.
        def upload_lock_holder(fd):
            query = struct.pack("hhxxxxqqixxxx", fcntl.F_WRLCK, os.SEEK_SET, 128, 64, 0)
            kind = struct.unpack("hhxxxxqqixxxx", fcntl.fcntl(fd, fcntl.F_OFD_GETLK, query))[0]
            return {fcntl.F_WRLCK: "exclusive", fcntl.F_RDLCK: "shared"}.get(kind)


        # Spins until the `.upload` lock is held `kind`; False if `process` ended or 10 s passed first.
        def wait_for_holder(fd, kind, process=None, timeout=10):
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if upload_lock_holder(fd) == kind:
                    return True
                if process is not None and process.poll() is not None:
                    return False
            return False


        def descriptors(pid):
            return len(os.listdir(f"/proc/{pid}/fd"))


        # What the tests look at in an answer.
        def lean(answer):
            doc = answer.get("doc") or {}
            kept = {key: doc[key] for key in ("written", "xxh3", "state", "sha256", "index", "corrupt", "missing") if key in doc}
            return {"status": answer["status"], "type": answer["type"], **kept}
        """#

    static let alternately = #"""
        rounds = []
        for r in range(ROUNDS):
            source = os.urandom(4 * CHUNK - 1234)
            path = create(PORTS[r % 2], len(source))
            puts = put_all(path, source, shift=r)
            done = complete(PORTS[(r + 1) % 2], path, source)
            data = request(PORTS[r % 2], "GET", path + "/data")
            rounds.append({"id": upload_id(path), "sha256": hashlib.sha256(source).hexdigest(), "puts": [lean(a) for a in puts],
                           "complete": lean(done), "dataStatus": data["status"], "dataSHA256": hashlib.sha256(data["body"]).hexdigest()})
        print(json.dumps({"rounds": rounds}))
        """#

    static let sameBytes = #"""
        # Both servers get the chunk at once; a pause mid-body (in two of three rounds) widens the overlap.
        PAUSES = [0, 0.005, 0.02]
        rounds = []
        for r in range(ROUNDS):
            size = 3 * CHUNK - 100
            path = create(PORTS[r % 2], size)
            index = r % 3
            body = os.urandom(CHUNK if index < 2 else CHUNK - 100)
            go = threading.Barrier(2)
            pause = PAUSES[(r // 3) % 3]
            first = in_parallel(*[(put_chunk, PORTS[side], path, index, size, body, go, pause) for side in (0, 1)])
            sides = in_parallel(*[(retrying_busy, PORTS[side], path, index, size, body, first[side]) for side in (0, 1)])
            rounds.append({"id": upload_id(path), "index": index, "sha256": hashlib.sha256(body).hexdigest(),
                           "answers": [[lean(a) for a in side] for side in sides]})
        print(json.dumps({"rounds": rounds}))
        """#

    static let differentBytes = #"""
        PAUSES = [0, 0.005, 0.02]
        rounds = []
        for r in range(ROUNDS):
            size = 3 * CHUNK - 100
            path = create(PORTS[r % 2], size)
            index = r % 3
            length = CHUNK if index < 2 else CHUNK - 100
            bodies = [os.urandom(length), os.urandom(length)]
            go = threading.Barrier(2)
            pause = PAUSES[(r // 3) % 3]
            first = in_parallel(*[(put_chunk, PORTS[side], path, index, size, bodies[side], go, pause) for side in (0, 1)])
            # No retries, except of a loser told chunk-busy: until it is answered otherwise.
            retried = [retrying_busy(PORTS[side], path, index, size, bodies[side], first[side])[1:] for side in (0, 1)]
            rounds.append({"id": upload_id(path), "index": index, "sha256": [hashlib.sha256(b).hexdigest() for b in bodies],
                           "first": [lean(a) for a in first], "retried": [[lean(a) for a in side] for side in retried]})
        print(json.dumps({"rounds": rounds}))
        """#

    static let completeAgainstAudit = #"""
        CHUNKS = 8
        rounds = []
        for r in range(ROUNDS):
            source = os.urandom(CHUNKS * CHUNK - 5)
            path = create(PORTS[r % 2], len(source))
            upload = upload_id(path)
            puts = put_all(path, source, shift=r)
            port = PORTS[(r + 1) % 2]
            fd = open_map(upload)
            order = ["audit-first", "complete-first", "together"][r % 3]
            record = {"id": upload, "sha256": hashlib.sha256(source).hexdigest(), "order": order, "puts": [lean(a) for a in puts]}
            if order == "audit-first":
                # The complete is sent once the audit is seen holding the upload.
                auditor = start_audit(upload)
                record["auditHeldFirst"] = wait_for_holder(fd, "exclusive", auditor)
                done = complete(port, path, source)
            elif order == "complete-first":
                results = {}
                thread = threading.Thread(target=lambda: results.update(done=complete(port, path, source)))
                thread.start()
                time.sleep(random.uniform(0, 0.01))
                auditor = start_audit(upload)
                thread.join()
                done = results["done"]
            else:
                auditor = start_audit(upload)
                time.sleep(random.uniform(0, 0.05))
                done = complete(port, path, source)
            record["audit"] = finish_audit(auditor)
            os.close(fd)
            record["complete"] = lean(done)
            record["status"] = lean(request(PORTS[r % 2], "GET", path))
            rounds.append(record)
        print(json.dumps({"rounds": rounds}))
        """#

    static let repairAgainstAudit = #"""
        CHUNKS = 8
        uploads = []
        for r in range(ROUNDS):
            source = os.urandom(CHUNKS * CHUNK - 999)
            path = create(PORTS[r % 2], len(source))
            puts = put_all(path, source, shift=r)
            assert all(a["status"] == 200 for a in puts), [lean(a) for a in puts]
            done = complete(PORTS[(r + 1) % 2], path, source)
            assert done["status"] == 200, lean(done)
            uploads.append({"path": path, "id": upload_id(path), "source": source, "index": r % CHUNKS})
        # Every upload gets one chunk damaged at rest; one audit of the directory marks them.
        for upload in uploads:
            with open(os.path.join(DATA, upload["id"]), "r+b") as data:
                data.seek(upload["index"] * CHUNK + 100)
                data.write(os.urandom(64))
        damage = audit()

        rounds = []
        for r, upload in enumerate(uploads):
            path, source, index = upload["path"], upload["source"], upload["index"]
            good = chunks_of(source)[index]
            port = PORTS[r % 2]
            fd = open_map(upload["id"])
            order = ["audit-first", "repair-first", "together"][r % 3]
            record = {"id": upload["id"], "index": index, "sha256": hashlib.sha256(source).hexdigest(), "order": order}
            if order == "audit-first":
                # The audit holds the upload and reads the damaged chunk; the repair is sent meanwhile.
                auditor = start_audit(upload["id"])
                record["auditHeldFirst"] = wait_for_holder(fd, "exclusive", auditor)
                s = connect(port)
                s.sendall(chunk_head(path, index, len(source), len(good)) + good)
                # Only an audit (or a complete, not sent yet) holds it exclusively: the repair is waiting for the audit.
                record["repairSentWhileAuditHeld"] = upload_lock_holder(fd) == "exclusive"
                put = read_answer(s)
                s.close()
            elif order == "repair-first":
                # The repair is mid-body, holding its writer's lock, when the audit starts.
                rest = threading.Event()
                results = {}
                thread = threading.Thread(target=lambda: results.update(put=put_chunk(port, path, index, len(source), good, rest=rest)))
                thread.start()
                record["writerHeldFirst"] = wait_for_holder(fd, "shared")
                auditor = start_audit(upload["id"])
                time.sleep(0.05)
                record["auditWaitedForWriter"] = auditor.poll() is None and upload_lock_holder(fd) == "shared"
                rest.set()
                thread.join()
                put = results["put"]
            else:
                auditor = start_audit(upload["id"])
                time.sleep(random.uniform(0, 0.05))
                put = put_chunk(port, path, index, len(source), good)
            # A complete refused (say, while the audit held the upload) is tried once more.
            completes = [complete(port, path, source)]
            if completes[0]["status"] != 200:
                completes.append(complete(port, path, source))
            record["audit"] = finish_audit(auditor)
            os.close(fd)
            record["put"] = lean(put)
            record["completes"] = [lean(a) for a in completes]
            rounds.append(record)
        print(json.dumps({"damageAudit": damage, "rounds": rounds, "finalAudit": audit()}))
        """#

    static let deleteAgainstWrites = #"""
        CHUNKS = 6


        def one_round(r):
            source = os.urandom(CHUNKS * CHUNK)
            size = len(source)
            parts = chunks_of(source)
            path = create(PORTS[r % 2], size)
            upload = upload_id(path)
            fd = open_map(upload)
            rest = threading.Event()
            slow, late, deleted = {}, {}, {}
            # Four writers, two through each server, stopped halfway through their bodies.
            writers = [threading.Thread(target=lambda i=i: slow.__setitem__(i, put_chunk(PORTS[i % 2], path, i, size, parts[i], rest=rest)))
                       for i in range(4)]
            for thread in writers:
                thread.start()
            writer_held = wait_for_holder(fd, "shared")
            time.sleep(0.01)
            deleter = threading.Thread(target=lambda: deleted.update(answer=request(PORTS[r % 2], "DELETE", path)))
            deleter.start()
            time.sleep(0.01)
            rest.set()
            # Two more writers, arriving while the delete waits or after it.
            time.sleep(random.uniform(0, 0.02))
            latecomers = [threading.Thread(target=lambda i=i: late.__setitem__(i, put_chunk(PORTS[i % 2], path, i, size, parts[i])))
                          for i in (4, 5)]
            for thread in latecomers:
                thread.start()
            for thread in writers + latecomers + [deleter]:
                thread.join()
            os.close(fd)
            return {"id": upload, "writerHeld": writer_held, "delete": lean(deleted["answer"]),
                    "slow": [lean(slow[i]) for i in range(4)], "late": [lean(late[i]) for i in (4, 5)]}


        # Back to (at most) the count before, within 5 s.
        def settled_descriptors(baseline):
            deadline = time.monotonic() + 5
            while True:
                counts = [descriptors(pid) for pid in PIDS]
                if all(count <= base for count, base in zip(counts, baseline)) or time.monotonic() > deadline:
                    return counts


        one_round(0)  # a warm-up: what a first request opens for good is not a leak
        time.sleep(0.2)
        baseline = [descriptors(pid) for pid in PIDS]
        rounds = []
        for r in range(ROUNDS):
            record = one_round(r)
            record["descriptors"] = settled_descriptors(baseline)
            record["left"] = sorted(name for name in os.listdir(DATA) if name.startswith(record["id"]))
            rounds.append(record)
        print(json.dumps({"baseline": baseline, "rounds": rounds}))
        """#

    static let killClient = #"""
        # The second client of the kill test: every chunk, last to first, through one
        # server, each body in two halves; one line per chunk in LOG; stops once its
        # server is gone.
        path, size, port = P["path"], P["size"], PORTS[P["through"]]
        with open(P["source"], "rb") as file:
            parts = chunks_of(file.read())
        with open(P["log"], "a") as log:
            for index in reversed(range(len(parts))):
                answers = retrying_busy(port, path, index, size, parts[index], put_chunk(port, path, index, size, parts[index], pause=0.002))
                last = lean(answers[-1])
                log.write(f"{index} {last['status']} {last['type'] or '-'} {last.get('written')}\n")
                log.flush()
                if last["status"] == 0:
                    break
        """#
}
