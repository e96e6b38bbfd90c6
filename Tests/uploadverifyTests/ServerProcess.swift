import Foundation
import Testing

/// `uploadverify serve` run as a user runs it, on 127.0.0.1 and a port the
/// kernel picks, read back from its "listening on" log line.
final class ServerProcess {
    let process = Process()
    let dataDirectory: URL
    private(set) var port = 0
    private let log = Pipe()

    /// `wrapper` runs the server through another program (e.g. `fiu-run -x`),
    /// which must exec it so that the process id stays the server's.
    init(dataDirectory: URL, arguments: [String] = [], wrapper: [String] = [], environment: [String: String] = [:]) throws {
        self.dataDirectory = dataDirectory
        let command = ["serve", "--data-dir", dataDirectory.path, "--port", "0"] + arguments
        if let program = wrapper.first {
            process.executableURL = URL(fileURLWithPath: program)
            process.arguments = Array(wrapper.dropFirst()) + [UploadVerifyBinary.url.path] + command
        } else {
            process.executableURL = UploadVerifyBinary.url
            process.arguments = command
        }
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        process.standardError = log
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        port = try readListeningPort(log) { ServerStartFailure(log: $0) }
    }

    var base: String { "http://127.0.0.1:\(port)" }

    /// The server's open descriptors, from /proc.
    var openDescriptors: Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(process.processIdentifier)/fd").count) ?? -1
    }

    /// The server's resident memory, from /proc.
    var residentBytes: Int {
        guard let status = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
            let kib = Int(line.split(separator: " ").dropFirst().first ?? "")
        else { return -1 }
        return kib * 1024
    }

    /// Waits for the process to end by itself; false if it was still running after `timeout` seconds.
    func waitForExit(timeout: TimeInterval) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        return !process.isRunning
    }

    func kill9() {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    func terminate() -> Int32 {
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
        return process.terminationStatus
    }

    deinit {
        if process.isRunning { kill9() }
    }
}

struct ServerStartFailure: Error, CustomStringConvertible {
    let log: String
    var description: String { "the server did not report its port; its log:\n\(log)" }
}

/// The port of a "listening on 127.0.0.1:PORT" line that a child process
/// (the server, the fault proxy) writes to `pipe` within 20 s; then the pipe
/// is drained in the background, so that the child never blocks on a full
/// pipe. Else `failure` of what it wrote.
func readListeningPort(_ pipe: Pipe, orElse failure: (String) -> any Error) throws -> Int {
    var text = ""
    let deadline = Date().addingTimeInterval(20)
    while Date() < deadline {
        let data = pipe.fileHandleForReading.availableData
        if data.isEmpty { break }
        text += String(decoding: data, as: UTF8.self)
        if let range = text.range(of: #"listening on 127\.0\.0\.1:(\d+)"#, options: .regularExpression) {
            let match = String(text[range])
            let handle = pipe.fileHandleForReading
            DispatchQueue.global().async { while !handle.availableData.isEmpty {} }
            return Int(match.split(separator: ":").last!)!
        }
    }
    throw failure(text)
}

/// What curl reports for one request.
struct HTTPResult {
    let status: Int
    let headers: [String: String]
    let body: Data
}

enum Curl {
    /// One request through curl; `bodyFile` is sent as the body.
    static func request(
        _ method: String, _ url: String, headers: [String: String] = [:], bodyFile: String? = nil, bodyBytes: [UInt8]? = nil
    ) throws -> HTTPResult {
        let headerFile = FileManager.default.temporaryDirectory.appendingPathComponent("curl-headers-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: headerFile) }
        var arguments = ["-s", "-X", method, "-D", headerFile.path, "-o", "-", url]
        if method == "HEAD" { arguments = ["-s", "-I", "-D", headerFile.path, "-o", "/dev/null", url] }
        for (name, value) in headers { arguments += ["-H", "\(name): \(value)"] }
        var temporaryBody: URL?
        if let bodyBytes {
            let url = FileManager.default.temporaryDirectory.appendingPathComponent("curl-body-\(UUID().uuidString)")
            try Data(bodyBytes).write(to: url)
            temporaryBody = url
            arguments += ["--data-binary", "@\(url.path)"]
        } else if let bodyFile {
            arguments += ["--data-binary", "@\(bodyFile)"]
        }
        defer { if let temporaryBody { try? FileManager.default.removeItem(at: temporaryBody) } }
        let body = try Subprocess.run("/usr/bin/curl", arguments).stdoutBytes
        let text = (try? String(contentsOf: headerFile, encoding: .utf8)) ?? ""
        // The last response's headers (after any 100 Continue).
        let blocks = text.components(separatedBy: "\r\n\r\n").filter { !$0.isEmpty }
        let lines = (blocks.last ?? "").components(separatedBy: "\r\n")
        let status = lines.first.flatMap { $0.split(separator: " ").dropFirst().first }.flatMap { Int($0) } ?? 0
        var headers = [String: String]()
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return HTTPResult(status: status, headers: headers, body: body)
    }
}
