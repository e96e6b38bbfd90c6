import Foundation

/// Runs a Python snippet as a misbehaving client, with `PORT`, `PATH_` and
/// `SERVER_PID` set; returns its stdout. Python's socket module does what
/// no well-behaved HTTP client will: half-closes, resets, drips bytes.
func python(_ code: String, port: Int, path: String = "", serverPID: Int32 = 0) throws -> String {
    let result = try Subprocess.run("python3", ["-c", "PORT = \(port)\nPATH_ = '\(path)'\nSERVER_PID = \(serverPID)\n" + code])
    return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
}
