#!/usr/bin/env python3
"""An HTTP/1.1 proxy on loopback for the end-to-end tests of ranged
downloads (`download`, pull `repair`): it forwards every request to the
server, counts the `GET .../data` requests in flight, and can hold their
answers or flip a byte of the answer to one range.

    fault_proxy.py TARGET_PORT [--hold SECONDS] [--hold-all SECONDS] [--corrupt OFFSET:TIMES]... [--fail METHOD:SUFFIX:TIMES]...
                   [--missing METHOD:SUFFIX]...

It listens on 127.0.0.1, on a port the kernel picks, and prints
`listening on 127.0.0.1:PORT` once it accepts connections.

- `--hold SECONDS` keeps each data answer that long before sending it, so
  that requests overlap and a test can see how many are in flight.
- `--hold-all SECONDS` keeps every answer (any method) that long, for the
  tests that count all of a client's requests in flight (`upload DIR`).
- `--corrupt OFFSET:TIMES` flips one byte of the body of the first TIMES
  answers to a `Range: bytes=OFFSET-...` request (TIMES -1: every one), as
  a bad link or middlebox would; the server's disk is left alone.
- `--fail METHOD:SUFFIX:TIMES` answers the first TIMES requests of that
  method whose path ends with SUFFIX `502 Bad Gateway` without passing
  them on, as a balancer does when the node it chose is down.
- `--missing METHOD:SUFFIX` answers every request of that method whose path
  ends with SUFFIX `404` with the server's `http-404` problem, without
  passing it on, as a server without that route (an older one) does; they
  are counted in `missingRequests`.
- `GET /_proxy/stats` is answered by the proxy itself:
  `{"peakInFlight", "inFlight", "completed", "dataRanges", "peakAllInFlight",
  "requests"}`, `dataRanges` being the `Range` of every data request
  received, in order; `peakAllInFlight` the most requests of any kind that
  were in flight at once, `requests` how many were relayed;
  `requestBodyBytes` and `responseBodyBytes` the bytes of the request and
  answer bodies relayed (any method; headers not counted), for the tests
  that measure what a command moved on the wire; `missingRequests` the
  requests answered `404` by `--missing`.

Each request is sent to the server on a connection of its own
(`Connection: close`) and read whole before it is answered: the answers of
these tests are a chunk at most, and a whole answer is what can be
corrupted and re-framed (`Content-Length`) for the client's kept-alive
connection.
"""
import argparse
import json
import socket
import socketserver
import sys
import threading
import time

# The byte flipped in a corrupted body (or its last one, when shorter).
FLIPPED_BYTE = 17


class Stats:
    def __init__(self, corrupt):
        self.lock = threading.Lock()
        self.in_flight = 0
        self.peak = 0
        self.completed = 0
        self.ranges = []
        self.all_in_flight = 0
        self.peak_all = 0
        self.requests = 0
        self.request_body_bytes = 0
        self.response_body_bytes = 0
        # offset -> corruptions left (negative: forever)
        self.corrupt = corrupt
        # [method, path suffix, 502s left]
        self.fail = []
        # [method, path suffix]: answered 404 http-404, every time
        self.missing = []
        self.missing_requests = 0

    def as_json(self):
        with self.lock:
            return json.dumps(
                {"peakInFlight": self.peak, "inFlight": self.in_flight, "completed": self.completed, "dataRanges": list(self.ranges),
                 "peakAllInFlight": self.peak_all, "requests": self.requests,
                 "requestBodyBytes": self.request_body_bytes, "responseBodyBytes": self.response_body_bytes,
                 "missingRequests": self.missing_requests}
            ).encode()


def read_head(sock, buffer):
    """The bytes before the blank line, and what came after; None at end of stream."""
    while b"\r\n\r\n" not in buffer:
        data = sock.recv(65536)
        if not data:
            return None, buffer
        buffer += data
    head, rest = buffer.split(b"\r\n\r\n", 1)
    return head, rest


def read_exact(sock, buffer, count):
    while len(buffer) < count:
        data = sock.recv(max(65536, count - len(buffer)))
        if not data:
            raise ConnectionError("the stream ended inside a body")
        buffer += data
    return buffer[:count], buffer[count:]


def parse_head(head):
    lines = head.decode("latin-1").split("\r\n")
    fields = []
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            fields.append((name.strip(), value.strip()))
    return lines[0], fields


def field(fields, name):
    for key, value in fields:
        if key.lower() == name:
            return value
    return None


def dechunk(body):
    out = b""
    while True:
        size_line, body = body.split(b"\r\n", 1)
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            return out
        out += body[:size]
        body = body[size + 2:]


HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "upgrade"}


def render(start_line, fields, body=b""):
    text = start_line + "\r\n" + "".join(f"{name}: {value}\r\n" for name, value in fields) + "\r\n"
    return text.encode("latin-1") + body


def forward(target_port, request_line, fields, body):
    """The server's answer: status line, fields and body, read to the end."""
    outgoing = [(n, v) for n, v in fields if n.lower() not in HOP_BY_HOP] + [("Connection", "close")]
    with socket.create_connection(("127.0.0.1", target_port)) as upstream:
        upstream.sendall(render(request_line, outgoing, body))
        answer = b""
        while True:
            data = upstream.recv(1 << 20)
            if not data:
                break
            answer += data
    # A 100 Continue, if the server sent one, is not the answer.
    while answer.startswith(b"HTTP/1.1 1"):
        answer = answer.split(b"\r\n\r\n", 1)[1]
    head, rest = answer.split(b"\r\n\r\n", 1)
    status_line, answer_fields = parse_head(head)
    if (field(answer_fields, "transfer-encoding") or "").lower() == "chunked":
        rest = dechunk(rest)
    elif field(answer_fields, "content-length") is not None:
        rest = rest[: int(field(answer_fields, "content-length"))]
    return status_line, answer_fields, rest


def make_handler(target_port, hold, hold_all, stats):
    class Handler(socketserver.BaseRequestHandler):
        def handle(self):
            client = self.request
            buffer = b""
            try:
                while True:
                    head, buffer = read_head(client, buffer)
                    if head is None:
                        return
                    request_line, fields = parse_head(head)
                    method, target = request_line.split(" ")[:2]
                    if field(fields, "transfer-encoding") is not None:
                        client.sendall(render("HTTP/1.1 501 Not Implemented", [("Content-Length", "0"), ("Connection", "close")]))
                        return
                    body, buffer = read_exact(client, buffer, int(field(fields, "content-length") or 0))
                    if target == "/_proxy/stats":
                        payload = stats.as_json()
                        answer = [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))]
                        client.sendall(render("HTTP/1.1 200 OK", answer, payload))
                        continue
                    self.relay(client, method, target, request_line, fields, body)
            except (ConnectionError, OSError, ValueError):
                # A peer gone, or an answer that is not HTTP: this connection ends.
                return

        def relay(self, client, method, target, request_line, fields, body):
            if self.fails(method, target.split("?")[0]):
                client.sendall(render("HTTP/1.1 502 Bad Gateway", [("Content-Length", "0")]))
                return
            if self.is_missing(method, target.split("?")[0]):
                problem = json.dumps(
                    {"type": "https://uploadverify.dev/problems/http-404", "title": "Not Found", "status": 404, "detail": "Not Found"}
                ).encode()
                answer = [("Content-Type", "application/problem+json"), ("Content-Length", str(len(problem)))]
                client.sendall(render("HTTP/1.1 404 Not Found", answer, problem))
                return
            is_data = method == "GET" and target.split("?")[0].endswith("/data")
            requested = field(fields, "range") or ""
            with stats.lock:
                stats.all_in_flight += 1
                stats.peak_all = max(stats.peak_all, stats.all_in_flight)
                stats.requests += 1
                stats.request_body_bytes += len(body)
            if is_data:
                with stats.lock:
                    stats.in_flight += 1
                    stats.peak = max(stats.peak, stats.in_flight)
                    stats.ranges.append(requested)
            try:
                status_line, answer_fields, answer = forward(target_port, request_line, fields, body)
                if hold_all > 0:
                    time.sleep(hold_all)
                if is_data:
                    if hold > 0:
                        time.sleep(hold)
                    answer = self.maybe_corrupt(requested, answer)
                outgoing = [(n, v) for n, v in answer_fields if n.lower() not in HOP_BY_HOP]
                if method != "HEAD":
                    outgoing = [(n, v) for n, v in outgoing if n.lower() != "content-length"]
                    outgoing.append(("Content-Length", str(len(answer))))
                    payload = render(status_line, outgoing, answer)
                    with stats.lock:
                        stats.response_body_bytes += len(answer)
                else:
                    payload = render(status_line, outgoing)
            finally:
                # Counted out just before the answer leaves: the client may
                # start its next request as soon as it has it, and must
                # never be counted twice.
                with stats.lock:
                    stats.all_in_flight -= 1
                if is_data:
                    with stats.lock:
                        stats.in_flight -= 1
                        stats.completed += 1
            client.sendall(payload)

        @staticmethod
        def fails(method, path):
            with stats.lock:
                for rule in stats.fail:
                    if rule[0] == method and path.endswith(rule[1]) and rule[2] > 0:
                        rule[2] -= 1
                        return True
            return False

        @staticmethod
        def is_missing(method, path):
            with stats.lock:
                for rule in stats.missing:
                    if rule[0] == method and path.endswith(rule[1]):
                        stats.missing_requests += 1
                        return True
            return False

        @staticmethod
        def maybe_corrupt(requested, answer):
            if not requested.startswith("bytes=") or not answer:
                return answer
            try:
                offset = int(requested[len("bytes="):].split("-")[0])
            except ValueError:
                return answer
            with stats.lock:
                left = stats.corrupt.get(offset, 0)
                if left == 0:
                    return answer
                if left > 0:
                    stats.corrupt[offset] = left - 1
            flipped = bytearray(answer)
            flipped[min(FLIPPED_BYTE, len(flipped) - 1)] ^= 0xFF
            return bytes(flipped)

    return Handler


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("target_port", type=int)
    parser.add_argument("--hold", type=float, default=0.0)
    parser.add_argument("--hold-all", type=float, default=0.0)
    parser.add_argument("--corrupt", action="append", default=[], metavar="OFFSET:TIMES")
    parser.add_argument("--fail", action="append", default=[], metavar="METHOD:SUFFIX:TIMES")
    parser.add_argument("--missing", action="append", default=[], metavar="METHOD:SUFFIX")
    options = parser.parse_args()
    corrupt = {}
    for item in options.corrupt:
        offset, times = item.split(":")
        corrupt[int(offset)] = int(times)
    stats = Stats(corrupt)
    for item in options.fail:
        method, suffix, times = item.split(":")
        stats.fail.append([method, suffix, int(times)])
    for item in options.missing:
        method, suffix = item.split(":")
        stats.missing.append([method, suffix])
    server = Server(("127.0.0.1", 0), make_handler(options.target_port, options.hold, options.hold_all, stats))
    print(f"listening on 127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
