import Testing

@Suite struct CommandLineTests {
    @Test func helpListsEveryCommandOfTheContract() throws {
        let result = try UploadVerifyBinary.run(["--help"])
        #expect(result.status == 0)
        for command in ["serve", "upload", "status", "map", "diff", "verify", "audit", "repair"] {
            #expect(result.stdout.contains("  \(command) "), "help lists \(command)")
        }
    }

    @Test func aTLSCertificateWithoutItsKeyIsAUsageError() throws {
        expectOneLineError(try UploadVerifyBinary.run(["serve", "--tls-cert", "c.pem"]), status: 2, mentioning: "go together")
    }

    @Test func aTLSCertificateThatIsNotPEMIsRefusedNamingTheFile() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        let notPEM = try workspace.write(Array("hello".utf8), to: "cert.pem")
        let result = try UploadVerifyBinary.run(
            ["serve", "--tls-cert", notPEM, "--tls-key", notPEM, "--port", "0", "--data-dir", workspace.path("d")])
        expectOneLineError(result, status: 2, mentioning: "cert.pem is not a PEM certificate chain")
    }

    @Test func anUnknownCrashPointIsRefusedNamingTheKnownOnes() throws {
        let result = try UploadVerifyBinary.run(
            ["serve", "--port", "0", "--data-dir", "/nonexistent/never-created"], environment: ["UPLOADVERIFY_CRASH_AT": "after-lunch"])
        expectOneLineError(result, status: 2, mentioning: "after-data-write, after-data-sync, after-map-entry, before-response")
    }

    @Test func aUsageErrorExits2Not64() throws {
        #expect(try UploadVerifyBinary.run(["verify"]).status == 2)
        #expect(try UploadVerifyBinary.run(["frobnicate"]).status == 2)
        #expect(try UploadVerifyBinary.run(["map", "x", "--no-such-flag"]).status == 2)
    }

    @Test func verifyOfAnUploadOnAServerThatIsDownIsAnIOError() throws {
        expectOneLineError(
            try UploadVerifyBinary.run(["verify", "http://127.0.0.1:9/uploads/0123456789abcdef0123456789abcdef"]), status: 3, mentioning: "cannot reach")
    }
}
