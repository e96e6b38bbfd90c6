#!/usr/bin/env python3
"""Times uploadverify against the Debian tools that do the same work, on one
incompressible file held in the page cache.

    make bench                                   # 4 GiB, 5 rounds
    BENCH_SIZE=256M BENCH_ROUNDS=3 make bench    # quick check
    BENCH_DIR=/tmp/bench scripts/bench.py        # work dir (relative: to the repo root)
    BENCH_ONLY=local|server|client|cluster|baseline make bench   # one part only
    BENCH_BASELINE=HEAD~3 make bench             # also this binary against an earlier build of it
    scripts/bench.py --rows 'verify-*,map'       # some rows only (--list names them)
    scripts/bench.py --report-only bench-work/samples.tsv   # the report of a saved run

Settings (environment): BENCH_SIZE (default 4G; a count with an optional
K/M/G/T suffix, powers of 1024, "iB" allowed), BENCH_ROUNDS (5),
BENCH_SCALING_ROUNDS (3: the receive and latency scaling rows, the
in-flight memory row, and the long ones: parity, cluster, many files),
BENCH_DIR (./bench-work), BENCH_ONLY (all), BENCH_BASELINE (a git
revision; unset: no baseline rows), BENCH_IN_FLIGHT (500: chunk PUTs held
open at once by the memory row).

This VM is noisy (2 shared cores, memory handed back to the host: see
../shared/STACK.md, "Benchmarking on this machine"), so a single timing means
little. Each comparison alternates its two sides round by round (A B A B)
and is judged on the median of the per-round ratios ours/peer, which cancels
most of the drift that hits both sides of a round alike.

The rows are one table, TABLE, of Pair entries. A command's wall time comes
from the clock around it, its CPU time (ru_utime + ru_stime) and peak RSS
(ru_maxrss) from os.wait4; a server's CPU time from /proc/PID/stat (utime +
stime; nginx: its master and workers). Commands are started by a small
spawner process (see SPAWNER), not by this one: on Linux a child's ru_maxrss
starts at the high-water mark of the address space it was forked from. Every run is appended to
BENCH_DIR/samples.tsv as it happens; report() turns that file into the
printed report, and results_table() into BENCH_DIR/results.tsv.

Standard library only (Debian 12's python3). Package installs are
scripts/install-deps.sh --bench, which this runs first.
"""
from __future__ import annotations

import argparse
import base64
import contextlib
import dataclasses
import fnmatch
import hashlib
import http.client
import json
import marshal
import math
import os
import re
import resource
import selectors
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Optional, Union
from urllib.parse import urljoin

REPO = Path(__file__).resolve().parent.parent
SCRIPTS = REPO / "scripts"
KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30

SCRATCH = REPO / ".build-release"  # never .build: another engineer's debug builds live there
SERVE_PORT = 18931  # our server, --no-fsync
NGINX_PORT = 18932
FSYNC_PORT = 18933  # our server with fsync on
PROXY_PORT = 18934
RSYNC_PORT = 18935
BASELINE_PORT = 18936  # the earlier build's server, --no-fsync
IN_FLIGHT_PORT = 18937  # a fresh server per round of the memory row
PARITY_PORT = 18938  # our server with --parity (5%), --no-fsync

RSS_LIMIT_MIB = 64.0  # peak RSS of the local tools
SERVER_RSS_TARGET_MIB = 100  # the server's peak over the receive-3x8MiB rounds
IN_FLIGHT_TARGET_KIB = 256.0  # server memory per chunk request in flight
BASELINE_TARGET = 1.05  # this binary against an earlier build of it

SAMPLES_MAGIC = "# uploadverify bench samples v1"


class BenchError(Exception):
    """A failure that ends the bench with one line on stderr."""


def log(message: str) -> None:
    print(f"== {message}", file=sys.stderr, flush=True)


def child_env(extra: Optional[dict] = None) -> dict:
    env = dict(os.environ)
    env["LC_ALL"] = "C"  # rsync's and openssl's numbers, in one format
    env.update(extra or {})
    return env


# --- Commands, the sides of a pair -------------------------------------------


@dataclasses.dataclass(frozen=True)
class Cmd:
    """A command line; `{name}` tokens are filled at run time from Ctx.vars
    (binaries, files, URLs, per-row state such as this round's upload URL).
    Split into words before filling, so paths need no quoting."""

    template: str
    env: tuple = ()  # ((NAME, template), ...)

    def words(self) -> list:
        return shlex.split(self.template)

    def argv(self, values) -> list:
        return [word.format_map(values) for word in self.words()]

    def environ(self, values) -> dict:
        return child_env({name: value.format_map(values) for name, value in self.env})

    def display(self, values) -> str:
        words = [word.format_map(values) for word in self.words()]
        return " ".join(f"'{w}'" if " " in w else w for w in words)


@dataclasses.dataclass(frozen=True)
class Call:
    """A side measured in process: fn(ctx, round) returns a dict with
    optional keys rss_kib, cpu_s, server_cpu_s, value, notes."""

    fn: Callable
    label: str

    def display(self, values) -> str:
        return self.label.format_map(values)


@dataclasses.dataclass(frozen=True)
class Reuse:
    """The same round's sample of another pair's side, copied (not re-run)."""

    pair: str
    label: str
    side: str = "peer"

    def display(self, values) -> str:
        return self.label


Side = Union[Cmd, Call, Reuse]
Hook = Callable[..., None]


@dataclasses.dataclass
class Pair:
    """One row: OURS against PEER, alternated round by round.

    target: the largest median ratio ours/peer that passes (None: reported
    only). For metric "kib-per-request" (one side, no peer) the largest
    median value in KiB. For metric "wire-bytes" the ratio is of the bytes
    the hooks noted per round (wire_bytes_ours against the peer's other
    wire_bytes_ note), not of the times.
    setup / cleanup: side -> hook(ctx, round), untimed, before and after
    that side's run (cleanup deletes what an upload stored).
    before_round / after_round: hook(ctx, round); prepare / finish: hook(ctx),
    once around all rounds.
    joins: runs inside the rounds of the named pair, after its two sides
    (complete then audit on the same upload; repair then one SHA-256 pass).
    needs: the servers (RESOURCES) that must run; started when first needed,
    stopped at the end of the part.
    cpu_of: side -> servers whose CPU time is read around each of its runs;
    add_server_cpu: the CPU column counts it with the command's own.
    size: which file the row moves, for GiB/s ("data", "small", "gib",
    "in_flight"). warm: the file read once before the rounds (None: not).
    settle: wait for the side's servers to go idle before reading their CPU.
    """

    name: str
    target: Optional[float]
    ours: Side
    peer: Optional[Side]
    setup: dict = dataclasses.field(default_factory=dict)
    cleanup: dict = dataclasses.field(default_factory=dict)
    before_round: Optional[Hook] = None
    after_round: Optional[Hook] = None
    prepare: Optional[Hook] = None
    finish: Optional[Hook] = None
    joins: Optional[str] = None
    part: str = "local"
    needs: tuple = ()
    rounds: Union[str, int] = "rounds"  # "rounds" (BENCH_ROUNDS), "scaling" (BENCH_SCALING_ROUNDS) or a count
    cpu_of: dict = dataclasses.field(default_factory=dict)
    add_server_cpu: bool = False
    metric: str = "time"  # "time", "server-cpu", "kib-per-request" or "wire-bytes"
    size: str = "data"
    rss_limit: Optional[float] = None
    settle: bool = False
    warm: Optional[str] = "data"


def versus_baseline(name: str, side: Callable[[str, str], Side], **fields) -> Pair:
    """The pair kind "this binary against an earlier build of it":
    side(binary, server) gives one side, run by `{binary}` against `server`;
    ours is ("uv", "serve"), the peer ("uv_base", "baseline"): the build of
    BENCH_BASELINE and its own server, alternated like any pair. Ratio =
    ours / baseline, target within 5%."""
    fields.setdefault("needs", ("serve", "baseline"))
    return Pair(f"base/{name}", fields.pop("target", BASELINE_TARGET), side("uv", "serve"),
                side("uv_base", "baseline"), part="baseline", **fields)


# --- Hooks --------------------------------------------------------------------


def empty_dir(path: Path) -> None:
    if not path.is_dir():
        return
    for entry in path.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink(missing_ok=True)


def empty_server(*servers: str, caches: bool = False) -> Hook:
    """Delete what uploads stored on these servers (and the clients' resume
    state, so the next round sends everything again)."""

    def hook(ctx: Ctx, rnd: int = 0) -> None:
        for server in servers:
            empty_dir(ctx.resource(server).data_dir)
        if caches:
            ctx.remove_caches()

    return hook


def remove_nginx_upload(ctx: Ctx, rnd: int = 0) -> None:
    (ctx.resource("nginx").root / "data.bin").unlink(missing_ok=True)


def prefix_file(var: str, length: int) -> Hook:
    """Make $WORK/VAR.bin, the first LENGTH bytes of the data file (all of it
    when it is shorter), unless it already has that size."""

    def hook(ctx: Ctx) -> None:
        path = Path(ctx.vars[var])
        want = min(length, ctx.bytes)
        if path.exists() and path.stat().st_size == want:
            return
        log(f"writing {path} ({want} bytes of {ctx.data.name})")
        with open(ctx.data, "rb") as src, open(f"{path}.tmp", "wb") as out:
            left = want
            while left:
                block = src.read(min(8 * MiB, left))
                if not block:
                    raise BenchError(f"{ctx.data} is shorter than expected")
                out.write(block)
                left -= len(block)
        os.replace(f"{path}.tmp", path)

    return hook


def record_server_peak(server: str) -> Hook:
    def hook(ctx: Ctx) -> None:
        ctx.note("server_peak_rss_kib", proc_status_kib(ctx.resource(server).pid, "VmHWM"))

    return hook


def upload_untimed(*servers: str, chunk: int = 8 * MiB, connections: int = 3, complete: bool = False) -> Hook:
    """A fresh upload of the data file to each server (not timed: completing
    a complete upload is a no-op), its URL and data file kept as
    {url_SERVER} and {file_SERVER}, the stored file read into the cache.
    With COMPLETE, also completed with the data file's SHA-256 and confirmed
    so (confirm_complete)."""

    def hook(ctx: Ctx, rnd: int = 0) -> None:
        for server in servers:
            res = ctx.resource(server)
            out = run_untimed(ctx, [sys.executable, str(SCRIPTS / "bench_upload.py"), res.url, str(ctx.data),
                                    "--chunk-size", str(chunk), "--connections", str(connections),
                                    *(["--complete", ctx.sha] if complete else [])])
            url = out.strip().splitlines()[-1]
            ctx.state[f"url_{server}"] = url
            ctx.state[f"file_{server}"] = str(res.data_dir / url.rsplit("/", 1)[-1])
            if complete:
                confirm_complete(ctx, server, url)
        for server in servers:
            warm(Path(ctx.state[f"file_{server}"]))

    return hook


def confirm_complete(ctx: Ctx, server: str, url: str) -> None:
    """The upload at URL (its id the last segment) is complete on SERVER,
    with the data file's SHA-256, as GET /uploads/{id} tells."""
    upload_id = url.rstrip("/").rsplit("/", 1)[-1]
    status, _, body = http_request(ctx.resource(server).port, "GET", f"/uploads/{upload_id}")
    try:
        doc = json.loads(body) if status == 200 else {}
    except ValueError:
        doc = {}
    if doc.get("state") != "complete" or doc.get("sha256") != ctx.sha:
        raise BenchError(f"{ctx.pair_name}: upload {upload_id} is not complete with the data file's SHA-256 "
                         f"(GET /uploads/{upload_id}: {status} {body[:300]!r})")


def confirm_printed_upload(server: str) -> Hook:
    """After a client that prints its upload's URL last (tuspy's side):
    that upload is complete with the data file's SHA-256; then the server is
    emptied like empty_server's."""

    def hook(ctx: Ctx, rnd: int = 0) -> None:
        words = ctx.last_log.read_text(errors="replace").split()
        if not words:
            raise BenchError(f"{ctx.pair_name}: the client printed no upload URL (log: {ctx.last_log})")
        confirm_complete(ctx, server, words[-1])
        empty_server(server)(ctx, rnd)

    return hook


def damage(path: Path, size: int) -> None:
    """One byte in each of three 1 MiB regions, far apart."""
    with open(path, "r+b") as f:
        for offset in (size // 40, size // 2, size // 40 * 39):
            f.seek(offset)
            f.write(b"X")


def repair_prepare(mib: int, sides: tuple, rsync_copy: bool) -> Hook:
    """Upload the data file with MIB-MiB chunks through each (binary, server)
    side's own client; for the rsync peer, a copy of the good file."""

    def hook(ctx: Ctx) -> None:
        for binary, server in sides:
            res = ctx.resource(server)
            empty_dir(res.data_dir)
            ctx.remove_caches()
            out = run_untimed(ctx, [ctx.vars[binary], "upload", str(ctx.data), "--server", res.url,
                                    "--chunk-size", f"{mib}MiB", "--json"],
                              env=child_env({"XDG_CACHE_HOME": str(ctx.work / f"cache-repair-{server}")}))
            url = json.loads(out)["url"]
            ctx.state[f"url_{server}"] = url
            ctx.state[f"file_{server}"] = str(res.data_dir / url.rsplit("/", 1)[-1])
        if rsync_copy:
            shutil.copyfile(ctx.data, ctx.resource("rsyncd").module / "data.bin")

    return hook


def damage_upload(server: str) -> Hook:
    """At-rest damage to the server's copy, and its byte counters before the repair."""

    def hook(ctx: Ctx, rnd: int) -> None:
        damage(Path(ctx.state[f"file_{server}"]), ctx.bytes)
        ctx.state[f"received_{server}"] = body_bytes_in(ctx.resource(server).port)

    return hook


def count_received(server: str, label: str) -> Hook:
    def hook(ctx: Ctx, rnd: int) -> None:
        after = body_bytes_in(ctx.resource(server).port)
        ctx.note(f"wire_bytes_{label}", after - ctx.state[f"received_{server}"], rnd)

    return hook


FLIP_CHUNK = 8 * MiB  # repair-3-bytes: the upload's chunk size (upload's default)


def flip_offsets(size: int, chunk: int) -> list:
    """Three offsets far apart (as damage's), each in a chunk of its own."""
    offsets = [size // 40, size // 2, size // 40 * 39]
    if len({offset // chunk for offset in offsets}) < 3:
        raise BenchError(f"the flipped bytes need 3 chunks of {chunk} bytes far apart: BENCH_SIZE {size} is too small")
    return offsets


def flip_bytes(path: Path, good: Path, offsets) -> None:
    """Each byte of PATH at OFFSETS made the complement of GOOD's byte there:
    a single byte changed, and the same damage whatever PATH held before
    (flipping PATH's own byte twice would undo it)."""
    with open(good, "rb") as src, open(path, "r+b") as out:
        for offset in offsets:
            src.seek(offset)
            out.seek(offset)
            out.write(bytes([src.read(1)[0] ^ 0xFF]))


def holds_good_bytes(path: Path, good: Path, offsets) -> bool:
    with open(good, "rb") as src, open(path, "rb") as f:
        for offset in offsets:
            src.seek(offset)
            f.seek(offset)
            if src.read(1) != f.read(1):
                return False
    return True


def flip_upload(server: str) -> Hook:
    """3 single bytes flipped at rest in the server's copy, in 3 chunks far
    apart (flip_offsets, flip_bytes); its body-byte counters before the repair."""

    def hook(ctx: Ctx, rnd: int) -> None:
        flip_bytes(Path(ctx.state[f"file_{server}"]), ctx.data, flip_offsets(ctx.bytes, FLIP_CHUNK))
        ctx.state[f"received_{server}"] = body_bytes_in(ctx.resource(server).port)

    return hook


def count_block_repair(server: str) -> Hook:
    """After `repair --json`: its JSON (the last line of its output) says ok
    with the data file's SHA-256; the server's body bytes since flip_upload
    (body_bytes_in: chunk PUTs and block writes, each byte once) and the
    client's bytesMoved, blocksMoved and chunksMoved are kept for the wire
    row (note_block_repair)."""

    def hook(ctx: Ctx, rnd: int) -> None:
        received = body_bytes_in(ctx.resource(server).port) - ctx.state[f"received_{server}"]
        lines = [l for l in ctx.last_log.read_text(errors="replace").splitlines() if l.startswith("{")]
        try:
            doc = json.loads(lines[-1])
        except (IndexError, ValueError):
            doc = {}
        if doc.get("ok") is not True or doc.get("sha256") != ctx.sha:
            raise BenchError(f"{ctx.pair_name}: repair did not confirm the data file's SHA-256 (log: {ctx.last_log})")
        ctx.state["block_repair"] = {"wire_bytes_ours": received, "bytes_moved": doc.get("bytesMoved", "-"),
                                     "blocks_moved": doc.get("blocksMoved", "-"),
                                     "chunks_moved": doc.get("chunksMoved", "-")}

    return hook


def note_block_repair(ctx: Ctx, rnd: int) -> None:
    """The counts count_block_repair kept, as this row's notes of the round."""
    for key, value in ctx.state.pop("block_repair").items():
        ctx.note(key, value, rnd)


def flip_rsync_copy(ctx: Ctx, rnd: int) -> None:
    flip_bytes(ctx.resource("rsyncd").module / "data.bin", ctx.data, flip_offsets(ctx.bytes, FLIP_CHUNK))


def count_rsync_mended(ctx: Ctx, rnd: int) -> None:
    """count_rsync_sent, once the daemon's copy holds the good bytes again."""
    count_rsync_sent(ctx, rnd)
    if not holds_good_bytes(ctx.resource("rsyncd").module / "data.bin", ctx.data, flip_offsets(ctx.bytes, FLIP_CHUNK)):
        raise BenchError(f"{ctx.pair_name}: rsync left the flipped bytes in the daemon's copy")


def damage_rsync_copy(ctx: Ctx, rnd: int) -> None:
    damage(ctx.resource("rsyncd").module / "data.bin", ctx.bytes)


def count_rsync_sent(ctx: Ctx, rnd: int) -> None:
    text = ctx.last_log.read_text(errors="replace")
    match = re.search(r"Total bytes sent:\s*([\d,]+)", text)
    if not match:
        raise BenchError(f"{ctx.pair_name}: no 'Total bytes sent' in rsync's --stats (log: {ctx.last_log})")
    ctx.note("wire_bytes_rsync", int(match.group(1).replace(",", "")), rnd)


def remove_rsync_copy(ctx: Ctx) -> None:
    (ctx.resource("rsyncd").module / "data.bin").unlink(missing_ok=True)


def each(make: Callable[[str], Hook]) -> dict:
    """The same hook for both sides of a baseline pair, each on its own server."""
    return {"ours": make("serve"), "peer": make("baseline")}


# --- The in-flight memory probe -----------------------------------------------


class _Chunk:
    """One chunk PUT on its own non-blocking connection: headers, then the
    body by sendfile(2) from the data file, then the answer."""

    def __init__(self, sock: socket.socket, head: bytes, src_offset: int, length: int):
        self.sock, self.head, self.src_offset, self.length = sock, head, src_offset, length
        self.head_sent = 0
        self.body_sent = 0
        self.answer = b""
        self.status: Optional[int] = None
        self.error: Optional[str] = None

    def send(self, data_fd: int, limit: int) -> int:
        try:
            if self.head_sent < len(self.head):
                n = self.sock.send(self.head[self.head_sent:])
                self.head_sent += n
                return n
            n = os.sendfile(self.sock.fileno(), data_fd, self.src_offset + self.body_sent,
                            min(limit - self.body_sent, 256 * KiB))
            self.body_sent += n
            return n
        except BlockingIOError:
            return 0
        except OSError as e:
            self.error = f"send: {e}"
            return 0

    def sent(self, limit: int) -> bool:
        return self.head_sent == len(self.head) and self.body_sent >= limit

    def receive(self) -> int:
        try:
            data = self.sock.recv(65536)
        except BlockingIOError:
            return 0
        except OSError as e:
            self.error = f"receive: {e}"
            return 0
        if not data:
            self.error = self.error or "connection closed before an answer"
            return 0
        self.answer += data
        head, sep, body = self.answer.partition(b"\r\n\r\n")
        if sep:
            length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
            if len(body) >= (int(length.group(1)) if length else 0):
                self.status = int(head.split(None, 2)[1])
        return len(data)


def _pump(chunks: list, data_fd: int, limit: int, read: bool, stall: float) -> None:
    """Send every chunk's body up to LIMIT bytes (and, with READ, read the
    answers) until all are done or nothing moved for STALL seconds."""
    selector = selectors.DefaultSelector()
    try:
        for c in chunks:
            if c.error is None:
                selector.register(c.sock, selectors.EVENT_WRITE | (selectors.EVENT_READ if read else 0), c)
        busy = len(selector.get_map())
        last_progress = time.monotonic()
        while busy and time.monotonic() - last_progress < stall:
            for key, events in selector.select(0.2):
                c = key.data
                moved = 0
                if events & selectors.EVENT_WRITE and not c.sent(limit):
                    moved += c.send(data_fd, limit)
                if events & selectors.EVENT_READ:
                    moved += c.receive()
                if moved:
                    last_progress = time.monotonic()
                done = c.error is not None or (c.status is not None if read else c.sent(limit))
                if done:
                    selector.unregister(c.sock)
                    busy -= 1
                elif c.sent(limit) and key.events & selectors.EVENT_WRITE:
                    if read:
                        selector.modify(c.sock, selectors.EVENT_READ, c)
                    else:
                        selector.unregister(c.sock)
                        busy -= 1
    finally:
        selector.close()


def in_flight_probe(ctx: Ctx, rnd: int) -> dict:
    """BENCH_IN_FLIGHT chunk PUTs of 1 MiB, each on its own connection, all
    held open at once with every byte but the last sent; then what the
    server's peak RSS (VmHWM, a fresh server per round) rose above its idle
    RSS, divided by their number: the issue's own measure (219 MiB for 144
    requests was "about 1.2 MiB per request"). The last bytes are sent
    afterwards and every answer must be 200."""
    n = ctx.in_flight
    length = n * MiB
    span = max(MiB, ctx.bytes // MiB * MiB)
    with uv_server(ctx, "serve-in-flight", ctx.uv, "srv-in-flight", IN_FLIGHT_PORT, fsync=False) as server:
        idle = proc_status_kib(server.pid, "VmRSS")
        cpu_before = cpu_ticks(server.pids())
        status, headers, body = http_request(IN_FLIGHT_PORT, "POST", "/uploads",
                                             {"Upload-Length": str(length), "Upload-Chunk-Size": str(MiB)})
        if status != 201:
            raise BenchError(f"in-flight probe: create answered {status}: {body[:300]!r}")
        location = headers["location"]
        chunks = []
        try:
            with open(ctx.data, "rb") as data:
                for i in range(n):
                    sock = socket.create_connection(("127.0.0.1", IN_FLIGHT_PORT), timeout=30)
                    sock.setblocking(False)
                    first = i * MiB
                    head = (f"PUT {location} HTTP/1.1\r\nHost: 127.0.0.1:{IN_FLIGHT_PORT}\r\n"
                            f"Content-Length: {MiB}\r\nContent-Range: bytes {first}-{first + MiB - 1}/{length}\r\n\r\n")
                    chunks.append(_Chunk(sock, head.encode(), (i * MiB) % (span - MiB + 1) if span > MiB else 0, MiB))
                _pump(chunks, data.fileno(), MiB - 1, read=False, stall=5.0)
                held = sum(c.sent(MiB - 1) and c.error is None for c in chunks)
                time.sleep(0.5)
                peak = proc_status_kib(server.pid, "VmHWM")
                _pump(chunks, data.fileno(), MiB, read=True, stall=60.0)
        finally:
            for c in chunks:
                c.sock.close()
        bad = [f"chunk {i}: {c.error or c.status}" for i, c in enumerate(chunks) if c.status != 200]
        if bad:
            raise BenchError(f"in-flight probe: {len(bad)} of {n} chunk PUTs failed: {'; '.join(bad[:5])}")
        server_cpu = (cpu_ticks(server.pids()) - cpu_before) / CLK_TCK
    return {"rss_kib": peak, "server_cpu_s": server_cpu, "value": (peak - idle) / n,
            "notes": {"in_flight": n, "held": held, "idle_rss_kib": idle}}


# --- Several nodes: scripts/cluster.sh's GlusterFS volume behind nginx

CLUSTER_SCRIPT = REPO / "scripts" / "cluster.sh"
CLUSTER_UPLOADS = 12  # uploads at once, each of the 256 MiB file ("small")


def cluster_dir(ctx: Ctx) -> Path:
    return ctx.work / "cluster"


def cluster_up(nodes: int) -> Hook:
    """`cluster.sh up NODES` with this binary (--no-fsync, as the receive
    rows), untimed; the balancer's URL goes to ctx.state["balancer_url"]."""

    def hook(ctx: Ctx, rnd: int = 0) -> None:
        cluster_down(ctx)
        argv = [str(CLUSTER_SCRIPT), "up", str(nodes), "--binary", ctx.uv, "--dir", str(cluster_dir(ctx)), "--", "--no-fsync"]
        done = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if done.returncode != 0:
            raise BenchError(f"cluster.sh up {nodes} failed ({done.returncode}): {done.stdout[-2000:]}")
        settings = dict(line.split("=", 1) for line in (cluster_dir(ctx) / "cluster.env").read_text().splitlines() if "=" in line)
        ctx.state["balancer_url"] = settings["BALANCER_URL"].strip()

    return hook


def cluster_down(ctx: Ctx, rnd: int = 0) -> None:
    subprocess.run([str(CLUSTER_SCRIPT), "down", "--dir", str(cluster_dir(ctx))], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


def concurrent_uploads(url_key: str) -> Callable:
    """CLUSTER_UPLOADS `upload`s of the 256 MiB file at once (each with its
    own resume state, so each is a new upload), to ctx.state[url_key] or
    ctx.vars[url_key]; every one must end confirmed."""

    def fn(ctx: Ctx, rnd: int) -> dict:
        url = ctx.state.get(url_key) or ctx.vars[url_key]
        runs = []
        for i in range(CLUSTER_UPLOADS):
            argv = [ctx.uv, "upload", ctx.vars["small"], "--server", url, "--chunk-size", "8MiB", "--json"]
            env = child_env({"XDG_CACHE_HOME": str(ctx.work / f"cache-cluster-{rnd}-{i}")})
            runs.append(subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        failed = []
        for i, run in enumerate(runs):
            out, err = run.communicate()
            if run.returncode != 0 or json.loads(out or "{}").get("sha256") is None:
                failed.append(f"upload {i} ({run.returncode}): {err.strip()[-300:]}")
        for path in ctx.work.glob("cache-cluster-*"):
            shutil.rmtree(path, ignore_errors=True)
        if failed:
            raise BenchError(f"{len(failed)} of {CLUSTER_UPLOADS} uploads failed: {'; '.join(failed[:3])}")
        return {}

    return fn


def cluster_pair(name: str, target: Optional[float], ours_nodes: int, peer_nodes: Optional[int]) -> Pair:
    """OURS_NODES nodes on the volume against PEER_NODES (None: one `serve`
    on local disk, the bench's own), the same CLUSTER_UPLOADS uploads."""
    ours = Call(concurrent_uploads("balancer_url"),
                f"{CLUSTER_UPLOADS} x uploadverify upload $WORK/small.bin --chunk-size 8MiB at once, through nginx to "
                f"{ours_nodes} node(s) on one GlusterFS volume")
    if peer_nodes is None:
        peer = Call(concurrent_uploads("serve_url"),
                    f"the same to one serve on local disk (no balancer)")
        setup, cleanup, needs = {"ours": cluster_up(ours_nodes)}, {"ours": cluster_down, "peer": empty_server("serve")}, ("serve",)
    else:
        peer = Call(concurrent_uploads("balancer_url"),
                    f"the same to {peer_nodes} node(s) on the volume")
        setup = {"ours": cluster_up(ours_nodes), "peer": cluster_up(peer_nodes)}
        cleanup, needs = {"ours": cluster_down, "peer": cluster_down}, ()
    return Pair(name, target, ours, peer, setup=setup, cleanup=cleanup, prepare=prefix_file("small", 256 * MiB),
                part="cluster", needs=needs, rounds="scaling", size="cluster", warm="small")


# --- Parity: map --parity and repair FILE against par2, on the 1 GiB file

PARITY_PERCENT = 5


def parity_copy(ctx: Ctx) -> Path:
    return ctx.work / "parity" / "gib.bin"


def remove_parity_outputs(ctx: Ctx, rnd: int = 0) -> None:
    """Whatever a side wrote beside the copy: our map and parity, par2's files."""
    folder = parity_copy(ctx).parent
    for path in folder.glob("gib.bin?*"):
        path.unlink()


def parity_prepare(ctx: Ctx) -> None:
    """A copy of the 1 GiB file ({parity_file}) in a folder of its own: par2
    names its files after it."""
    prefix_file("gib", GiB)(ctx)
    copy = parity_copy(ctx)
    copy.parent.mkdir(exist_ok=True)
    if not copy.exists() or copy.stat().st_size != Path(ctx.vars["gib"]).stat().st_size:
        shutil.copyfile(ctx.vars["gib"], copy)
    remove_parity_outputs(ctx)


def damage_three_chunks(ctx: Ctx, rnd: int = 0) -> None:
    """One byte in each of three 8 MiB chunks far apart, in three stripes."""
    copy = parity_copy(ctx)
    damage(copy, copy.stat().st_size)


def heal_prepare(ctx: Ctx) -> None:
    """Both parities made once, untimed."""
    parity_prepare(ctx)
    for argv in ([ctx.uv, "map", ctx.vars["parity_file"], "--parity", str(PARITY_PERCENT)],
                 ["par2", "create", "-q", f"-r{PARITY_PERCENT}", ctx.vars["parity_file"]]):
        done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if done.returncode != 0:
            raise BenchError(f"heal rows: {' '.join(argv)} failed: {done.stderr[-500:]}")


def par2_backups_removed(ctx: Ctx, rnd: int = 0) -> None:
    """par2 repair keeps the damaged file as gib.bin.1: removed."""
    for path in parity_copy(ctx).parent.glob("gib.bin.[0-9]*"):
        path.unlink()


def hashing_excluded_cpu(ctx: Ctx, rnd: int) -> dict:
    """This round's server-cpu-per-GiB server CPU (ours), less the CPU time
    of one `map` of the same file (its map written aside and removed)."""
    received = next(r for r in ctx.runs if (r.pair, r.round, r.side) == ("server-cpu-per-GiB", rnd, "ours"))
    map_path = ctx.work / "hashing-excluded.chunkmap"
    argv = Cmd("{uv} map {gib} -o " + str(map_path)).argv(ctx.values())
    code, cpu, rss, _ = ctx.spawner.run(argv, child_env(), ctx.last_log)
    map_path.unlink(missing_ok=True)
    if code != 0:
        raise BenchError(f"server-cpu-hashing-excluded: map failed ({code}): {' '.join(argv)}")
    return {"rss_kib": rss, "cpu_s": cpu, "server_cpu_s": max(0.0, received.server_cpu_s - cpu),
            "notes": {"map_cpu_s": round(cpu, 3)}}


# --- The client side (#16): download, and a folder of many small files


def remove_download(ctx: Ctx, rnd: int = 0) -> None:
    """{download} and its chunk map: `download` resumes from them, so a
    leftover file would make the next round fetch nothing."""
    for suffix in ("", ".chunkmap"):
        Path(ctx.vars["download"] + suffix).unlink(missing_ok=True)


def downloaded_whole(ctx: Ctx, rnd: int = 0) -> None:
    """{download} has the data file's size. That it has its bytes, the side's
    exit status says: `download` exits 0 only when the SHA-256 it read back
    from the disk is the server's confirmed one (which upload_untimed
    confirmed to be the data file's); curl -f fails on an HTTP error, and
    on a short body (18). No hash pass here: the file is as big as the data."""
    path = Path(ctx.vars["download"])
    size = path.stat().st_size if path.exists() else None
    if size != ctx.bytes:
        raise BenchError(f"{ctx.pair_name}: {path} has {size} bytes, not the data file's {ctx.bytes}")


def download_prepare(ctx: Ctx) -> None:
    """One upload of the data file to our server, completed and confirmed
    with its SHA-256, untimed; the stored file read into the cache."""
    remove_download(ctx)
    if shutil.disk_usage(ctx.work).free <= 2 * ctx.bytes + GiB:
        raise BenchError(f"{ctx.pair_name}: not enough disk in {ctx.work} for the stored upload and the download "
                         f"({2 * ctx.bytes} bytes, +1 GiB margin)")
    upload_untimed("serve", complete=True)(ctx)


def download_finish(ctx: Ctx) -> None:
    remove_download(ctx)
    empty_server("serve")(ctx)


FILES_COUNT, FILE_BYTES = 1000, MiB  # upload-1000x1MiB-files


def files_sums(ctx: Ctx) -> Path:
    """The files' SHA-256s, beside the folder (not in it: the folder is what
    is uploaded)."""
    return Path(ctx.vars["files"] + ".sha256")


def files_prepare(ctx: Ctx) -> None:
    """{files}: FILES_COUNT files of FILE_BYTES each, distinct random
    contents, made once (kept for the next run, like small.bin), with their
    SHA-256s in files_sums; those go to ctx.state["files_sha256"], and the
    files are read into the cache."""
    folder = Path(ctx.vars["files"])
    sums = files_sums(ctx)
    names = [f"file-{i:04d}.bin" for i in range(FILES_COUNT)]
    listed = {}
    if sums.exists():
        for line in sums.read_text().splitlines():
            digest, _, name = line.partition("  ")
            listed[name] = digest
    on_disk = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
    intact = (on_disk == names and sorted(listed) == names
              and all((folder / name).stat().st_size == FILE_BYTES for name in names))
    if not intact:
        log(f"writing {folder} ({FILES_COUNT} files of {FILE_BYTES} random bytes)")
        sums.unlink(missing_ok=True)  # it describes the old files
        fresh_dir(folder)
        listed = {}
        for name in names:
            block = os.urandom(FILE_BYTES)
            (folder / name).write_bytes(block)
            listed[name] = hashlib.sha256(block).hexdigest()
        if len(set(listed.values())) != FILES_COUNT:
            raise BenchError(f"{folder}: two files came out alike")
        tmp = Path(f"{sums}.tmp")
        tmp.write_text("".join(f"{listed[name]}  {name}\n" for name in names))
        os.replace(tmp, sums)  # only a complete set is ever reused
    ctx.state["files_sha256"] = sorted(listed.values())
    subprocess.run(["cat", *(str(folder / name) for name in names)], stdout=subprocess.DEVNULL, check=True)


def confirm_files_complete(ctx: Ctx, rnd: int = 0) -> None:
    """After a side: the server's complete uploads are exactly the folder's
    files, each once, by their SHA-256s (GET /uploads?state=complete, every
    page: at most 1000 uploads a page, `next` the cursor of the next)."""
    port = ctx.resource("serve").port
    found, cursor = [], None
    while True:
        path = "/uploads?state=complete&limit=1000" + (f"&cursor={cursor}" if cursor else "")
        status, _, body = http_request(port, "GET", path)
        try:
            doc = json.loads(body) if status == 200 else None
            uploads, cursor = doc["uploads"], doc.get("next")
        except (ValueError, TypeError, KeyError):
            raise BenchError(f"{ctx.pair_name}: GET {path}: {status} {body[:300]!r}") from None
        found += [u.get("sha256") for u in uploads]
        if not cursor:
            break
    want = ctx.state["files_sha256"]
    if sorted(found, key=str) != want:
        missing = len(set(want) - set(found))
        raise BenchError(f"{ctx.pair_name}: the server holds {len(found)} complete uploads, not the "
                         f"{FILES_COUNT} files of {ctx.vars['files']} ({missing} of them missing)")


# --- The table ----------------------------------------------------------------

BENCH_UPLOAD = "{py} {scripts}/bench_upload.py"
CURL_TO_NGINX = Cmd("curl -sf -H Expect: -T {data} {nginx_url}/data.bin")
RSYNC_TO_DAEMON = Cmd("rsync --inplace --no-whole-file --stats {data} {rsync_url}/data.bin")
SERVER_URL_VAR = {"serve": "serve_url", "serve-fsync": "fsync_url", "baseline": "baseline_url"}
# tus 1.0.0 at /files/: the whole file in ONE PATCH, to this round's upload ({url_serve}, from tus_patch).
TUS_PATCH = Cmd("curl -sf -X PATCH -H 'Tus-Resumable: 1.0.0' -H 'Upload-Offset: 0' "
                "-H 'Content-Type: application/offset+octet-stream' -H 'Expect:' -T {data} {url_serve}")
# tuspy 1.1.0 with its defaults (no Upload-Checksum), 8 MiB per PATCH; the
# SHA-256 announced in the metadata, so that the server confirms it at the
# last byte as it does for `uploadverify upload`. Prints the upload URL.
# (No braces in the code: a Cmd's words are format templates.)
TUSPY_UPLOAD = Cmd("{py} -c 'import sys; from tusclient import client; "
                   "u = client.TusClient(sys.argv[1]).uploader(sys.argv[2], chunk_size=int(sys.argv[3]), "
                   "metadata=dict(sha256=sys.argv[4])); u.upload(); print(u.url)' "
                   f"{{serve_url}}/files/ {{data}} {8 * MiB} {{sha}}")
# upload-1000x1MiB-files: one `upload` of the folder, against one `upload`
# per file, one after the other, in a shell loop (stopping at the first
# that fails), all with one resume-state folder, as a user's would be.
FILES_ONE_RUN = Cmd("{uv} upload {files} --server {serve_url}", env=(("XDG_CACHE_HOME", "{cache}"),))
FILES_RUN_EACH = Cmd("""sh -c 'for f in "$1"/*; do "$0" upload "$f" --server "$2" || exit; done' """
                     "{uv} {files} {serve_url}", env=(("XDG_CACHE_HOME", "{cache}"),))


def receive(name: str, target: Optional[float], chunk_mib: int, connections: int, server: str = "serve",
            **fields) -> Pair:
    """The server receiving one upload from bench_upload.py (a plain client:
    the server's side of the cost only) against nginx's WebDAV PUT of curl -T."""
    return Pair(name, target,
                Cmd(f"{BENCH_UPLOAD} {{{SERVER_URL_VAR[server]}}} {{data}} --chunk-size {chunk_mib * MiB} "
                    f"--connections {connections}"),
                CURL_TO_NGINX,
                cleanup={"ours": empty_server(server), "peer": remove_nginx_upload},
                part="server", needs=(server, "nginx"), **fields)


def our_upload(concurrency: int, server_url: str, file: str, chunk: str, binary: str = "uv") -> Cmd:
    # A fresh resume-state folder per run: otherwise the second round would
    # find the file already uploaded and send nothing.
    return Cmd(f"{{{binary}}} upload {{{file}}} --server {{{server_url}}} --concurrency {concurrency} "
               f"--chunk-size {chunk} --json", env=(("XDG_CACHE_HOME", "{cache}"),))


def tus_patch(ctx: Ctx, rnd: int) -> dict:
    """One tus upload of the data file to our server, timed whole, as the
    receive rows time bench_upload.py with its create: POST /files/
    (Upload-Length), TUS_PATCH (curl, whose CPU time and peak RSS are the
    side's), then GET /uploads/{id}, which must say complete with the data
    file's SHA-256 (the server confirms it from disk before it answers the
    last byte)."""
    server = ctx.resource("serve")
    status, headers, body = http_request(server.port, "POST", "/files/",
                                         {"Tus-Resumable": "1.0.0", "Upload-Length": str(ctx.bytes)})
    if status != 201 or "location" not in headers:
        raise BenchError(f"{ctx.pair_name}: tus create answered {status}: {body[:300]!r}")
    ctx.state["url_serve"] = urljoin(server.url + "/files/", headers["location"])
    values = ctx.values()
    argv = TUS_PATCH.argv(values)
    code, cpu, rss, _ = ctx.spawner.run(argv, TUS_PATCH.environ(values), ctx.last_log)
    if code != 0:
        print("\n".join(ctx.last_log.read_text(errors="replace").splitlines()[-5:]), file=sys.stderr)
        raise BenchError(f"{ctx.pair_name}: ours side failed ({code}): {' '.join(argv)}")
    confirm_complete(ctx, "serve", ctx.state["url_serve"])
    return {"rss_kib": rss, "cpu_s": cpu}


def repair(mib: int) -> Pair:
    """repair (push) after at-rest damage to 3 chunks on the server, against
    rsync --inplace --no-whole-file of the same good file onto a copy with
    the same 3 damaged 1 MiB regions, through an rsync daemon on loopback."""
    return Pair(f"repair-{mib}MiB", 1.25,
                Cmd("{uv} repair {url_serve} --from {data} --json"), RSYNC_TO_DAEMON,
                setup={"ours": damage_upload("serve"), "peer": damage_rsync_copy},
                cleanup={"ours": count_received("serve", "ours"), "peer": count_rsync_sent},
                prepare=repair_prepare(mib, (("uv", "serve"),), rsync_copy=True), finish=remove_rsync_copy,
                part="client", needs=("serve", "rsyncd"), warm=None)


TABLE = [
    # --- local: one pass over the cached file
    # -q: xxhsum otherwise draws a progress line on stderr, even into a file.
    Pair("verify-map", 1.0, Cmd("{uv} verify {data}"), Cmd("xxhsum -q -H3 {data}"), rss_limit=RSS_LIMIT_MIB),
    Pair("verify-sha", 1.0, Cmd("{uv} verify {nomap} --sha256 {sha}"), Cmd("openssl dgst -sha256 {data}"),
         rss_limit=RSS_LIMIT_MIB),
    Pair("verify-map+sha", 1.0, Cmd("{uv} verify {data} --sha256 {sha}"), Cmd("openssl dgst -sha256 {data}"),
         rss_limit=RSS_LIMIT_MIB),
    Pair("map", None, Cmd("{uv} map {data} -o {work}/scratch.chunkmap"), Cmd("openssl dgst -sha256 {data}"),
         rss_limit=RSS_LIMIT_MIB),

    # --- server: receiving uploads against nginx's WebDAV PUT
    # The target: 3 connections of 8 MiB chunks at >= 0.8x nginx's rate, i.e. <= 1.25x its time.
    receive("receive-3x8MiB", 1.25, 8, 3, finish=record_server_peak("serve")),
    receive("receive-fsync", None, 8, 3, server="serve-fsync"),
    receive("receive-1x8MiB", None, 8, 1, rounds="scaling"),
    receive("receive-8x8MiB", None, 8, 8, rounds="scaling"),
    receive("receive-3x1MiB", None, 1, 3, rounds="scaling"),
    receive("receive-3x64MiB", None, 64, 3, rounds="scaling"),
    # tus 1.0.0: the whole file in one PATCH (curl) against the same curl -T
    # to nginx. Ours is timed from its create (POST /files/), as the receive
    # rows time bench_upload.py's POST /uploads, to the GET /uploads/{id} that
    # shows it complete with the data file's SHA-256 (see tus_patch). --no-fsync
    # like receive-3x8MiB. The target: >= 0.9x nginx's rate, i.e. <= 1/0.9 its time.
    Pair("tus-patch-4GiB", 1 / 0.9,
         Call(tus_patch, "POST {serve_url}/files/ (Tus-Resumable: 1.0.0, Upload-Length), then "
                         f"{TUS_PATCH.template}, then GET /uploads/ID: complete, sha256 {{sha}}"),
         CURL_TO_NGINX, cleanup={"ours": empty_server("serve"), "peer": remove_nginx_upload},
         part="server", needs=("serve", "nginx")),
    # complete: what is left to read at completion (SHA-256 of what the
    # background hashing of the verified prefix had not reached, and every
    # chunk's XXH3), then audit: the whole pass again (SHA-256 + every XXH3
    # from disk), both against openssl dgst -sha256 of the same data file.
    # Each round uploads afresh, untimed.
    Pair("complete", None, Cmd("curl -sf -X POST -H 'Repr-Digest: sha-256=:{digest}:' {url_serve}/complete"),
         Cmd("openssl dgst -sha256 {file_serve}"),
         before_round=upload_untimed("serve"), after_round=empty_server("serve"),
         part="server", needs=("serve",), warm=None),
    Pair("audit", 1.0, Cmd("curl -sf -X POST {url_serve}/audit"), Cmd("openssl dgst -sha256 {file_serve}"),
         joins="complete"),
    # serve --parity 5: the completion also writes ID.parity (a thread of its
    # own reads the file beside the completion's pass). Against one read and
    # SHA-256 of the stored file, the pass a completion is: at most 1.3x.
    Pair("complete-with-parity-5pct", 1.3, Cmd("curl -sf -X POST -H 'Repr-Digest: sha-256=:{digest}:' {url_parity}/complete"),
         Cmd("openssl dgst -sha256 {file_parity}"),
         before_round=upload_untimed("parity"), after_round=empty_server("parity"),
         part="server", needs=("parity",), warm=None),
    # Server CPU per GiB received: the server processes' CPU time only (ours,
    # or nginx's master and worker), read once each has gone idle after the run.
    Pair("server-cpu-per-GiB", None,
         Cmd(f"{BENCH_UPLOAD} {{serve_url}} {{gib}} --chunk-size {8 * MiB} --connections 3"),
         Cmd("curl -sf -H Expect: -T {gib} {nginx_url}/data.bin"),
         cleanup={"ours": empty_server("serve"), "peer": remove_nginx_upload},
         prepare=prefix_file("gib", GiB), part="server", needs=("serve", "nginx"),
         cpu_of={"ours": ("serve",), "peer": ("nginx",)}, metric="server-cpu", size="gib", settle=True, warm="gib"),
    # The same rounds' server CPU with the hashing taken out: minus the CPU of
    # one `map` of the file (one read, every XXH3 and the SHA-256), timed in the
    # round. The server hashes more than that (XXH3 twice, the prefix read back
    # for its SHA-256, every chunk read back at completion), so this overstates
    # what is left. The target: at most 1.5x nginx's server CPU.
    Pair("server-cpu-hashing-excluded", 1.5,
         Call(hashing_excluded_cpu, "server-cpu-per-GiB's server CPU minus the CPU of {uv} map {gib} -o MAP"),
         Reuse("server-cpu-per-GiB", "nginx's server CPU (the server-cpu-per-GiB rounds)"),
         joins="server-cpu-per-GiB", metric="server-cpu", size="gib"),
    Pair("mem-per-request", IN_FLIGHT_TARGET_KIB,
         Call(in_flight_probe, "{in_flight} chunk PUTs of 1 MiB in flight, server VmHWM above idle / {in_flight}"), None,
         part="server", rounds="scaling", metric="kib-per-request", size="in_flight", warm=None),

    # --- client: upload, the worker queue over latency, repair vs rsync
    # The target: upload at >= 0.8x the rate of curl -T to nginx, i.e. <= 1.25x
    # its time. Each side's CPU time counts its server's too (nginx: master and
    # worker), for the floor the report gives: 2 cores can go no faster than
    # that CPU time allows.
    Pair("upload-3x8MiB", 1.25, our_upload(3, "serve_url", "data", "8MiB"), CURL_TO_NGINX,
         cleanup={"ours": empty_server("serve", caches=True), "peer": remove_nginx_upload},
         part="client", needs=("serve", "nginx"), cpu_of={"ours": ("serve",), "peer": ("nginx",)},
         add_server_cpu=True),
    # A stock tus client, tuspy 1.1.0 in 8 MiB PATCHes to /files/, against our
    # own upload of the same file (upload-3x8MiB's command); each checked
    # complete with the data file's SHA-256 (tuspy's by GET /uploads/{id},
    # untimed). Reported: the ratio is tuspy's time / ours.
    Pair("tuspy-8MiB", None, TUSPY_UPLOAD, our_upload(3, "serve_url", "data", "8MiB"),
         cleanup={"ours": confirm_printed_upload("serve"), "peer": empty_server("serve", caches=True)},
         part="client", needs=("serve",)),
    # The worker queue over 20 ms of round trip (10 ms each way), on a 256 MiB
    # file in 1 MiB chunks: many requests, so the round trips are what counts
    # (with 8 MiB chunks the Python proxy's own throughput caps every run).
    # The target: --concurrency 3 at least 2x faster than 1, i.e. <= 0.5x its time.
    Pair("latency-c3-vs-c1", 0.5, our_upload(3, "proxy_url", "small", "1MiB"),
         our_upload(1, "proxy_url", "small", "1MiB"),
         cleanup={"ours": empty_server("serve", caches=True), "peer": empty_server("serve", caches=True)},
         prepare=prefix_file("small", 256 * MiB), part="client", needs=("serve", "proxy"), rounds="scaling",
         size="small"),
    Pair("latency-c8-vs-c1", None, our_upload(8, "proxy_url", "small", "1MiB"),
         our_upload(1, "proxy_url", "small", "1MiB"),
         cleanup={"ours": empty_server("serve", caches=True), "peer": empty_server("serve", caches=True)},
         prepare=prefix_file("small", 256 * MiB), part="client", needs=("serve", "proxy"), rounds="scaling",
         size="small"),
    repair(1),
    # The floor: one SHA-256 pass over the file, against this round's rsync. A
    # repair that confirms the SHA-256 must hash everything from the first
    # damaged chunk on after that chunk is mended, in one stream on one core:
    # at least 97.5% of this pass here.
    Pair("sha256-pass", None, Cmd("openssl dgst -sha256 {data}"),
         Reuse("repair-1MiB", "rsync --inplace --no-whole-file (the repair-1MiB rounds)"),
         joins="repair-1MiB", rss_limit=RSS_LIMIT_MIB),
    repair(8),
    # Block-level repair (#15): 3 single bytes flipped at rest in the server's
    # copy of an 8 MiB-chunk upload, in 3 chunks far apart (made once, mended
    # by each round's repair). Time: against one SHA-256 pass over the stored
    # file, the floor of a repair that confirms the whole file's SHA-256;
    # target 1.1x. Wire bytes (the joined row): the body bytes the server
    # took in for the repair (its block writes and any chunk PUTs) against
    # rsync --inplace --no-whole-file's "Total bytes sent" of the good file
    # onto a daemon copy with the same 3 bytes flipped; target 0.1x. Its time
    # column is the repair's against rsync's, reported.
    Pair("repair-3-bytes", 1.1, Cmd("{uv} repair {url_serve} --from {data} --json"),
         Cmd("openssl dgst -sha256 {file_serve}"),
         setup={"ours": flip_upload("serve")}, cleanup={"ours": count_block_repair("serve")},
         prepare=repair_prepare(FLIP_CHUNK // MiB, (("uv", "serve"),), rsync_copy=True), finish=remove_rsync_copy,
         part="client", needs=("serve", "rsyncd"), warm=None),
    Pair("repair-3-bytes-wire", 0.1,
         Reuse("repair-3-bytes", "the repair-3-bytes rounds' repair: server body bytes in", side="ours"),
         RSYNC_TO_DAEMON, setup={"peer": flip_rsync_copy},
         cleanup={"ours": note_block_repair, "peer": count_rsync_mended}, joins="repair-3-bytes",
         metric="wire-bytes"),
    # The client side (#16). download: `download` of a complete upload
    # (chunks checked on arrival, the SHA-256 read back from disk and
    # confirmed) against curl -sf -o of GET /uploads/{id}/data, both from our
    # server (--no-fsync) into $WORK; the upload made once, untimed, and the
    # download and its chunk map removed before each side. The target: at
    # least 0.8x curl's rate, i.e. <= 1/0.8 its time.
    Pair("download-4GiB", 1 / 0.8, Cmd("{uv} download {url_serve} -o {download}"),
         Cmd("curl -sf -o {download} {url_serve}/data"),
         setup={"ours": remove_download, "peer": remove_download},
         cleanup={"ours": downloaded_whole, "peer": downloaded_whole},
         prepare=download_prepare, finish=download_finish, part="client", needs=("serve",),
         cpu_of={"ours": ("serve",), "peer": ("serve",)}, add_server_cpu=True, warm=None),
    # A folder of 1,000 files of 1 MiB (random, made once): one `upload DIR`
    # against 1,000 `upload FILE` runs one after the other; the server and
    # the resume state emptied before each side, and the server checked to
    # hold the 1,000 files complete after it (untimed). The target: at least
    # 5x faster, i.e. <= 0.2x the time. BENCH_SCALING_ROUNDS: the peer takes
    # one to two minutes a round here.
    Pair("upload-1000x1MiB-files", 0.2, FILES_ONE_RUN, FILES_RUN_EACH,
         setup={"ours": empty_server("serve", caches=True), "peer": empty_server("serve", caches=True)},
         cleanup={"ours": confirm_files_complete, "peer": confirm_files_complete},
         prepare=files_prepare, finish=empty_server("serve", caches=True), part="client", needs=("serve",),
         rounds="scaling", cpu_of={"ours": ("serve",), "peer": ("serve",)}, add_server_cpu=True, size="files",
         warm=None),

    # --- parity (on the 1 GiB file: par2 takes about 42 s for it). Creating
    # parity at 5%: at least 50x faster than par2 create, i.e. <= 0.02x its
    # time (ours also writes the chunk map and the SHA-256 in the same pass).
    Pair("parity-create-5pct", 1 / 50, Cmd(f"{{uv}} map {{parity_file}} --parity {PARITY_PERCENT}"),
         Cmd(f"par2 create -q -r{PARITY_PERCENT} {{parity_file}}"),
         cleanup={"ours": remove_parity_outputs, "peer": remove_parity_outputs}, prepare=parity_prepare,
         part="local", rounds="scaling", size="gib", warm="gib"),
    # Healing three damaged chunks (one byte in each), the SHA-256 confirmed
    # after, against par2 repair of the same damage: at least 20x faster.
    Pair("parity-heal-3-chunks", 1 / 20, Cmd("{uv} repair {parity_file}"), Cmd("par2 repair -q {parity_file}.par2"),
         setup={"ours": damage_three_chunks, "peer": damage_three_chunks}, cleanup={"peer": par2_backups_removed},
         prepare=heal_prepare, finish=remove_parity_outputs, part="local", rounds="scaling", size="gib", warm="gib"),

    # --- several nodes (as root, with scripts/install-deps.sh --cluster): the
    # target is that coordination does not collapse when the nodes share 2
    # cores: 3 nodes at least 0.8x the aggregate rate of 1, i.e. <= 1.25x its
    # time. The volume's cost against local disk is reported.
    cluster_pair("cluster-3-vs-1-node", 1.25, 3, 1),
    cluster_pair("cluster-2-vs-1-node", None, 2, 1),
    cluster_pair("cluster-1-node-vs-local-disk", None, 1, None),

    # --- baseline: this binary against the build of BENCH_BASELINE
    versus_baseline("receive-3x8MiB", lambda uv, server: Cmd(
        f"{BENCH_UPLOAD} {{{SERVER_URL_VAR[server]}}} {{data}} --chunk-size {8 * MiB} --connections 3"),
        cleanup=each(empty_server)),
    versus_baseline("complete", lambda uv, server: Cmd(
        f"curl -sf -X POST -H 'Repr-Digest: sha-256=:{{digest}}:' {{url_{server}}}/complete"),
        before_round=upload_untimed("serve", "baseline"), after_round=empty_server("serve", "baseline"), warm=None),
    versus_baseline("audit", lambda uv, server: Cmd(f"curl -sf -X POST {{url_{server}}}/audit"),
                    joins="base/complete"),
    versus_baseline("upload-3x8MiB", lambda uv, server: our_upload(3, SERVER_URL_VAR[server], "data", "8MiB", uv),
                    cleanup=each(lambda server: empty_server(server, caches=True)),
                    cpu_of={"ours": ("serve",), "peer": ("baseline",)}, add_server_cpu=True),
    versus_baseline("repair-1MiB", lambda uv, server: Cmd(f"{{{uv}}} repair {{url_{server}}} --from {{data}} --json"),
                    setup=each(damage_upload),
                    cleanup={"ours": count_received("serve", "ours"), "peer": count_received("baseline", "baseline")},
                    prepare=repair_prepare(1, (("uv", "serve"), ("uv_base", "baseline")), rsync_copy=False),
                    warm=None),
]
PARTS = ("local", "server", "client", "cluster", "baseline")


# --- Processes: CPU time, memory ----------------------------------------------

# exec() folds the old address space's peak RSS into the new program's
# ru_maxrss, so a command forked from this process (tens of MiB, and more
# after the in-flight row) would report at least that. This spawner, a
# separate minimal interpreter, starts each timed command with posix_spawn
# (default SIGINT and SIGPIPE, as subprocess gives), waits for it with
# os.wait4 and sends back its exit code, CPU time, peak RSS and wall time.
# Its own ~8 MiB is then the floor of a command's peak RSS (/usr/bin/time,
# which bench.sh used, had ~1 MiB): it matters only for the small peer tools.
SPAWNER = r'''
import marshal, os, signal, sys, time
signal.signal(signal.SIGINT, signal.SIG_IGN)  # the bench stops it, after its command
inp, out = sys.stdin.buffer, sys.stdout.buffer
def say(*message):  # a 4-byte length, then the message in marshal's format
    data = marshal.dumps(message)
    out.write(len(data).to_bytes(4, "big") + data)
    out.flush()
while True:
    head = inp.read(4)
    if len(head) < 4:
        break
    argv, env, log = marshal.loads(inp.read(int.from_bytes(head, "big")))
    actions = [(os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
               (os.POSIX_SPAWN_OPEN, 1, log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
               (os.POSIX_SPAWN_DUP2, 1, 2)]
    start = time.perf_counter()
    try:
        pid = os.posix_spawnp(argv[0], argv, env, file_actions=actions,
                              setsigdef=(signal.SIGINT, signal.SIGPIPE, signal.SIGXFSZ))
    except OSError as e:
        say("error", str(e))
        continue
    say("started", pid)
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - start
    say("done", os.waitstatus_to_exitcode(status), usage.ru_utime + usage.ru_stime, usage.ru_maxrss, wall)
'''


class Spawner(contextlib.AbstractContextManager):
    """The process that starts and waits for every timed command (SPAWNER)."""

    def __enter__(self):
        self.proc = subprocess.Popen([sys.executable, "-S", "-I", "-c", SPAWNER], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, cwd=REPO)
        return self

    def _receive(self) -> tuple:
        # Framed by hand: marshal.load on a pipe turns an interrupted read
        # (KeyboardInterrupt from SIGINT or SIGTERM) into an EOFError.
        head = self.proc.stdout.read(4)
        data = self.proc.stdout.read(int.from_bytes(head, "big")) if len(head) == 4 else b""
        if not data:
            raise BenchError(f"the command spawner died ({self.proc.poll()})")
        return marshal.loads(data)

    def run(self, argv: list, env: dict, log_path: Path) -> tuple:
        """(exit code, CPU seconds, peak RSS KiB, wall seconds) of one command."""
        data = marshal.dumps((argv, env, str(log_path)))
        try:
            self.proc.stdin.write(len(data).to_bytes(4, "big") + data)
            self.proc.stdin.flush()
        except OSError as e:
            raise BenchError(f"the command spawner died: {e}") from None
        kind, detail = self._receive()
        if kind == "error":
            raise BenchError(f"cannot start {argv[0]}: {detail}")
        try:
            _, code, cpu, rss, wall = self._receive()
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                os.kill(detail, signal.SIGKILL)  # the command, on an interrupt
            raise
        return code, cpu, rss, wall

    def __exit__(self, *exc):
        with contextlib.suppress(OSError):
            self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()
        return False

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_ticks(pids) -> int:
    """CPU time (user + system) the processes have used so far, in clock
    ticks: fields 14 and 15 of /proc/PID/stat, which cover all its threads."""
    total = 0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        total += int(fields[11]) + int(fields[12])
    return total


def children_of(pid: int) -> list:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2:].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def proc_status_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise BenchError(f"/proc/{pid}/status has no {key}")


def settle(pids, quiet: float = 0.5, limit: float = 15.0) -> None:
    """Wait until the processes have used no CPU for QUIET seconds."""
    deadline = time.monotonic() + limit
    last = cpu_ticks(pids)
    while time.monotonic() < deadline:
        time.sleep(quiet)
        now = cpu_ticks(pids)
        if now == last:
            return
        last = now


def warm(path: Path) -> None:
    """Read a file once, so that its pages are in the cache (a build or a
    previous pair may have evicted them)."""
    subprocess.run(["cat", str(path)], stdout=subprocess.DEVNULL, check=True)


def run_untimed(ctx: Ctx, argv: list, env: Optional[dict] = None) -> str:
    result = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env or child_env(), cwd=REPO)
    if result.returncode != 0:
        raise BenchError(f"{' '.join(argv)} failed ({result.returncode}): {result.stderr.strip()[-500:]}")
    return result.stdout


def http_request(port: int, method: str, path: str, headers: Optional[dict] = None, timeout: float = 30):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, headers=headers or {})
        answer = conn.getresponse()
        body = answer.read()
        return answer.status, {k.lower(): v for k, v in answer.getheaders()}, body
    finally:
        conn.close()


def body_bytes_in(port: int) -> int:
    """The body bytes our server has taken in so far: chunk PUTs and appends
    (uploadverify_bytes_received_total) plus block writes, PATCH
    .../chunks/{index} (uploadverify_block_bytes_written_total: a block write
    counts there only, so no byte is counted twice; a server without block
    writes has no such counter)."""
    _, _, body = http_request(port, "GET", "/metrics")
    counters = {"uploadverify_bytes_received_total": 0, "uploadverify_block_bytes_written_total": 0}
    for line in body.decode(errors="replace").splitlines():
        words = line.split()
        if len(words) == 2 and words[0] in counters:
            counters[words[0]] = int(float(words[1]))
    return sum(counters.values())


# --- Servers, as context managers ---------------------------------------------


class Server(contextlib.AbstractContextManager):
    """A server process: started, and waited for, on entry; on exit, however
    the block ends (error, KeyboardInterrupt), sent SIGTERM (SIGKILL after
    10 s) with its whole process group, and its directories removed."""

    def __init__(self, name: str, argv: list, log_path: Path, ready: Callable[[], bool],
                 remove: tuple = (), port: int = 0):
        self.name, self.argv, self.log_path, self.ready, self.remove, self.port = \
            name, argv, log_path, ready, remove, port
        self.proc: Optional[subprocess.Popen] = None
        self._log = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def pids(self) -> list:
        return [self.proc.pid]

    def __enter__(self):
        try:
            self._log = open(self.log_path, "wb")
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=self._log,
                                         stderr=subprocess.STDOUT, start_new_session=True, env=child_env())
            deadline = time.monotonic() + 10
            while not self._ready():
                if self.proc.poll() is not None:
                    raise BenchError(f"{self.name} exited at start ({self.proc.returncode}; log: {self.log_path})")
                if time.monotonic() > deadline:
                    raise BenchError(f"{self.name} did not start (log: {self.log_path})")
                time.sleep(0.2)
        except BaseException:
            self._stop()
            raise
        return self

    def _ready(self) -> bool:
        try:
            return self.ready()
        except (OSError, http.client.HTTPException):
            return False

    def __exit__(self, *exc):
        self._stop()
        return False

    def _stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, sig)
                try:
                    self.proc.wait(wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
        if self.proc is not None:  # what is left of its group (nginx's workers)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        if self._log:
            self._log.close()
        for path in self.remove:
            if Path(path).is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                Path(path).unlink(missing_ok=True)


class Nginx(Server):
    def pids(self) -> list:
        return [self.proc.pid, *children_of(self.proc.pid)]


def fresh_dir(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def healthy(port: int) -> Callable[[], bool]:
    return lambda: http_request(port, "GET", "/healthz", timeout=2)[0] == 200


def answers(port: int) -> Callable[[], bool]:
    return lambda: http_request(port, "GET", "/", timeout=2)[0] > 0


def listening(port: int) -> Callable[[], bool]:
    def check() -> bool:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True

    return check


def uv_server(ctx: Ctx, name: str, binary: str, dirname: str, port: int, fsync: bool, extra: tuple = ()) -> Server:
    data_dir = fresh_dir(ctx.work / dirname)
    argv = [binary, "serve", "--data-dir", str(data_dir), "--port", str(port)] + ([] if fsync else ["--no-fsync"]) + list(extra)
    server = Server(name, argv, ctx.work / f"{name}.log", healthy(port), remove=(data_dir,), port=port)
    server.data_dir = data_dir
    return server


def nginx_server(ctx: Ctx) -> Server:
    """STACK.md's peer: WebDAV PUT, 1 MiB body buffer, no size limit, no fsync."""
    base = ctx.work / "nginx"
    shutil.rmtree(base, ignore_errors=True)
    for sub in ("root", "tmp", "logs"):
        (base / sub).mkdir(parents=True)
    # As root, the workers must write where the bench cleans up.
    user = "user root;\n" if os.geteuid() == 0 else ""
    (base / "nginx.conf").write_text(f"""daemon off;
worker_processes 1;
{user}error_log {base}/logs/error.log;
pid {base}/nginx.pid;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {base}/tmp;
    server {{
        listen 127.0.0.1:{NGINX_PORT};
        root {base}/root;
        client_body_buffer_size 1m;
        client_max_body_size 0;
        location / {{ dav_methods PUT; create_full_put_path on; }}
    }}
}}
""")
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    server = Nginx("nginx", [binary, "-p", str(base), "-c", str(base / "nginx.conf")], base / "logs" / "stdout",
                   answers(NGINX_PORT), remove=(base,), port=NGINX_PORT)
    server.root = base / "root"
    return server


def rsync_daemon(ctx: Ctx) -> Server:
    module = fresh_dir(ctx.work / "rsync")
    conf = ctx.work / "rsyncd.conf"
    ids = "    uid = root\n    gid = root\n" if os.geteuid() == 0 else ""
    conf.write_text(f"pid file = {ctx.work}/rsyncd.pid\nuse chroot = false\n[bench]\n"
                    f"    path = {module}\n    read only = false\n{ids}")
    server = Server("rsyncd", ["rsync", "--daemon", "--no-detach", f"--config={conf}", f"--port={RSYNC_PORT}",
                               "--address=127.0.0.1"], ctx.work / "rsyncd.log", listening(RSYNC_PORT),
                    remove=(module, conf, ctx.work / "rsyncd.pid"), port=RSYNC_PORT)
    server.module = module
    return server


def delay_proxy(ctx: Ctx) -> Server:
    """20 ms of round trip (10 ms each way) in front of our server."""
    return Server("delay-proxy", [sys.executable, str(SCRIPTS / "delay_proxy.py"), str(PROXY_PORT), str(SERVE_PORT),
                                  "0.010"], ctx.work / "delay-proxy.log", listening(PROXY_PORT), port=PROXY_PORT)


RESOURCES = {
    "serve": lambda ctx: uv_server(ctx, "serve", ctx.uv, "srv", SERVE_PORT, fsync=False),
    "serve-fsync": lambda ctx: uv_server(ctx, "serve-fsync", ctx.uv, "srv-fsync", FSYNC_PORT, fsync=True),
    "baseline": lambda ctx: uv_server(ctx, "serve-baseline", ctx.uv_base, "srv-base", BASELINE_PORT, fsync=False),
    "parity": lambda ctx: uv_server(ctx, "serve-parity", ctx.uv, "srv-parity", PARITY_PORT, fsync=False,
                                    extra=("--parity", str(PARITY_PERCENT))),
    "nginx": nginx_server,
    "rsyncd": rsync_daemon,
    "proxy": delay_proxy,
}


# --- Running the table --------------------------------------------------------


@dataclasses.dataclass
class Run:
    pair: str
    round: int
    side: str
    wall_s: float
    rss_kib: int
    cpu_s: float
    server_cpu_s: Optional[float] = None
    value: Optional[float] = None


class Ctx:
    """Everything a row's commands and hooks can name."""

    def __init__(self, work: Path, uv: str, uv_base: Optional[str], base_label: str, data: Path, sha: str,
                 size: int, rounds: int, scaling_rounds: int, in_flight: int, samples_path: Path):
        self.work, self.uv, self.uv_base, self.data, self.sha = work, uv, uv_base, data, sha
        self.bytes, self.rounds, self.scaling_rounds, self.in_flight = size, rounds, scaling_rounds, in_flight
        self.last_log = work / "last-run.log"
        self.resources: dict = {}
        self.state: dict = {}  # per row: this round's upload URLs and files, counters
        self.pair_name = ""
        self.runs: list = []
        self._cache_count = 0
        self.vars = {
            "uv": uv, "uv_base": uv_base or "", "data": str(data), "nomap": f"{data}.nomap", "sha": sha,
            "digest": base64.b64encode(bytes.fromhex(sha)).decode(), "work": str(work),
            "small": str(work / "small.bin"), "gib": str(work / "gib.bin"), "parity_file": str(work / "parity" / "gib.bin"), "py": sys.executable,
            "download": str(work / "download.bin"), "files": str(work / "files-1000x1MiB"),
            "scripts": str(SCRIPTS), "in_flight": str(in_flight),
            "serve_url": f"http://127.0.0.1:{SERVE_PORT}", "fsync_url": f"http://127.0.0.1:{FSYNC_PORT}",
            "baseline_url": f"http://127.0.0.1:{BASELINE_PORT}", "nginx_url": f"http://127.0.0.1:{NGINX_PORT}",
            "proxy_url": f"http://127.0.0.1:{PROXY_PORT}", "rsync_url": f"rsync://127.0.0.1:{RSYNC_PORT}/bench",
        }
        # How commands are shown in the report and results.tsv.
        self.shown = dict(self.vars, uv="uploadverify", uv_base=f"uploadverify@{base_label}", data="$DATA",
                          nomap="$DATA.nomap", sha="$SHA", digest="$DIGEST", work="$WORK",
                          small="$WORK/small.bin", gib="$WORK/gib.bin", parity_file="$WORK/parity/gib.bin", py="python3", scripts="scripts",
                          download="$WORK/download.bin", files="$WORK/files-1000x1MiB",
                          url_serve="$URL", file_serve="$WORK/srv/ID", url_baseline="$BASELINE_URL",
                          url_parity="$PARITY_URL", file_parity="$WORK/srv-parity/ID",
                          file_baseline="$WORK/srv-base/ID", cache="$WORK/cache-N")
        self.out = open(samples_path, "w")
        self.out.write(SAMPLES_MAGIC + "\n# records: meta KEY VALUE | pair NAME TARGET METRIC ADD_SERVER_CPU BYTES "
                       "RSS_LIMIT_MIB OURS PEER | run NAME ROUND SIDE WALL_US PEAK_RSS_KIB CPU_US SERVER_CPU_US "
                       "VALUE | note NAME ROUND KEY VALUE\n")

    def __enter__(self):
        self.spawner = Spawner().__enter__()
        return self

    def __exit__(self, *exc):
        self.spawner.__exit__(*exc)
        self.out.close()
        return False

    def resource(self, name: str):
        return self.resources[name]

    def values(self) -> dict:
        self._cache_count += 1
        return {**self.vars, **self.state, "cache": str(self.work / f"cache-{self._cache_count}")}

    def remove_caches(self) -> None:
        for path in self.work.glob("cache-*"):
            shutil.rmtree(path, ignore_errors=True)

    def size_of(self, key: str) -> int:
        return {"data": self.bytes, "small": min(256 * MiB, self.bytes), "gib": min(GiB, self.bytes),
                "cluster": CLUSTER_UPLOADS * min(256 * MiB, self.bytes), "files": FILES_COUNT * FILE_BYTES,
                "in_flight": self.in_flight * MiB}[key]

    def rounds_of(self, pair: Pair) -> int:
        return {"rounds": self.rounds, "scaling": self.scaling_rounds}.get(pair.rounds, pair.rounds)

    def write(self, *fields) -> None:
        self.out.write("\t".join(str(f) for f in fields) + "\n")
        self.out.flush()

    def note(self, key: str, value, rnd: int = 0) -> None:
        self.write("note", self.pair_name, rnd, key, value)


def show(side: Optional[Side], ctx: Ctx) -> str:
    return "-" if side is None else side.display(ctx.shown)


def measure(ctx: Ctx, pair: Pair, rnd: int, side_name: str, side: Side) -> Run:
    servers = [pid for name in pair.cpu_of.get(side_name, ()) for pid in ctx.resource(name).pids()]
    if isinstance(side, Reuse):
        source = next(r for r in ctx.runs if (r.pair, r.round, r.side) == (side.pair, rnd, side.side))
        return dataclasses.replace(source, pair=pair.name, side=side_name)
    ticks_before = cpu_ticks(servers)
    if isinstance(side, Call):
        start = time.perf_counter()
        got = side.fn(ctx, rnd)
        wall = time.perf_counter() - start
        for key, value in got.get("notes", {}).items():
            ctx.note(key, value, rnd)
        server_cpu = got.get("server_cpu_s")
        return Run(pair.name, rnd, side_name, wall, int(got.get("rss_kib", 0)), got.get("cpu_s", 0.0),
                   server_cpu, got.get("value"))
    values = ctx.values()
    argv, env = side.argv(values), side.environ(values)
    # Output goes to a file, never a terminal (no progress bar), and is kept
    # to explain a failure.
    code, cpu, rss, wall = ctx.spawner.run(argv, env, ctx.last_log)
    if pair.settle:
        settle(servers)
    ticks_after = cpu_ticks(servers)
    if code != 0:
        tail = ctx.last_log.read_text(errors="replace").splitlines()[-5:]
        print("\n".join(tail), file=sys.stderr)
        raise BenchError(f"{pair.name}: {side_name} side failed ({code}): {' '.join(argv)}")
    return Run(pair.name, rnd, side_name, wall, rss, cpu, (ticks_after - ticks_before) / CLK_TCK if servers else None)


def record(ctx: Ctx, run: Run) -> None:
    ctx.runs.append(run)
    ctx.write("run", run.pair, run.round, run.side, round(run.wall_s * 1e6), run.rss_kib, round(run.cpu_s * 1e6),
              "-" if run.server_cpu_s is None else round(run.server_cpu_s * 1e6),
              "-" if run.value is None else f"{run.value:.3f}")


def run_group(ctx: Ctx, lead: Pair, joined: list) -> None:
    rounds = ctx.rounds_of(lead)
    group = [lead, *joined]
    log(f"{' + '.join(p.name for p in group)} ({rounds} rounds): "
        + "; ".join(f"{show(p.ours, ctx)}  vs  {show(p.peer, ctx)}" for p in group))
    ctx.state = {}
    ctx.pair_name = lead.name
    if lead.prepare:
        lead.prepare(ctx)
    if lead.warm:
        warm(Path(ctx.vars[lead.warm]))
    for p in group:
        ctx.write("pair", p.name, "-" if p.target is None else repr(float(p.target)), p.metric,
                  int(p.add_server_cpu), ctx.size_of(p.size), "-" if p.rss_limit is None else repr(p.rss_limit),
                  show(p.ours, ctx), show(p.peer, ctx))
    for rnd in range(1, rounds + 1):
        ctx.pair_name = lead.name
        if lead.before_round:
            lead.before_round(ctx, rnd)
        for p in group:
            ctx.pair_name = p.name
            for side_name in ("ours", "peer"):
                side = getattr(p, side_name)
                if side is None:
                    continue
                if side_name in p.setup:
                    p.setup[side_name](ctx, rnd)
                record(ctx, measure(ctx, p, rnd, side_name, side))
                if side_name in p.cleanup:
                    p.cleanup[side_name](ctx, rnd)
        ctx.pair_name = lead.name
        if lead.after_round:
            lead.after_round(ctx, rnd)
    ctx.pair_name = lead.name
    if lead.finish:
        lead.finish(ctx)


def groups_of(table: list) -> list:
    """[(lead, [pairs that join its rounds])], in table order."""
    groups, by_name = [], {}
    for p in table:
        if p.joins:
            by_name[p.joins][1].append(p)
        else:
            by_name[p.name] = (p, [])
            groups.append(by_name[p.name])
    return groups


def selected_groups(table: list, only: str, patterns: Optional[list], with_baseline: bool) -> list:
    chosen = []
    for lead, joined in groups_of(table):
        if lead.part == "baseline" and not with_baseline:
            continue
        if only != "all" and lead.part != only:
            continue
        if patterns and not any(fnmatch.fnmatchcase(p.name, pat) for p in (lead, *joined) for pat in patterns):
            continue
        chosen.append((lead, joined))
    return chosen


def run_table(ctx: Ctx, groups: list) -> None:
    """Each part starts its servers afresh when a row first needs them and
    stops them all when the part ends, or when anything goes wrong."""
    stack, part = contextlib.ExitStack(), None
    with stack:
        for lead, joined in groups:
            if lead.part != part:
                stack.close()
                ctx.resources = {}
                part = lead.part
            for name in lead.needs:
                if name not in ctx.resources:
                    ctx.resources[name] = stack.enter_context(RESOURCES[name](ctx))
            run_group(ctx, lead, joined)


# --- Samples file and report (pure) -------------------------------------------


@dataclasses.dataclass
class PairInfo:
    name: str
    target: Optional[float]
    metric: str
    add_server_cpu: bool
    bytes: int
    rss_limit: Optional[float]
    ours_cmd: str
    peer_cmd: str


@dataclasses.dataclass
class Samples:
    meta: dict
    pairs: list
    runs: list
    notes: list  # (pair, round, key, value)


def parse_samples(text: str) -> Samples:
    lines = text.splitlines()
    if not lines or lines[0] != SAMPLES_MAGIC:
        raise BenchError(f"not a samples file of scripts/bench.py (its first line is not {SAMPLES_MAGIC!r})")
    samples = Samples({}, [], [], [])
    optional = lambda f, cast: None if f == "-" else cast(f)
    for number, line in enumerate(lines, 1):
        if not line or line.startswith("#"):
            continue
        f = line.split("\t")
        try:
            if f[0] == "meta":
                samples.meta[f[1]] = f[2]
            elif f[0] == "pair":
                samples.pairs = [p for p in samples.pairs if p.name != f[1]]
                samples.pairs.append(PairInfo(f[1], optional(f[2], float), f[3], f[4] == "1", int(f[5]),
                                              optional(f[6], float), f[7], f[8]))
            elif f[0] == "run":
                samples.runs.append(Run(f[1], int(f[2]), f[3], int(f[4]) / 1e6, int(f[5]), int(f[6]) / 1e6,
                                        optional(f[7], lambda v: int(v) / 1e6), optional(f[8], float)))
            elif f[0] == "note":
                samples.notes.append((f[1], int(f[2]), f[3], f[4]))
            else:
                raise ValueError(f"unknown record {f[0]!r}")
        except (IndexError, ValueError) as e:
            raise BenchError(f"samples line {number}: {e}: {line!r}") from None
    return samples


def _ratio(a: float, b: float) -> float:
    return a / b if b else math.inf


@dataclasses.dataclass
class Summary:
    """One pair's figures: medians over its rounds, per-round ratios."""

    info: PairInfo
    ours: list
    peer: list
    ratios: list  # per round, wall time ours / peer
    ratio: Optional[float]
    t_ours: float
    t_peer: Optional[float]
    cpu_ours: float
    cpu_peer: Optional[float]
    scpu_ours: Optional[float]
    scpu_peer: Optional[float]
    rss_ours: float  # MiB, the peak over the rounds
    rss_peer: Optional[float]
    metric_ours: float  # the metric's own unit: s, server CPU s per GiB, KiB per request
    metric_peer: Optional[float]
    metric_ratios: list
    metric_ratio: Optional[float]
    verdict: str  # PASS, FAIL or info, on the row's metric
    rss_verdict: str  # PASS, FAIL or -


def notes_by_pair(samples: Samples) -> dict:
    """{pair: {round: {key: value}}}."""
    notes: dict = {}
    for pair, rnd, key, value in samples.notes:
        notes.setdefault(pair, {}).setdefault(rnd, {})[key] = value
    return notes


def wire_counts(by_round: dict) -> list:
    """[(round, ours, peer)] for the rounds that noted both sides' wire bytes:
    wire_bytes_ours and one other wire_bytes_ key, the peer's."""
    out = []
    for rnd, keys in sorted(by_round.items()):
        peer = [v for k, v in keys.items() if k.startswith("wire_bytes_") and k != "wire_bytes_ours"]
        if "wire_bytes_ours" in keys and len(peer) == 1:
            out.append((rnd, int(keys["wire_bytes_ours"]), int(peer[0])))
    return out


def summarize(samples: Samples) -> list:
    notes = notes_by_pair(samples)
    by_side: dict = {}
    for r in samples.runs:
        by_side.setdefault((r.pair, r.side), {})[r.round] = r
    out = []
    for p in samples.pairs:
        ours = [v for _, v in sorted(by_side.get((p.name, "ours"), {}).items())]
        peer = [v for _, v in sorted(by_side.get((p.name, "peer"), {}).items())]
        one_sided = p.metric == "kib-per-request"
        if not ours or (not one_sided and not peer):
            continue  # a pair the run did not reach
        peer_by_round = {r.round: r for r in peer}
        matched = [(o, peer_by_round[o.round]) for o in ours if o.round in peer_by_round]
        cpu = lambda r: r.cpu_s + ((r.server_cpu_s or 0.0) if p.add_server_cpu else 0.0)
        med = lambda runs, f: statistics.median(f(r) for r in runs) if runs else None
        scpu = lambda runs: (statistics.median(r.server_cpu_s for r in runs)
                             if runs and all(r.server_cpu_s is not None for r in runs) else None)
        ratios = [_ratio(o.wall_s, q.wall_s) for o, q in matched]
        s = Summary(p, ours, peer, ratios, statistics.median(ratios) if ratios else None,
                    med(ours, lambda r: r.wall_s), med(peer, lambda r: r.wall_s), med(ours, cpu), med(peer, cpu),
                    scpu(ours), scpu(peer), max(r.rss_kib for r in ours) / 1024,
                    max(r.rss_kib for r in peer) / 1024 if peer else None,
                    0.0, None, [], None, "info", "-")
        if p.metric == "time":
            s.metric_ours, s.metric_peer, s.metric_ratios, s.metric_ratio = s.t_ours, s.t_peer, ratios, s.ratio
        elif p.metric == "server-cpu":
            gib = p.bytes / GiB
            s.metric_ours = s.scpu_ours / gib
            s.metric_peer = s.scpu_peer / gib
            s.metric_ratios = [_ratio(o.server_cpu_s, q.server_cpu_s) for o, q in matched]
            s.metric_ratio = statistics.median(s.metric_ratios)
        elif p.metric == "wire-bytes":
            counts = [c for c in wire_counts(notes.get(p.name, {})) if c[0] in peer_by_round]
            if counts:
                s.metric_ours = statistics.median(o for _, o, _ in counts)
                s.metric_peer = statistics.median(q for _, _, q in counts)
                s.metric_ratios = [_ratio(o, q) for _, o, q in counts]
                s.metric_ratio = statistics.median(s.metric_ratios)
        elif one_sided:
            s.metric_ours = med(ours, lambda r: r.value)
        if p.target is not None:
            judged = s.metric_ours if one_sided else s.metric_ratio
            s.verdict = "FAIL" if judged is None else "PASS" if judged <= p.target else "FAIL"
        if p.rss_limit is not None:
            s.rss_verdict = "PASS" if s.rss_ours < p.rss_limit else "FAIL"
        out.append(s)
    return out


RESULT_COLUMNS = [
    "pair", "bytes", "rounds", "ours_median_s", "peer_median_s", "median_ratio",
    "ours_gib_s", "peer_gib_s", "ours_peak_rss_mib", "peer_peak_rss_mib",
    "target_ratio", "time_verdict", "rss_verdict", "ours_cmd", "peer_cmd",
    "ours_median_cpu_s", "peer_median_cpu_s", "cpu_includes_servers",
    # added by bench.py
    "ratio_min", "ratio_max", "metric", "metric_unit", "ours_metric", "peer_metric", "metric_ratio", "verdict",
    "ours_median_server_cpu_s", "peer_median_server_cpu_s",
]
UNITS = {"time": "s", "server-cpu": "server CPU s per GiB", "kib-per-request": "KiB per request",
         "wire-bytes": "bytes sent per round"}


def results_table(samples: Samples) -> list:
    """results.tsv: a header and one row per pair (bench.sh's columns first)."""
    f3 = lambda v: "-" if v is None else f"{v:.3f}"
    f2 = lambda v: "-" if v is None else f"{v:.2f}"
    f1 = lambda v: "-" if v is None else f"{v:.1f}"
    rows = [RESULT_COLUMNS]
    for s in summarize(samples):
        p = s.info
        gib = p.bytes / GiB
        rows.append([
            p.name, p.bytes, max(len(s.ours), len(s.peer)), f3(s.t_ours), f3(s.t_peer), f3(s.ratio),
            f2(gib / s.t_ours), f2(gib / s.t_peer if s.t_peer else None), f1(s.rss_ours), f1(s.rss_peer),
            "-" if p.target is None else p.target, s.verdict if p.metric == "time" else "info", s.rss_verdict,
            p.ours_cmd, p.peer_cmd, f3(s.cpu_ours), f3(s.cpu_peer), p.add_server_cpu,
            f3(min(s.ratios) if s.ratios else None), f3(max(s.ratios) if s.ratios else None),
            p.metric, UNITS.get(p.metric, "-"), f3(s.metric_ours), f3(s.metric_peer), f3(s.metric_ratio),
            s.verdict, f3(s.scpu_ours), f3(s.scpu_peer),
        ])
    return rows


def report(samples: Samples) -> str:
    """The printed report of a run, from its samples alone."""
    meta = samples.meta
    size, rounds, cores = int(meta["bytes"]), meta.get("rounds", "?"), int(meta.get("cores", "2"))
    summaries = summarize(samples)
    w = max([15] + [len(s.info.name) for s in summaries])
    lines = ["", f"{size / GiB:.2f} GiB, {rounds} alternating rounds; times are medians, ratio = median of "
                 "per-round ours/peer (< 1 means we are faster), spread = the least and greatest per-round ratio",
             f"{'pair':{w}} {'ours s':>7} {'peer s':>7} {'ratio':>6} {'spread':>11} {'ours GiB/s':>10} "
             f"{'peer GiB/s':>10} {'ours RSS MiB':>12} {'peer RSS MiB':>12}  peer"]
    verdicts, floors = [], []
    for s in summaries:
        p = s.info
        words = p.peer_cmd.split() or ["-"]
        peer_tool = ("the baseline" if p.name.startswith("base/") else
                     os.path.basename(words[1]) if words[0] == "python3" and len(words) > 1 else words[0])
        if s.peer:
            gib = p.bytes / GiB
            spread = f"{min(s.ratios):.2f}-{max(s.ratios):.2f}" if s.ratios else "-"
            lines.append(f"{p.name:{w}} {s.t_ours:>7.3f} {s.t_peer:>7.3f} {s.ratio:>6.3f} {spread:>11} "
                         f"{gib / s.t_ours:>10.2f} {gib / s.t_peer:>10.2f} {s.rss_ours:>12.1f} {s.rss_peer:>12.1f}"
                         f"  {p.peer_cmd}")
        if p.metric == "time":
            if p.target is None:
                message = f"info: {s.ratio:.3f}x the time of {peer_tool} (no target)"
            else:
                message = (f"{s.verdict} time: median ratio {s.ratio:.3f} {'<=' if s.verdict == 'PASS' else '>'} "
                           f"{p.target:.2f} vs {peer_tool}")
        elif p.metric == "server-cpu":
            if p.target is None:
                message = f"info: {s.metric_ratio:.3f}x the server CPU time of the peer's server (no target)"
            else:
                message = (f"{s.verdict} server CPU: median ratio {s.metric_ratio:.3f} "
                           f"{'<=' if s.verdict == 'PASS' else '>'} {p.target:.2f}")
        elif p.metric == "wire-bytes":
            if s.metric_ratio is None:
                message = f"{s.verdict} wire bytes: no round noted both sides' bytes"
            else:
                figures = (f"{s.metric_ratio:.3f}x the bytes {peer_tool} sent (medians: ours "
                           f"{s.metric_ours:.0f}, {peer_tool} {s.metric_peer:.0f}; spread "
                           f"{min(s.metric_ratios):.3f}-{max(s.metric_ratios):.3f})")
                if p.target is None:
                    message = f"info: {figures} (no target)"
                else:
                    message = (f"{s.verdict} wire bytes: median ratio {s.metric_ratio:.3f} "
                               f"{'<=' if s.verdict == 'PASS' else '>'} {p.target:.2f}: {figures}")
        else:
            message = (f"{s.verdict} memory: median {s.metric_ours:.1f} KiB per chunk request in flight "
                       f"{'<=' if s.verdict == 'PASS' else '>'} {p.target:.0f}")
        if s.rss_verdict != "-":
            message += (f"; {s.rss_verdict} RSS: {s.rss_ours:.1f} MiB {'<' if s.rss_verdict == 'PASS' else '>='} "
                        f"{p.rss_limit:.0f}")
        verdicts.append(f"{p.name:{w}} {message}")
        if p.add_server_cpu and s.peer:
            # Work that needs cpu_ours seconds of CPU cannot finish in less than
            # cpu_ours / cores of wall time, however it is spread.
            floors.append(f"{p.name:{w}} CPU s per run, client + server (medians): ours {s.cpu_ours:.2f}, peer "
                          f"{s.cpu_peer:.2f}; on {cores} cores ours needs >= {s.cpu_ours / cores:.2f} s, "
                          f"{s.cpu_ours / cores / s.t_peer:.2f}x the peer's median time: the least ratio this "
                          "machine allows")
    lines += ["", *verdicts]
    if floors:
        lines += ["", *floors]

    notes = notes_by_pair(samples)
    wire = [(pair, rnd, keys) for pair, by_round in notes.items() for rnd, keys in sorted(by_round.items())
            if any(k.startswith("wire_bytes_") for k in keys)]
    if wire:
        labels = {k[len("wire_bytes_"):] for _, _, keys in wire for k in keys if k.startswith("wire_bytes_")}
        who = "ours = server body bytes received" if "baseline" not in labels else \
            "ours, baseline = their server's body bytes received"
        lines.append(f"bytes over the wire per repair round ({who}, chunk PUTs + block writes; rsync = total "
                     "bytes sent; 3 damaged bytes far apart):")
        for pair, rnd, keys in wire:
            others = ", ".join(f"{k[len('wire_bytes_'):]} {int(v)}" for k, v in keys.items()
                               if k.startswith("wire_bytes_") and k != "wire_bytes_ours")
            client = (f" (the client's bytesMoved {keys['bytes_moved']}, blocksMoved {keys.get('blocks_moved', '-')}, "
                      f"chunksMoved {keys.get('chunks_moved', '-')})" if "bytes_moved" in keys else "")
            lines.append(f"  {pair} round {rnd}: ours {int(keys.get('wire_bytes_ours', 0))}, {others}{client}")
    for pair, by_round in notes.items():
        for keys in by_round.values():
            if "server_peak_rss_kib" in keys:
                lines.append(f"server peak RSS over the {pair} rounds: {int(keys['server_peak_rss_kib']) // 1024} MiB "
                             f"(target < {SERVER_RSS_TARGET_MIB} MiB)")
    for s in summaries:
        p = s.info
        if p.metric == "server-cpu":
            lines.append(f"server CPU per GiB received ({p.name}, {p.bytes / GiB:.2f} GiB per round, the server "
                         f"processes only): ours {s.metric_ours:.3f} s, peer {s.metric_peer:.3f} s (medians); "
                         f"median per-round ratio {s.metric_ratio:.3f}, spread {min(s.metric_ratios):.2f}-"
                         f"{max(s.metric_ratios):.2f}")
        elif p.metric == "kib-per-request":
            by_round = notes.get(p.name, {})
            n = int(by_round.get(s.ours[0].round, {}).get("in_flight", round(p.bytes / MiB)))
            held = [int(by_round[r.round]["held"]) for r in s.ours if "held" in by_round.get(r.round, {})]
            line = (f"memory per chunk request in flight ({p.name}: {n} chunk PUTs of 1 MiB held open, all but "
                    f"their last byte sent; server peak RSS above its idle RSS, / {n}): median {s.metric_ours:.1f} KiB "
                    f"(rounds: {', '.join(f'{r.value:.1f}' for r in s.ours)}), target <= {p.target:.0f} KiB: {s.verdict}")
            if s.ours:
                whole = [r.rss_kib / n for r in s.ours]
                line += f"; peak RSS / {n}, idle server included: median {statistics.median(whole):.1f} KiB"
            if held and min(held) < n:
                line += f"; only {min(held)} of {n} were held open at once in some round"
            lines.append(line)
    return "\n".join(lines)


# --- Set-up: settings, build, data --------------------------------------------


def parse_size(text: str) -> int:
    """What `numfmt --from=iec` reads, after an "iB" is dropped: 4G, 256M, 1048576."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([KMGTPE]?)(?:iB)?", text.strip(), re.IGNORECASE)
    if not m:
        raise BenchError(f"BENCH_SIZE: not a size: {text}")
    return math.ceil(float(m.group(1)) * 1024 ** " KMGTPE".index(m.group(2).upper() or " "))


def parse_count(name: str, default: str) -> int:
    text = os.environ.get(name, default)
    if not re.fullmatch(r"[1-9][0-9]*", text):
        raise BenchError(f"{name}: not a positive count: {text}")
    return int(text)


def wait_for_other_builds() -> None:
    # Two Swift builds on 2 cores starve each other, and would skew the
    # timings after them: let anyone else's build finish first.
    while subprocess.run(["pgrep", "-f", "swift-build"], stdout=subprocess.DEVNULL).returncode == 0:
        log("another swift build is running; waiting")
        time.sleep(10)


def swift_build(src: Path, scratch: Path, log_path: Path) -> None:
    wait_for_other_builds()
    log(f"building {scratch}/release/uploadverify")
    with open(log_path, "wb") as out:
        code = subprocess.run(["swift", "build", "-c", "release", "--scratch-path", str(scratch)], cwd=src,
                              stdout=out, stderr=subprocess.STDOUT).returncode
    if code != 0:
        print("\n".join(log_path.read_text(errors="replace").splitlines()[-20:]), file=sys.stderr)
        raise BenchError(f"release build failed (log: {log_path})")


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=REPO, check=True, stdout=subprocess.PIPE, text=True).stdout.strip()


def build_baseline(rev: str, work: Path) -> tuple:
    """The build of REV, in a git worktree of its own under WORK/baseline,
    with its own scratch path; kept for the next run. Built after ours, never
    beside another build."""
    try:
        commit = git("rev-parse", "--verify", f"{rev}^{{commit}}")
    except subprocess.CalledProcessError:
        raise BenchError(f"BENCH_BASELINE: not a revision: {rev}") from None
    root = work / "baseline" / commit[:12]
    src, scratch, marker = root / "src", root / "scratch", root / "built-commit"
    binary = scratch / "release" / "uploadverify"
    if binary.exists() and marker.exists() and marker.read_text().strip() == commit:
        log(f"reusing the baseline build of {rev} ({commit[:12]}): {binary}")
        return str(binary), commit[:12]
    root.mkdir(parents=True, exist_ok=True)
    git("worktree", "prune")
    if not (src / ".git").exists():
        shutil.rmtree(src, ignore_errors=True)
        git("worktree", "add", "--detach", str(src), commit)
    # Package.resolved is not in git: pin the dependencies ours was built with.
    if (REPO / "Package.resolved").exists() and not (src / "Package.resolved").exists():
        shutil.copyfile(REPO / "Package.resolved", src / "Package.resolved")
    swift_build(src, scratch, root / "build.log")
    marker.write_text(commit + "\n")
    return str(binary), commit[:12]


def newer(a: Path, b: Path) -> bool:
    """bash's `a -nt b`."""
    if not a.exists():
        return False
    return not b.exists() or a.stat().st_mtime > b.stat().st_mtime


def make_data(work: Path, size: int, uv: str) -> tuple:
    data = work / "data.bin"
    if data.exists() and data.stat().st_size == size:
        log(f"reusing {data}")
    else:
        if shutil.disk_usage(work).free <= size + GiB:
            raise BenchError(f"not enough disk in {work} for {size} bytes (+1 GiB margin)")
        log(f"generating {data} ({size} bytes of AES-CTR keystream)")
        for old in [data, *work.glob("data.bin.*")]:  # the map and SHA-256 describe the old file
            old.unlink(missing_ok=True)
        # Zeros would flatter anything that special-cases them; a keystream is
        # incompressible and fast. openssl dies of SIGPIPE once head has its bytes.
        tmp = work / "data.bin.tmp"
        subprocess.run(f"openssl enc -aes-128-ctr -nosalt -K 000102030405060708090a0b0c0d0e0f "
                       f"-iv 00000000000000000000000000000000 </dev/zero 2>/dev/null | head -c {size} "
                       f">{shlex.quote(str(tmp))}", shell=True, check=True)
        if tmp.stat().st_size != size:
            raise BenchError(f"short test file: {tmp}")
        tmp.rename(data)  # only a complete file is ever reused
    # The expected SHA-256 comes from the peer, not from us, so that a wrong
    # digest shows up as a failing verify instead of agreeing with itself.
    sha_file = work / "data.bin.sha256"
    if not newer(sha_file, data):
        digest = subprocess.run(["openssl", "dgst", "-sha256", "-r", str(data)], check=True,
                                stdout=subprocess.PIPE, text=True).stdout.split()[0]
        sha_file.write_text(digest + "\n")
    sha = sha_file.read_text().strip()
    # A new binary may write a different map format: remake the map with it.
    chunkmap = work / "data.bin.chunkmap"
    if not newer(chunkmap, data) or not newer(chunkmap, Path(uv)):
        log(f"mapping {data}")
        subprocess.run([uv, "map", str(data)], check=True, stdout=subprocess.DEVNULL)
    # Same inode (so the same cached pages), but no .chunkmap beside it:
    # verify then has only --sha256 to check.
    nomap = work / "data.bin.nomap"
    nomap.unlink(missing_ok=True)
    os.link(data, nomap)
    (work / "data.bin.nomap.chunkmap").unlink(missing_ok=True)
    return data, sha


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _interrupted(signum, frame):
    raise KeyboardInterrupt  # so that every server's context manager cleans up


def main(argv: Optional[list] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", help="comma-separated shell patterns of row names (a row that shares its "
                                       "rounds with another, e.g. audit with complete, runs with it)")
    parser.add_argument("--list", action="store_true", help="print the rows and exit")
    parser.add_argument("--binary", help="an uploadverify binary to time instead of building one")
    parser.add_argument("--baseline-binary", help="the earlier build to compare with, instead of building "
                                                  "BENCH_BASELINE")
    parser.add_argument("--no-install", action="store_true", help="skip scripts/install-deps.sh --bench")
    parser.add_argument("--report-only", metavar="SAMPLES", help="print the report of a saved samples file "
                                                                 "(BENCH_DIR/samples.tsv) and exit")
    args = parser.parse_args(argv)

    try:
        if args.report_only:
            print(report(parse_samples(Path(args.report_only).read_text())))
            return 0
        if args.list:
            width = max(len(p.name) for p in TABLE)
            for lead, joined in groups_of(TABLE):
                for p in (lead, *joined):
                    target = ("reported" if p.target is None else
                              f"<= {p.target:.4g}" + (" KiB" if p.metric == "kib-per-request" else "x"))
                    print(f"{p.name:{width}} {lead.part:9} {target:10} rounds: {lead.rounds}"
                          + (f" (with {lead.name})" if p is not lead else ""))
            return 0
        signal.signal(signal.SIGTERM, _interrupted)
        size = parse_size(os.environ.get("BENCH_SIZE", "4G"))
        if size < MiB:
            raise BenchError(f"BENCH_SIZE: at least 1MiB: {os.environ.get('BENCH_SIZE')}")
        rounds = parse_count("BENCH_ROUNDS", "5")
        scaling_rounds = parse_count("BENCH_SCALING_ROUNDS", "3")
        in_flight = parse_count("BENCH_IN_FLIGHT", "500")
        only = os.environ.get("BENCH_ONLY", "all")
        if only not in ("all", *PARTS):
            raise BenchError(f"BENCH_ONLY: one of all, {', '.join(PARTS)}: {only}")
        base_rev = os.environ.get("BENCH_BASELINE", "")
        if only == "baseline" and not (base_rev or args.baseline_binary):
            raise BenchError("BENCH_ONLY=baseline needs BENCH_BASELINE=<git revision> (or --baseline-binary)")
        patterns = [p.strip() for p in args.rows.split(",") if p.strip()] if args.rows else None
        groups = selected_groups(TABLE, only, patterns, bool(base_rev or args.baseline_binary))
        if os.geteuid() != 0 and any(lead.part == "cluster" for lead, _ in groups):
            # Namespaces and FUSE mounts need root (see scripts/cluster.sh).
            log("the cluster rows need root: skipped")
            groups = [(lead, joined) for lead, joined in groups if lead.part != "cluster"]
        if not groups:
            raise BenchError("no row selected (see --list)")

        work = Path(os.environ.get("BENCH_DIR", "./bench-work"))
        work = (work if work.is_absolute() else REPO / work)
        work.mkdir(parents=True, exist_ok=True)
        work = work.resolve()  # nginx needs absolute paths
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)  # the in-flight row holds 500 connections
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

        if not args.no_install:
            extra = ["--cluster"] if any(lead.part == "cluster" for lead, _ in groups) else []
            if subprocess.run([str(SCRIPTS / "install-deps.sh"), "--bench", *extra], cwd=REPO).returncode != 0:
                raise BenchError("scripts/install-deps.sh --bench failed")
        if args.binary:
            uv = str(Path(args.binary).resolve())
        else:
            swift_build(REPO, SCRATCH, work / "build.log")
            uv = str(SCRATCH / "release" / "uploadverify")
        uv_base, base_label = None, "baseline"
        if args.baseline_binary:
            uv_base, base_label = str(Path(args.baseline_binary).resolve()), base_rev or "baseline"
        elif base_rev:
            uv_base, base_label = build_baseline(base_rev, work)
        data, sha = make_data(work, size, uv)

        samples_path = work / "samples.tsv"
        with Ctx(work, uv, uv_base, base_label, data, sha, size, rounds, scaling_rounds, in_flight,
                 samples_path) as ctx:
            for key, value in (("bytes", size), ("rounds", rounds), ("scaling_rounds", scaling_rounds),
                               ("cores", os.cpu_count()), ("binary", uv), ("baseline", uv_base or "-"),
                               ("load_before", load_average())):
                ctx.write("meta", key, value)
            log(f"load average before: {load_average()}")
            try:
                run_table(ctx, groups)
            finally:
                ctx.write("meta", "load_after", load_average())
        log(f"load average after: {load_average()}")

        samples = parse_samples(samples_path.read_text())
        with open(work / "results.tsv", "w") as out:
            for row in results_table(samples):
                out.write("\t".join(map(str, row)) + "\n")
        print(report(samples))
        print(f"raw samples: {samples_path} (scripts/bench.py --report-only prints this report again); "
              f"results: {work / 'results.tsv'}")
        return 0
    except BenchError as e:
        print(f"bench: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
