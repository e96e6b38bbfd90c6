import Foundation

/// Prints one JSON object on stdout: what `--json` promises.
enum JSONOutput {
    static func print<T: Encodable>(_ value: T) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes, .sortedKeys]
        let data = try encoder.encode(value)
        Terminal.standardOutput.writeLine(String(decoding: data, as: UTF8.self))
    }
}
