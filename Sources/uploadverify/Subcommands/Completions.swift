import ArgumentParser

extension UploadVerify {
    struct Completions: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the shell completion script for bash, zsh or fish.",
            discussion: """
                Install it where the shell looks, e.g. \
                uploadverify completions bash > /etc/bash_completion.d/uploadverify, \
                uploadverify completions zsh > /usr/local/share/zsh/site-functions/_uploadverify, \
                uploadverify completions fish > ~/.config/fish/completions/uploadverify.fish.
                """
        )

        /// The shells argument-parser writes scripts for (its own type does
        /// not parse as an argument).
        enum Shell: String, ExpressibleByArgument, CaseIterable {
            case bash
            case zsh
            case fish

            var completionShell: CompletionShell {
                switch self {
                case .bash: .bash
                case .zsh: .zsh
                case .fish: .fish
                }
            }
        }

        @Argument(help: "bash, zsh or fish.")
        var shell: Shell

        func run() throws {
            // The whole command tree's, from the root: every subcommand and option completes.
            Terminal.standardOutput.write(UploadVerify.completionScript(for: shell.completionShell))
        }
    }
}
