import Testing

@Suite struct CommandLineTests {
    @Test func helpListsEveryCommandOfTheContract() throws {
        let result = try UploadVerifyBinary.run(["--help"])
        #expect(result.status == 0)
        for command in ["serve", "upload", "status", "map", "diff", "verify", "audit", "repair"] {
            #expect(result.stdout.contains("  \(command) "), "help lists \(command)")
        }
    }

    @Test func tlsIsNotBuiltYetAndSaysSo() throws {
        expectOneLineError(try UploadVerifyBinary.run(["serve", "--tls-cert", "c.pem", "--tls-key", "k.pem"]), status: 2, mentioning: "not built yet")
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
