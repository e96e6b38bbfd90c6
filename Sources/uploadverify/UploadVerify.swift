import ArgumentParser

@main
struct UploadVerify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "uploadverify",
        abstract: "Chunked uploads that survive bad networks and crashes, checked chunk by chunk (XXH3-64) and whole (SHA-256).",
        discussion: """
            TARGET and SOURCE are local paths or upload URLs (http://host:port/uploads/ID).
            Exit codes: 0 all verified; 1 an integrity problem found or left; \
            2 usage or bad input; 3 I/O, network or server error.
            """,
        version: "0.1.0",
        subcommands: [
            Serve.self, Upload.self, Download.self, Status.self, ListUploads.self, Delete.self, MapCommand.self, Diff.self, Verify.self, Audit.self,
            Repair.self, Completions.self, Manual.self,
        ]
    )

    /// Runs the command and maps every way out to the contract's exit codes
    /// (argument-parser alone would exit 64 on a usage error).
    static func main() async {
        MallocPolicy.keepFreedMemoryForReuse()
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            ExitStatus.exit(reporting: error)
        }
    }
}
