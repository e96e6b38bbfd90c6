import ArgumentParser

/// The man page (roff, section 1), made from the commands' own
/// configurations and help text, so that the page and `--help` never
/// disagree: NAME and DESCRIPTION from the root, one `.SS` per command
/// (its abstract, its discussion, then its usage and options as `--help`
/// prints them), and the exit codes.
enum ManualPage {
    /// A fixed width, so that the page is the same whatever terminal made it.
    static let helpColumns = 78

    static func render<Root: ParsableCommand>(_ root: Root.Type) -> String {
        let name = Root._commandName
        let configuration = Root.configuration
        var lines = [
            ".TH \(name.uppercased()) 1 \"\" \"\(escape(name)) \(escape(configuration.version))\" \"User Commands\"",
            ".SH NAME",
            "\(escape(name)) \\- \(escape(configuration.abstract))",
            ".SH SYNOPSIS",
            ".B \(escape(name))",
            ".I command",
            "[\\fIoptions\\fR] [\\fIarguments\\fR]",
            ".br",
            ".B \(escape(name))",
            ".I command",
            "\\fB\\-\\-help\\fR",
            ".SH DESCRIPTION",
        ]
        lines += paragraphs(configuration.discussion)
        lines.append(".SH COMMANDS")
        for (path, command) in commands(under: root, path: [name]) {
            lines.append(".SS \"\(escape(path.joined(separator: " ")))\"")
            lines += paragraphs(command.configuration.abstract)
            lines += paragraphs(command.configuration.discussion)
            lines += preformatted(usageAndOptions(Root.helpMessage(for: command, includeHidden: false, columns: helpColumns)))
        }
        lines.append(".SH EXIT STATUS")
        for (status, meaning) in ExitStatus.documented {
            lines += [".TP", ".B \(status.rawValue)", escape(meaning)]
        }
        lines += [
            ".SH ENVIRONMENT",
            ".TP",
            ".B UPLOADVERIFY_TOKEN",
            "The bearer token, for the commands that talk to a server and for \\fBserve\\fR, when \\fB\\-\\-token\\fR is not given.",
            ".SH SEE ALSO",
            "docs/PROTOCOL.md in the source repository: the HTTP API, the files on disk and this command line, in full.",
        ]
        return lines.joined(separator: "\n") + "\n"
    }

    /// Every displayed command below `parent`, depth first, with the words
    /// that name it (`uploadverify map show`).
    static func commands(under parent: any ParsableCommand.Type, path: [String]) -> [(path: [String], command: any ParsableCommand.Type)] {
        parent.configuration.subcommands.filter { $0.configuration.shouldDisplay }.flatMap { command in
            let named = path + [command._commandName]
            return [(path: named, command: command)] + commands(under: command, path: named)
        }
    }

    /// `--help` from its USAGE line on: the overview and discussion before
    /// it are already in the page as text that fills.
    static func usageAndOptions(_ help: String) -> String {
        guard let usage = help.firstRange(of: "USAGE:") else { return help }
        return String(help[usage.lowerBound...])
    }

    /// Text to fill, one input line per source line; nothing for empty text.
    static func paragraphs(_ text: String) -> [String] {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { line in line.drop(while: { $0 == " " }) }
        guard lines.contains(where: { !$0.isEmpty }) else { return [] }
        return [".PP"] + lines.map { $0.isEmpty ? ".PP" : protect(escape(String($0))) }
    }

    /// Text kept line for line, as `--help` lays it out.
    static func preformatted(_ text: String) -> [String] {
        var trimmed = Substring(text)
        while trimmed.last == "\n" { trimmed.removeLast() }
        let body = trimmed.split(separator: "\n", omittingEmptySubsequences: false).map { $0.isEmpty ? ".sp" : protect(escape(String($0))) }
        return [".PP", ".nf"] + body + [".fi"]
    }

    /// roff's escape character and the minus sign (a bare `-` may print as a
    /// hyphen, which breaks options pasted from the page).
    static func escape(_ text: String) -> String {
        var escaped = ""
        for character in text {
            switch character {
            case "\\": escaped += "\\e"
            case "-": escaped += "\\-"
            default: escaped.append(character)
            }
        }
        return escaped
    }

    /// A line that starts with `.` or `'` would be read as a request.
    static func protect(_ line: String) -> String {
        line.hasPrefix(".") || line.hasPrefix("'") ? "\\&" + line : line
    }
}
