import ArgumentParser

extension UploadVerify {
    struct MapCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "map",
            abstract: "Write a file's chunk map (map FILE), or print one (map show FILE.chunkmap).",
            subcommands: [MapCreate.self, MapShow.self],
            defaultSubcommand: MapCreate.self
        )
    }
}
