import Foundation
import UploadKit

/// What a program printed, and how it ended.
struct CommandResult {
    let status: Int32
    let stdoutBytes: Data
    let stderr: String

    var stdout: String { String(decoding: stdoutBytes, as: UTF8.self) }
}

/// Every program the end-to-end tests run (the built binary, curl, python3,
/// openssl, mount, fiu-ctrl, bash) starts here. A name without a slash is
/// looked up on PATH.
enum Subprocess {
    /// Runs `program` to its end and captures what it printed.
    static func run(
        _ program: String, _ arguments: [String], in directory: URL? = nil, environment: [String: String] = [:]
    ) throws -> CommandResult {
        let process = make(program, arguments, in: directory, environment: environment)
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        // stderr is drained beside stdout, so a chatty program never blocks on a full pipe.
        let errData = Locked(Data())
        let drained = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            let data = err.fileHandleForReading.readDataToEndOfFile()
            errData.withLock { $0 = data }
            drained.signal()
        }
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        drained.wait()
        process.waitUntilExit()
        return CommandResult(
            status: process.terminationStatus, stdoutBytes: outData, stderr: String(decoding: errData.withLock { $0 }, as: UTF8.self))
    }

    /// Starts `program` in the background with its output discarded.
    static func start(
        _ program: String, _ arguments: [String], in directory: URL? = nil, environment: [String: String] = [:]
    ) throws -> Process {
        let process = make(program, arguments, in: directory, environment: environment)
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }

    /// Writes `count` random bytes to `path`, streamed: never held in memory.
    static func writeRandomFile(_ path: String, count: Int) throws {
        let result = try run("bash", ["-c", "head -c \(count) /dev/urandom > \"$0\"", path])
        guard result.status == 0 else { throw SubprocessFailure(program: "head", result: result) }
    }

    private static func make(_ program: String, _ arguments: [String], in directory: URL?, environment: [String: String]) -> Process {
        let process = Process()
        if program.contains("/") {
            process.executableURL = URL(fileURLWithPath: program)
            process.arguments = arguments
        } else {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = [program] + arguments
        }
        if !environment.isEmpty { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        if let directory { process.currentDirectoryURL = directory }
        return process
    }
}

struct SubprocessFailure: Error, CustomStringConvertible {
    let program: String
    let result: CommandResult
    var description: String { "\(program) exited \(result.status): \(result.stderr)" }
}
