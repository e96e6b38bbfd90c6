import Foundation
import Testing

/// Clients that misbehave on the wire, driven by small Python socket scripts.
@Suite(.serialized) struct SlowClientTests {
    @Test func aChunkBodyDrippingInIsCutOffByItsDeadlineAndStaysMissing() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        let server = try ServerProcess(
            dataDirectory: workspace.url.appendingPathComponent("uploads"),
            arguments: ["--no-fsync", "--chunk-timeout", "1s", "--min-chunk-rate", "1MiB"])
        let created = try Curl.request("POST", server.base + "/uploads", headers: ["Upload-Length": "65536", "Upload-Chunk-Size": "65536"])
        let path = try #require(created.headers["location"])
        // One byte every 0.2 s, for at most 20 s: the server must close well before.
        let seconds = try python(
            """
            import socket, time
            s = socket.create_connection(("127.0.0.1", PORT))
            s.sendall(f"PUT {PATH_} HTTP/1.1\\r\\nHost: x\\r\\nContent-Range: bytes 0-65535/65536\\r\\nContent-Length: 65536\\r\\n\\r\\n".encode())
            start = time.time()
            s.settimeout(0.2)
            closed = False
            while time.time() - start < 20 and not closed:
                try:
                    s.sendall(b"x")
                    data = s.recv(65536)
                    closed = data == b""
                except socket.timeout:
                    pass
                except OSError:
                    closed = True
            print(round(time.time() - start, 1) if closed else "never")
            """, port: server.port, path: path)
        let elapsed = try #require(Double(seconds), "the server never closed a drip-fed chunk")
        #expect(elapsed < 6)
        let status = try json(String(decoding: try Curl.request("GET", server.base + path).body, as: UTF8.self))
        #expect(status["receivedChunks"] as? Int == 0)
        #expect(try Curl.request("GET", server.base + "/healthz").status == 200)
    }

    @Test func oversizedHeadersAreRefusedAndTheServerKeepsServing() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        let server = try ServerProcess(dataDirectory: workspace.url.appendingPathComponent("uploads"), arguments: ["--no-fsync"])
        let answer = try python(
            """
            import socket
            s = socket.create_connection(("127.0.0.1", PORT))
            s.settimeout(5)
            try:
                s.sendall(b"GET /healthz HTTP/1.1\\r\\nHost: x\\r\\nX-Big: " + b"a" * 200000 + b"\\r\\n\\r\\n")
            except OSError:
                pass
            try:
                print(s.recv(100).split(b"\\r\\n")[0].decode())
            except OSError as e:
                print("closed")
            """, port: server.port)
        #expect(answer.hasPrefix("HTTP/1.1 4") || answer == "closed", "answer: \(answer)")
        #expect(try Curl.request("GET", server.base + "/healthz").status == 200)
    }

    @Test func aClientThatResetsMidChunkLeavesTheChunkMissingAndTheServerServing() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        let server = try ServerProcess(dataDirectory: workspace.url.appendingPathComponent("uploads"), arguments: ["--no-fsync"])
        let created = try Curl.request("POST", server.base + "/uploads", headers: ["Upload-Length": "131072", "Upload-Chunk-Size": "65536"])
        let path = try #require(created.headers["location"])
        let before = server.openDescriptors
        for mode in ["half-close", "reset"] {
            _ = try python(
                """
                import socket, struct
                for _ in range(20):
                    s = socket.create_connection(("127.0.0.1", PORT))
                    s.sendall(f"PUT {PATH_} HTTP/1.1\\r\\nHost: x\\r\\nContent-Range: bytes 0-65535/131072\\r\\nContent-Length: 65536\\r\\n\\r\\n".encode() + b"y" * 30000)
                    if "\(mode)" == "reset":
                        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    else:
                        s.shutdown(socket.SHUT_WR)
                        s.settimeout(5)
                        try:
                            s.recv(1000)
                        except OSError:
                            pass
                    s.close()
                """, port: server.port, path: path)
        }
        Thread.sleep(forTimeInterval: 0.5)
        let status = try json(String(decoding: try Curl.request("GET", server.base + path).body, as: UTF8.self))
        #expect(status["receivedChunks"] as? Int == 0)
        #expect(server.openDescriptors <= before + 4, "descriptors before \(before), after \(server.openDescriptors)")
        #expect(try Curl.request("GET", server.base + "/healthz").status == 200)
    }
}
