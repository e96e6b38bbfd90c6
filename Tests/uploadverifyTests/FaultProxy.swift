import Foundation

/// `scripts/fault_proxy.py` between the client and a `ServerProcess`, on
/// 127.0.0.1 and a port the kernel picks: it counts the ranged
/// `GET …/data` requests (how many at once, which ranges) and the body
/// bytes relayed each way, can hold each answer, and can flip a byte of the
/// answers to chosen ranges, as a bad link would, leaving the server's disk alone.
final class FaultProxy {
    static let script = Workspace.fixtures.deletingLastPathComponent().appendingPathComponent("scripts").appendingPathComponent("fault_proxy.py")

    let process = Process()
    private(set) var port = 0
    private let output = Pipe()

    /// `hold`: seconds each data answer waits before it is sent, so that
    /// requests overlap. `corrupt`: a range's first byte to how many of its
    /// answers get a flipped byte (-1: every one). `fail`: requests (method,
    /// path suffix, how many) answered 502 without being passed on, as a
    /// balancer does when the node it picked is down. `missing`: requests
    /// (method, path suffix) answered `404 http-404` every time, as a server
    /// without that route answers.
    init(
        target: Int, hold: Double = 0, holdAll: Double = 0, corrupt: [Int: Int] = [:], fail: [(method: String, suffix: String, times: Int)] = [],
        missing: [(method: String, suffix: String)] = []
    ) throws {
        var arguments = ["python3", Self.script.path, String(target)]
        if hold > 0 { arguments += ["--hold", String(hold)] }
        if holdAll > 0 { arguments += ["--hold-all", String(holdAll)] }
        for rule in fail { arguments += ["--fail", "\(rule.method):\(rule.suffix):\(rule.times)"] }
        for rule in missing { arguments += ["--missing", "\(rule.method):\(rule.suffix)"] }
        for (offset, times) in corrupt.sorted(by: { $0.key < $1.key }) { arguments += ["--corrupt", "\(offset):\(times)"] }
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        port = try readListeningPort(output) { ProxyStartFailure(output: $0) }
    }

    var base: String { "http://127.0.0.1:\(port)" }

    /// The same upload URL, through the proxy.
    func route(_ uploadURL: String) -> String {
        guard let path = uploadURL.range(of: "/uploads/") else { return uploadURL }
        return base + String(uploadURL[path.lowerBound...])
    }

    struct Stats {
        /// The most data requests that were between arriving and being answered at once.
        let peakInFlight: Int
        /// Data requests answered.
        let completed: Int
        /// The `Range` of every data request, in the order they arrived.
        let dataRanges: [String]
        /// The most requests of any kind between arriving and being answered at once.
        let peakAllInFlight: Int
        /// Requests of any kind relayed.
        let requests: Int
        /// Bytes of the request bodies relayed (headers not counted).
        let requestBodyBytes: Int
        /// Bytes of the answer bodies relayed (headers not counted).
        let responseBodyBytes: Int
        /// Requests answered `404` for `missing`.
        let missingRequests: Int
    }

    func stats() throws -> Stats {
        let object = try json(String(decoding: try Curl.request("GET", base + "/_proxy/stats").body, as: UTF8.self))
        return Stats(
            peakInFlight: object["peakInFlight"] as? Int ?? -1, completed: object["completed"] as? Int ?? -1,
            dataRanges: object["dataRanges"] as? [String] ?? [], peakAllInFlight: object["peakAllInFlight"] as? Int ?? -1,
            requests: object["requests"] as? Int ?? -1, requestBodyBytes: object["requestBodyBytes"] as? Int ?? -1,
            responseBodyBytes: object["responseBodyBytes"] as? Int ?? -1, missingRequests: object["missingRequests"] as? Int ?? -1)
    }

    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }
}

struct ProxyStartFailure: Error, CustomStringConvertible {
    let output: String
    var description: String { "scripts/fault_proxy.py did not report its port; it printed:\n\(output)" }
}
