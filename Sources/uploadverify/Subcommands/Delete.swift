import ArgumentParser
import UploadKit

extension UploadVerify {
    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete an upload from its server: its data file and its chunk map.",
            discussion: """
                The server first waits for the upload's writes in flight to end. Prints 'deleted URL'. \
                An upload that does not exist (or was already deleted) is an error, exit 3.
                """
        )

        @Argument(help: "The upload URL, http://HOST:PORT/uploads/ID.")
        var url: String

        @OptionGroup var access: ServerAccess

        func run() async throws {
            let upload = try UploadURL(parsing: url)
            try await access.makeClient().using { client in try await client.delete(upload) }
            Terminal.standardOutput.writeLine("deleted \(upload)")
        }
    }
}
