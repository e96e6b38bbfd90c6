import Foundation
import Testing
import UploadKit

/// `uploadverify serve`, run as a user runs it, driven with curl.
@Suite(.serialized) struct ServeCommandTests {
    static let chunk = 65_536

    /// Writes each chunk of `bytes` to its own file, for curl to send.
    func chunkFiles(_ bytes: [UInt8], in workspace: Workspace) throws -> [String] {
        stride(from: 0, to: bytes.count, by: Self.chunk).enumerated().map { index, offset in
            try! workspace.write(Array(bytes[offset..<min(offset + Self.chunk, bytes.count)]), to: "part\(index)")
        }
    }

    func create(_ server: ServerProcess, size: Int) throws -> String {
        let created = try Curl.request("POST", server.base + "/uploads", headers: ["Upload-Length": "\(size)", "Upload-Chunk-Size": "\(Self.chunk)"])
        #expect(created.status == 201)
        return server.base + (created.headers["location"] ?? "/missing-location")
    }

    func put(_ url: String, index: Int, size: Int, file: String) throws -> HTTPResult {
        let first = index * Self.chunk
        let last = min(first + Self.chunk, size) - 1
        return try Curl.request("PUT", url, headers: ["Content-Range": "bytes \(first)-\(last)/\(size)"], bodyFile: file)
    }

    static func reprDigest(_ bytes: [UInt8]) -> String {
        "sha-256=:\(Data(SHA256Hasher.hash(bytes).bytes).base64EncodedString()):"
    }

    @Test func anUploadByHandWithCurlCompletesWithItsSHA256() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        let server = try ServerProcess(dataDirectory: workspace.url.appendingPathComponent("uploads"))
        let bytes = [UInt8](try Data(contentsOf: Workspace.fixtures.appendingPathComponent("several-chunks.bin")))
        let parts = try chunkFiles(bytes, in: workspace)
        let url = try create(server, size: bytes.count)
        for index in [3, 0, 4, 1, 2] {
            #expect(try put(url, index: index, size: bytes.count, file: parts[index]).status == 200)
        }
        let completed = try Curl.request("POST", url + "/complete", headers: ["Repr-Digest": Self.reprDigest(bytes)])
        #expect(completed.status == 200)
        #expect(completed.headers["repr-digest"] == Self.reprDigest(bytes))
        let downloaded = try Curl.request("GET", url + "/data")
        #expect(downloaded.body == Data(bytes))
        #expect(server.terminate() == 0)
    }

    @Test func afterKill9EveryChunkTheHandshakeCallsVerifiedHoldsItsBytes() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        let directory = workspace.url.appendingPathComponent("uploads")
        let chunks = 48
        let bytes = pseudoRandom(chunks * Self.chunk)
        let parts = try chunkFiles(bytes, in: workspace)
        var server = try ServerProcess(dataDirectory: directory)
        let path = URL(string: try create(server, size: bytes.count))!.path
        var checked = 0
        for round in 0..<3 {
            // Four curl loops send every chunk, in different orders, while the server is killed.
            let senders = try (0..<4).map { sender -> Process in
                let order = (0..<chunks).shuffled().map { index -> String in
                    let first = index * Self.chunk
                    return
                        "curl -s -o /dev/null -X PUT http://127.0.0.1:\(server.port)\(path) -H 'Content-Range: bytes \(first)-\(first + Self.chunk - 1)/\(bytes.count)' --data-binary @\(parts[index])"
                }
                return try Subprocess.start("/bin/bash", ["-c", order.joined(separator: "; ")])
            }
            Thread.sleep(forTimeInterval: Double.random(in: 0.05...0.4))
            server.kill9()
            senders.forEach { $0.waitUntilExit() }
            server = try ServerProcess(dataDirectory: directory)
            let map = try json(String(decoding: try Curl.request("GET", server.base + path + "/chunks").body, as: UTF8.self))
            let entries = try #require(map["chunks"] as? [[String: Any]])
            let data = [UInt8](try Data(contentsOf: directory.appendingPathComponent(URL(fileURLWithPath: path).lastPathComponent)))
            for entry in entries where entry["state"] as? String == "verified" {
                let index = try #require(entry["index"] as? Int)
                let range = index * Self.chunk..<(index + 1) * Self.chunk
                #expect(entry["xxh3"] as? String == XXH3Hasher.hash(Array(bytes[range])).description, "round \(round), chunk \(index): recorded digest")
                #expect(Array(data[range]) == Array(bytes[range]), "round \(round), chunk \(index): bytes on disk")
                checked += 1
            }
        }
        #expect(checked > 0, "some chunks were verified before a kill, so the check above checked something")
        // Resume: send what is missing, then complete.
        let map = try json(String(decoding: try Curl.request("GET", server.base + path + "/chunks").body, as: UTF8.self))
        for entry in try #require(map["chunks"] as? [[String: Any]]) where entry["state"] as? String != "verified" {
            let index = try #require(entry["index"] as? Int)
            #expect(try put(server.base + path, index: index, size: bytes.count, file: parts[index]).status == 200)
        }
        #expect(try Curl.request("POST", server.base + path + "/complete", headers: ["Repr-Digest": Self.reprDigest(bytes)]).status == 200)
    }

    @Test func openDescriptorsDoNotGrowOverThousandsOfRequestsFailuresIncluded() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        let server = try ServerProcess(dataDirectory: workspace.url.appendingPathComponent("uploads"), arguments: ["--no-fsync"])
        let bytes = pseudoRandom(2 * Self.chunk)
        let parts = try chunkFiles(bytes, in: workspace)
        let url = try create(server, size: bytes.count)
        #expect(try put(url, index: 0, size: bytes.count, file: parts[0]).status == 200)
        let before = server.openDescriptors
        // One curl process, many requests on one connection: good, duplicate,
        // misaligned, wrong digest, unknown upload, invalid id.
        var arguments = ["-s", "-o", "/dev/null", "-w", "%{http_code}\n"]
        let kinds: [[String]] = [
            ["-X", "PUT", url, "-H", "Content-Range: bytes 0-65535/\(bytes.count)", "--data-binary", "@\(parts[0])"],
            ["-X", "PUT", url, "-H", "Content-Range: bytes 1-65536/\(bytes.count)", "--data-binary", "@\(parts[0])"],
            [
                "-X", "PUT", url, "-H", "Content-Range: bytes 65536-131071/\(bytes.count)", "-H", "Content-Digest: xxh3=:AAAAAAAAAAA=:", "--data-binary",
                "@\(parts[1])",
            ],
            [
                "-X", "PUT", server.base + "/uploads/00000000000000000000000000000000", "-H", "Content-Range: bytes 0-65535/\(bytes.count)", "--data-binary",
                "@\(parts[0])",
            ],
            ["-X", "GET", server.base + "/uploads/..%2f..%2fetc%2fpasswd"],
            ["-I", url],
        ]
        for index in 0..<1200 {
            if index > 0 { arguments.append("--next") }
            arguments += ["-s", "-o", "/dev/null", "-w", "%{http_code}\n"] + kinds[index % kinds.count]
        }
        let codes = try Subprocess.run("/usr/bin/curl", arguments).stdout.split(separator: "\n")
        #expect(codes.count == 1200)
        #expect(Set(codes) == ["200", "416", "422", "404"])
        Thread.sleep(forTimeInterval: 0.5)
        #expect(server.openDescriptors <= before + 4, "descriptors before \(before), after \(server.openDescriptors)")
        #expect(try Curl.request("GET", server.base + "/healthz").status == 200)
    }

    @Test func sigtermStopsTheServerWithExitStatus0() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        let server = try ServerProcess(dataDirectory: workspace.url.appendingPathComponent("uploads"))
        #expect(try Curl.request("GET", server.base + "/healthz").status == 200)
        #expect(server.terminate() == 0)
    }

    func pseudoRandom(_ count: Int) -> [UInt8] {
        let handle = try! FileHandle(forReadingFrom: URL(fileURLWithPath: "/dev/urandom"))
        defer { try? handle.close() }
        return [UInt8](try! handle.read(upToCount: count) ?? Data())
    }
}
