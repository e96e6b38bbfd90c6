import ArgumentParser

/// Commands of the contract that later work delivers. Each is listed in
/// `--help`, and says so and exits 2 when run.
enum NotBuiltYet {
    static func feature(_ what: String, comesWith: String) -> CommandFailure {
        .badInput("\(what) is not built yet: it comes with \(comesWith)")
    }
}

extension UploadVerify {


    struct Audit: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Scrub a server's data directory and mark corrupt chunks (not built yet).")
        @Argument(parsing: .captureForPassthrough) var arguments: [String] = []
        func run() async throws { throw NotBuiltYet.feature("'audit'", comesWith: "the client tools (issue 4)") }
    }

    struct Repair: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Move only the chunks where TARGET differs from SOURCE, then confirm the SHA-256 (not built yet).")
        @Argument(parsing: .captureForPassthrough) var arguments: [String] = []
        func run() async throws { throw NotBuiltYet.feature("'repair'", comesWith: "the client tools (issue 4)") }
    }
}
