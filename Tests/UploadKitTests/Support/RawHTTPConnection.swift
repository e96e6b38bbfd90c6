import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One TCP connection spoken to byte by byte, for what an HTTP client
/// library hides: `Expect: 100-continue`, a body cut short, a chunked body
/// of the wrong length, and whether the server closed the connection.
///
/// Every call blocks (with a receive timeout), so each runs on a thread of
/// its own, never on the concurrency pool the server's handlers need.
final class RawHTTPConnection: @unchecked Sendable {
    struct Response {
        var status: Int
        var headers: [String: String]
        var body: [UInt8]

        func header(_ name: String) -> String? { headers[name.lowercased()] }
    }

    enum Failure: Error {
        case cannotConnect(Int32)
        case closedBeforeResponse
        case timedOut
        case malformed(String)
    }

    private let descriptor: Int32
    private var pending = [UInt8]()

    /// Connects to `localhost:port` (the server may listen on IPv4 or IPv6).
    // Generous: only a hang reaches it, and a loaded 2-core CI run can take seconds to answer.
    static func open(port: Int, receiveTimeout seconds: Int = 15) async throws -> RawHTTPConnection {
        try await blocking { try RawHTTPConnection(port: port, receiveTimeout: seconds) }
    }

    private init(port: Int, receiveTimeout seconds: Int) throws {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        #if canImport(Glibc)
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        #else
        hints.ai_socktype = SOCK_STREAM
        #endif
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo("localhost", String(port), &hints, &list) == 0, let first = list else { throw Failure.cannotConnect(errno) }
        defer { freeaddrinfo(list) }
        var candidate: UnsafeMutablePointer<addrinfo>? = first
        var lastError: Int32 = 0
        while let info = candidate {
            let fd = socket(info.pointee.ai_family, info.pointee.ai_socktype, info.pointee.ai_protocol)
            if fd >= 0 {
                if connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 {
                    var timeout = timeval(tv_sec: seconds, tv_usec: 0)
                    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
                    var one: Int32 = 1
                    setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
                    descriptor = fd
                    return
                }
                lastError = errno
                close(fd)
            }
            candidate = info.pointee.ai_next
        }
        throw Failure.cannotConnect(lastError)
    }

    deinit { close(descriptor) }

    /// Sends every byte; false if the peer has gone (EPIPE, ECONNRESET).
    @discardableResult
    func send(_ bytes: [UInt8]) async -> Bool {
        await Self.blockingNoThrow {
            var sent = 0
            while sent < bytes.count {
                let result = bytes[sent...].withUnsafeBytes { Glibc.send(self.descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                if result < 0 {
                    if errno == EINTR { continue }
                    return false
                }
                sent += result
            }
            return true
        }
    }

    @discardableResult
    func send(_ text: String) async -> Bool { await send(Array(text.utf8)) }

    /// Closes the sending side (a FIN), as a client that stops mid-body.
    func shutdownOutput() { shutdown(descriptor, Int32(SHUT_WR)) }

    /// Aborts the connection with a reset (RST), as a client that crashes.
    func reset() {
        var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
        shutdown(descriptor, Int32(SHUT_RDWR))
    }

    /// Reads one response (head and, by Content-Length or chunked coding, body).
    /// 1xx responses are returned on their own.
    func readResponse() async throws -> Response {
        try await Self.blocking { try self.readResponseBlocking() }
    }

    /// Waits until the server closes the connection: true if it did (EOF or a
    /// reset), false if it was still open when the receive timeout ran out.
    /// Bytes that arrive meanwhile are dropped.
    func waitForClose() async -> Bool {
        await Self.blockingNoThrow {
            var buffer = [UInt8](repeating: 0, count: 65_536)
            while true {
                let count = buffer.withUnsafeMutableBytes { recv(self.descriptor, $0.baseAddress, $0.count, 0) }
                if count == 0 { return true }
                if count < 0 {
                    if errno == EINTR { continue }
                    return errno == ECONNRESET || errno == EPIPE
                }
            }
        }
    }

    // MARK: Blocking internals

    private func fill() throws {
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            if count > 0 {
                pending += buffer[0..<count]
                return
            }
            if count == 0 { throw Failure.closedBeforeResponse }
            if errno == EINTR { continue }
            if errno == EAGAIN || errno == EWOULDBLOCK { throw Failure.timedOut }
            throw Failure.closedBeforeResponse
        }
    }

    private func readLine() throws -> String {
        while true {
            if let end = pending.indices.dropLast().first(where: { pending[$0] == 13 && pending[$0 + 1] == 10 }) {
                let line = String(decoding: pending[0..<end], as: UTF8.self)
                pending.removeFirst(end + 2)
                return line
            }
            try fill()
        }
    }

    private func readBytes(_ count: Int) throws -> [UInt8] {
        while pending.count < count { try fill() }
        let bytes = Array(pending[0..<count])
        pending.removeFirst(count)
        return bytes
    }

    private func readResponseBlocking() throws -> Response {
        let statusLine = try readLine()
        let parts = statusLine.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let status = Int(parts[1]) else { throw Failure.malformed(statusLine) }
        var headers = [String: String]()
        while true {
            let line = try readLine()
            if line.isEmpty { break }
            guard let colon = line.firstIndex(of: ":") else { throw Failure.malformed(line) }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        var response = Response(status: status, headers: headers, body: [])
        if (100..<200).contains(status) || status == 204 || status == 304 { return response }
        if let length = headers["content-length"].flatMap(Int.init) {
            response.body = try readBytes(length)
        } else if headers["transfer-encoding"]?.lowercased() == "chunked" {
            while true {
                let sizeLine = try readLine()
                guard let size = Int(sizeLine.split(separator: ";")[0], radix: 16) else { throw Failure.malformed(sizeLine) }
                if size == 0 {
                    while try !readLine().isEmpty {}
                    break
                }
                response.body += try readBytes(size)
                _ = try readLine()
            }
        }
        return response
    }

    /// A thread of its own per call: Dispatch's global queue runs only as many
    /// blocked calls at once as there are cores, which would serialize tests.
    private static func blocking<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Thread { continuation.resume(with: Result { try work() }) }.start()
        }
    }

    private static func blockingNoThrow<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            Thread { continuation.resume(returning: work()) }.start()
        }
    }
}

/// An HTTP/1.1 request head, CRLF-terminated, ready to send.
func requestHead(_ method: String, _ path: String, _ headers: [(String, String)]) -> String {
    var text = "\(method) \(path) HTTP/1.1\r\nHost: localhost\r\n"
    for (name, value) in headers { text += "\(name): \(value)\r\n" }
    return text + "\r\n"
}
