import Foundation
import Testing
import UploadKit

/// `serve --tls-cert --tls-key` with a certificate the test makes (its own
/// CA, a server certificate for 127.0.0.1), and clients that trust it only
/// through `--ca-file`.
@Suite(.serialized) struct TLSTests {
    /// A CA and a server certificate signed by it, made with the openssl command.
    struct Certificates {
        let ca: String
        let certificate: String
        let key: String

        init(in workspace: Workspace) throws {
            ca = workspace.path("ca.pem")
            certificate = workspace.path("server.pem")
            key = workspace.path("server.key")
            let caKey = workspace.path("ca.key")
            let request = workspace.path("server.csr")
            let extensions = try workspace.write(Array("subjectAltName=IP:127.0.0.1,DNS:localhost\n".utf8), to: "san.ext")
            try openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", caKey, "-out", ca, "-days", "2", "-subj", "/CN=uploadverify test CA"])
            try openssl(["req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", request, "-subj", "/CN=127.0.0.1"])
            try openssl([
                "x509", "-req", "-in", request, "-CA", ca, "-CAkey", caKey, "-CAcreateserial", "-out", certificate, "-days", "2", "-extfile", extensions,
            ])
        }

        private func openssl(_ arguments: [String]) throws {
            let result = try Subprocess.run("openssl", arguments)
            try #require(result.status == 0, "openssl \(arguments.joined(separator: " ")): \(result.stderr)")
        }
    }

    func tlsServer(_ workspace: Workspace) throws -> (ServerProcess, Certificates) {
        let certificates = try Certificates(in: workspace)
        let server = try ServerProcess(
            dataDirectory: workspace.url.appendingPathComponent("uploads"),
            arguments: ["--tls-cert", certificates.certificate, "--tls-key", certificates.key, "--no-fsync"])
        return (server, certificates)
    }

    @Test func anUploadOverTLSTrustingTheGivenCAConfirmsItsSHA256() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        let (server, certificates) = try tlsServer(workspace)
        let bytes = (0..<(5 * 65_536 + 99)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        let file = try workspace.write(bytes, to: "f")
        let base = "https://127.0.0.1:\(server.port)"
        let result = try UploadVerifyBinary.run(
            ["upload", file, "--server", base, "--ca-file", certificates.ca, "--chunk-size", "64KiB", "--json"],
            environment: ["XDG_CACHE_HOME": workspace.path("cache")])
        #expect(result.status == 0, "\(result.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(report["sha256"] as? String == SHA256Hasher.hash(bytes).description)
        #expect((report["url"] as? String)?.hasPrefix(base + "/uploads/") == true)
        let status = try UploadVerifyBinary.run(["status", try #require(report["url"] as? String), "--ca-file", certificates.ca])
        #expect(status.status == 0, "\(status.stderr)")
    }

    @Test func aClientThatDoesNotTrustTheCertificateRefusesToSendAnything() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        let (server, _) = try tlsServer(workspace)
        let file = try workspace.write(Array(repeating: 7, count: 1000), to: "f")
        let result = try UploadVerifyBinary.run(
            ["upload", file, "--server", "https://127.0.0.1:\(server.port)"], environment: ["XDG_CACHE_HOME": workspace.path("cache")])
        expectOneLineError(result, status: 3, mentioning: "certificate is not trusted; pass --ca-file")
        let uploads = try FileManager.default.contentsOfDirectory(atPath: workspace.path("uploads"))
        #expect(uploads.isEmpty, "nothing was created: \(uploads)")
    }

    @Test func plainHTTPToTheTLSPortGetsNoAnswerAndTheServerKeepsServing() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        let (server, certificates) = try tlsServer(workspace)
        let plain = try UploadVerifyBinary.run(["status", "http://127.0.0.1:\(server.port)/uploads/0123456789abcdef0123456789abcdef"])
        #expect(plain.status == 3)
        let again = try UploadVerifyBinary.run(
            ["status", "https://127.0.0.1:\(server.port)/uploads/0123456789abcdef0123456789abcdef", "--ca-file", certificates.ca])
        expectOneLineError(again, status: 3, mentioning: "404")
    }
}
