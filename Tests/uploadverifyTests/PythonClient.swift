import Foundation

/// Runs a Python snippet as a misbehaving client, with `PORT`, `PATH_` and
/// `SERVER_PID` set; returns its stdout. Python's socket module does what
/// no well-behaved HTTP client will: half-closes, resets, drips bytes.
func python(_ code: String, port: Int, path: String = "", serverPID: Int32 = 0) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3", "-c", "PORT = \(port)\nPATH_ = '\(path)'\nSERVER_PID = \(serverPID)\n" + code]
    let out = Pipe()
    process.standardOutput = out
    try process.run()
    let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    return text.trimmingCharacters(in: .whitespacesAndNewlines)
}
