import ArgumentParser
import UploadKit

extension UploadVerify {
    struct ListUploads: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list",
            abstract: "List a server's uploads: id, state, size, verified of total chunks, URL.",
            discussion: """
                Follows the server's pages (GET /uploads) to the end, or until --limit uploads are printed, \
                in id order. One tab-separated line per upload; an upload whose chunk map the server cannot \
                read shows as unreadable, with the reason after its URL. Nothing is printed when there are none.
                """
        )

        @Argument(help: "The server, e.g. http://127.0.0.1:8080.")
        var server: String

        @Option(help: "Only uploads in this state: receiving, complete, damaged or unreadable.")
        var state: String?

        @Option(help: "Print at most this many uploads (default: all).")
        var limit: Int?

        @Option(name: .customLong("page-size"), help: "Uploads asked for per request, 1 to 1000.")
        var pageSize = 100

        @Flag(help: "Print one JSON object per line, as GET /uploads gives each upload, with its URL absolute.")
        var json = false

        @OptionGroup var access: ServerAccess

        func run() async throws {
            let base = try UploadURL.server(server)
            let wanted = try state.map { text in
                guard let parsed = ListedState(rawValue: text) else {
                    throw CommandFailure.badInput(
                        "--state '\(text)' is none of " + ListedState.allCases.map(\.rawValue).joined(separator: ", "))
                }
                return parsed
            }
            guard (1...1000).contains(pageSize) else { throw CommandFailure.badInput("--page-size must be from 1 to 1000") }
            if let limit, limit < 1 { throw CommandFailure.badInput("--limit must be at least 1") }
            try await access.makeClient().using { client in
                try await printPages(from: client, server: base, state: wanted)
            }
        }

        /// Prints each page as it arrives, so that a long listing holds one page at a time.
        private func printPages(from client: UploadClient, server: String, state: ListedState?) async throws {
            var printed = 0
            var cursor: String?
            repeat {
                let pageLimit = limit.map { min(pageSize, $0 - printed) } ?? pageSize
                let page = try await client.listUploads(server: server, state: state, limit: pageLimit, cursor: cursor)
                for entry in page.uploads.prefix(pageLimit) {
                    try show(entry.resolved(against: server))
                    printed += 1
                }
                // A server that hands back the same cursor, or an empty page
                // with a next one, would keep this loop going for ever.
                if let next = page.next, next == cursor || page.uploads.isEmpty {
                    throw ClientError.badAnswer("GET /uploads does not move on: after '\(cursor ?? "the start")' its next page is '\(next)'")
                }
                cursor = page.next
            } while cursor != nil && printed < (limit ?? Int.max)
        }

        private func show(_ entry: UploadListEntry) throws {
            if json {
                try JSONOutput.print(entry)
                return
            }
            let chunks = entry.receivedChunks.map(String.init) ?? "-"
            let total = entry.chunkCount.map(String.init) ?? "-"
            var fields = [entry.id, entry.state, entry.size.map(String.init) ?? "-", "\(chunks)/\(total)", entry.url]
            if let reason = entry.reason { fields.append(reason) }
            Terminal.standardOutput.writeLine(fields.joined(separator: "\t"))
        }
    }
}
