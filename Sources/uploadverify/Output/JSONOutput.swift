import Foundation
import UploadKit

/// Prints one JSON object on stdout: what `--json` promises.
enum JSONOutput {
    static func print<T: Encodable>(_ value: T) throws {
        let data = try JSONCoding.encode(value)
        Terminal.standardOutput.writeLine(String(decoding: data, as: UTF8.self))
    }
}
