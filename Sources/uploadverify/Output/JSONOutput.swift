import Foundation
import UploadKit

/// Prints one JSON object on stdout: what `--json` promises.
enum JSONOutput {
    static func print<T: Encodable>(_ value: T) throws {
        let data = try JSONCoding.encode(value)
        Terminal.standardOutput.writeLine(String(decoding: data, as: UTF8.self))
    }

    /// One object as a line of text, for the commands over many files that
    /// print a line per file as it ends (their objects hold only strings,
    /// numbers and booleans, which always encode).
    static func line<T: Encodable>(_ value: T) -> String {
        (try? JSONCoding.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }
}
