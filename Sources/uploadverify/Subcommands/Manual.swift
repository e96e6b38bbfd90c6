import ArgumentParser

extension UploadVerify {
    struct Manual: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the manual page (roff, section 1), made from every command's help.",
            discussion: """
                Install it with uploadverify manual > /usr/local/share/man/man1/uploadverify.1, \
                then read it with man uploadverify (or man ./uploadverify.1 without installing).
                """
        )

        func run() throws {
            Terminal.standardOutput.write(ManualPage.render(UploadVerify.self))
        }
    }
}
