#!/usr/bin/env python3
"""A deliberately simple chunk uploader for `make bench`: the server's side
of the comparison, without the project's own client.

    bench_upload.py BASE_URL FILE --chunk-size BYTES --connections N [--complete SHA256HEX] [--fsync-note]

It creates an upload (POST /uploads), then N threads, each on one keep-alive
connection, take chunk indices from a shared counter and PUT them with
`Content-Range`, the body sent by sendfile(2) straight from the page cache
(as `curl -T` reads a file for the peer). Every answer must be 200. Prints
the upload URL. With --complete, also completes it with that SHA-256.
"""
import argparse
import base64
import os
import socket
import sys
import threading
from urllib.parse import urlparse


def read_response(sock_file):
    status_line = sock_file.readline()
    if not status_line:
        raise RuntimeError("connection closed before a response")
    status = int(status_line.split()[1])
    headers = {}
    while True:
        line = sock_file.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    body = sock_file.read(int(headers.get("content-length", "0")))
    return status, headers, body


def request(sock, sock_file, host, method, path, headers=(), body_file=None, offset=0, length=0):
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", f"Content-Length: {length}"]
    lines += [f"{k}: {v}" for k, v in headers]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    sent = 0
    while sent < length:
        sent += sock.sendfile(body_file, offset + sent, length - sent)
    return read_response(sock_file)


def connect(url):
    sock = socket.create_connection((url.hostname, url.port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock, sock.makefile("rb")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("base")
    parser.add_argument("file")
    parser.add_argument("--chunk-size", type=int, required=True)
    parser.add_argument("--connections", type=int, default=3)
    parser.add_argument("--complete")
    args = parser.parse_args()
    url = urlparse(args.base)
    host = url.netloc
    size = os.path.getsize(args.file)
    count = (size + args.chunk_size - 1) // args.chunk_size

    sock, sock_file = connect(url)
    status, headers, body = request(sock, sock_file, host, "POST", "/uploads",
                                    [("Upload-Length", size), ("Upload-Chunk-Size", args.chunk_size)])
    if status != 201:
        sys.exit(f"create answered {status}: {body[:300]!r}")
    location = headers["location"]

    next_index = [0]
    lock = threading.Lock()
    failures = []

    def worker():
        s, f = connect(url)
        with open(args.file, "rb") as data:
            while not failures:
                with lock:
                    index = next_index[0]
                    next_index[0] += 1
                if index >= count:
                    break
                offset = index * args.chunk_size
                length = min(args.chunk_size, size - offset)
                st, _, b = request(s, f, host, "PUT", location,
                                   [("Content-Range", f"bytes {offset}-{offset + length - 1}/{size}")],
                                   data, offset, length)
                if st != 200:
                    failures.append(f"chunk {index}: {st} {b[:300]!r}")
        s.close()

    threads = [threading.Thread(target=worker) for _ in range(args.connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        sys.exit("; ".join(failures))
    if args.complete:
        digest = base64.b64encode(bytes.fromhex(args.complete)).decode()
        status, _, body = request(sock, sock_file, host, "POST", location + "/complete",
                                  [("Repr-Digest", f"sha-256=:{digest}:")])
        if status != 200:
            sys.exit(f"complete answered {status}: {body[:300]!r}")
    print(f"{args.base.rstrip('/')}{location}")


if __name__ == "__main__":
    main()
