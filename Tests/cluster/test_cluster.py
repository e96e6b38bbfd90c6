"""Several `uploadverify serve` nodes on one GlusterFS volume behind nginx
(scripts/cluster.sh), tested from outside over real sockets: issue #14.

    python3 -m unittest discover -s Tests/cluster -v      (as root; make test-cluster)

Each test class brings up its own cluster in setUpClass (`cluster.sh up N`)
and takes it down in its class cleanup (`cluster.sh down`, which runs even
when setUpClass fails), then checks that nothing of it is left: no mount
of the volume, no uvc-* namespace or link, no glusterd, glusterfs,
glusterfsd, nginx or serve process it started, no state folder.

Environment:
    UPLOADVERIFY_BINARY    the binary (default .build/debug/uploadverify)
    CLUSTER_TEST_DIR       the cluster's state folder (default /tmp/uploadverify-cluster-test)
    CLUSTER_RACE_ROUNDS    rounds per race (default 20, kept low for CI's time)
    CLUSTER_KILL_ROUNDS    node kills (default 20)
    CLUSTER_BIG_UPLOAD_MIB the size of the balancer upload (default 256)

Requests to a node's address (10.213.9.x) are only sent after checking that
the kernel routes that address to the cluster's bridge (the machine's
network rule: loopback and the test's own namespaces only).
"""
import base64
import fcntl
import hashlib
import json
import os
import random
import re
import select
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CLUSTER_SH = ROOT / "scripts" / "cluster.sh"
BINARY = Path(os.environ.get("UPLOADVERIFY_BINARY") or ROOT / ".build" / "debug" / "uploadverify")
if not BINARY.is_absolute():
    BINARY = ROOT / BINARY
STATE_DIR = Path(os.environ.get("CLUSTER_TEST_DIR", "/tmp/uploadverify-cluster-test"))
RACE_ROUNDS = int(os.environ.get("CLUSTER_RACE_ROUNDS", "20"))
KILL_ROUNDS = int(os.environ.get("CLUSTER_KILL_ROUNDS", "20"))
BIG_UPLOAD_MIB = int(os.environ.get("CLUSTER_BIG_UPLOAD_MIB", "256"))
MiB = 1 << 20
TUS = {"Tus-Resumable": "1.0.0"}
SBIN = "/usr/sbin:/sbin"

# What each test and each class's set-up and tear-down took, printed at the end.
TIMINGS = []


def log(text):
    print(f"[cluster] {text}", file=sys.stderr, flush=True)


def setUpModule():
    if os.geteuid() != 0:
        raise unittest.SkipTest("the cluster tests need root (network namespaces, FUSE mounts, glusterd)")
    if not os.access(BINARY, os.X_OK):
        raise RuntimeError(f"no binary at {BINARY}: build one, or set UPLOADVERIFY_BINARY")


def tearDownModule():
    if TIMINGS:
        log("times:")
        for name, seconds in TIMINGS:
            log(f"  {seconds:7.1f} s  {name}")
        log(f"  {sum(s for _, s in TIMINGS):7.1f} s  in all")


# --- HTTP over raw sockets ---------------------------------------------------
#
# One request per connection. A raw socket (not http.client) so that a body can
# stop halfway, and an answer sent before the body ends (a 409 that closes the
# connection) is still read.

class Answer(dict):
    """{status, type (the problem's slug), doc (its JSON), headers, body}; status 0: no answer."""

    @property
    def status(self):
        return self["status"]

    @property
    def type(self):
        return self["type"]

    @property
    def doc(self):
        return self["doc"]

    @property
    def headers(self):
        return self["headers"]

    @property
    def body(self):
        return self["body"]

    def lean(self):
        doc = self.doc if isinstance(self.doc, dict) else {}
        kept = {k: doc[k] for k in ("written", "xxh3", "state", "sha256", "index", "corrupt", "missing", "detail") if k in doc}
        return {"status": self.status, "type": self.type, **kept}

    def __repr__(self):
        return repr(self.lean())


def no_answer(reason):
    return Answer(status=0, type=reason, doc={}, headers={}, body=b"")


def read_answer(s, head_only=False):
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            piece = s.recv(65536)
            if not piece:
                return no_answer("closed")
            data += piece
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if head_only or status in (204, 304):
            body = b""
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            body = read_chunked(s, body)
        elif "content-length" in headers:
            length = int(headers["content-length"])
            while len(body) < length:
                piece = s.recv(1 << 20)
                if not piece:
                    break
                body += piece
        else:
            while True:
                piece = s.recv(1 << 20)
                if not piece:
                    break
                body += piece
    except (OSError, ValueError, IndexError) as error:
        return no_answer(f"closed: {error}")
    doc = {}
    if headers.get("content-type", "").startswith("application/") and "json" in headers.get("content-type", "") and body:
        try:
            doc = json.loads(body)
        except ValueError:
            doc = {}
    slug = doc.get("type", "").rsplit("/", 1)[-1] if isinstance(doc, dict) else ""
    return Answer(status=status, type=slug, doc=doc, headers=headers, body=body)


def read_chunked(s, pending):
    """A chunked body, `pending` being what was read past the head already."""
    body = b""

    def more():
        piece = s.recv(1 << 20)
        if not piece:
            raise OSError("closed inside a chunked body")
        return piece

    while True:
        while b"\r\n" not in pending:
            pending += more()
        line, _, pending = pending.partition(b"\r\n")
        length = int(line.split(b";")[0].strip() or b"0", 16)
        if length == 0:
            return body
        while len(pending) < length + 2:
            pending += more()
        body += pending[:length]
        pending = pending[length + 2:]


class Endpoint:
    """host:port of a node or of the balancer."""

    def __init__(self, host, port, name):
        self.host, self.port, self.name = host, port, name

    def __repr__(self):
        return self.name

    def connect(self, timeout=60):
        Cluster.check_route(self.host)
        s = socket.create_connection((self.host, self.port), timeout=5)
        s.settimeout(timeout)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s

    def head_bytes(self, method, path, headers, length):
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}", "Connection: close"]
        if length is not None:
            lines.append(f"Content-Length: {length}")
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    def request(self, method, path, headers=None, body=b"", timeout=60, barrier=None, pause=0.0, rest=None):
        """One request on a connection of its own. With `pause` (seconds) or
        `rest` (an Event), the head and half the body go first, the rest
        after; with `barrier`, the request starts once every party is ready."""
        try:
            s = self.connect(timeout)
        except OSError as error:
            return no_answer(f"refused: {error}")
        try:
            if barrier is not None:
                barrier.wait(30)
            length = len(body) if (body or method in ("PUT", "POST", "PATCH")) else None
            head = self.head_bytes(method, path, headers, length)
            try:
                if pause or rest is not None:
                    half = len(body) // 2
                    s.sendall(head + body[:half])
                    if rest is not None:
                        rest.wait(60)
                    else:
                        time.sleep(pause)
                    # A server that has answered already (and closes) is sent no more.
                    if not select.select([s], [], [], 0)[0]:
                        s.sendall(body[half:])
                else:
                    s.sendall(head + body)
            except OSError:
                pass
            return read_answer(s, head_only=(method == "HEAD"))
        finally:
            s.close()

    def get(self, path, headers=None):
        return self.request("GET", path, headers)


# --- the native protocol -----------------------------------------------------

def repr_digest(data):
    return "sha-256=:" + base64.b64encode(hashlib.sha256(data).digest()).decode() + ":"


def create(endpoint, size, chunk):
    answer = endpoint.request("POST", "/uploads", {"Upload-Length": str(size), "Upload-Chunk-Size": str(chunk)})
    assert answer.status == 201, f"create through {endpoint}: {answer}"
    return answer.headers["location"]


def upload_id(path):
    return path.rsplit("/", 1)[1]


def chunk_range(index, chunk, size):
    first = index * chunk
    return first, min(first + chunk, size) - 1


def put_chunk(endpoint, path, index, chunk, size, body, **options):
    first, last = chunk_range(index, chunk, size)
    assert last - first + 1 == len(body)
    return endpoint.request("PUT", path, {"Content-Range": f"bytes {first}-{last}/{size}"}, body, **options)


def busy(answer):
    return answer.status == 409 and answer.type == "chunk-busy"


def retrying_busy(endpoint, path, index, chunk, size, body, first):
    """`first` and, while the answer is 409 chunk-busy, each retry's answer (as a client does)."""
    answers = [first]
    while busy(answers[-1]) and len(answers) < 500:
        time.sleep(0.005)
        answers.append(put_chunk(endpoint, path, index, chunk, size, body))
    return answers


def complete(endpoint, path, data):
    return endpoint.request("POST", path + "/complete", {"Repr-Digest": repr_digest(data)})


def in_parallel(*calls):
    """Runs each call (a function, or a tuple of a function and its
    arguments) on a thread of its own; their results, in order."""
    results = [None] * len(calls)
    errors = []

    def run(position, call):
        if callable(call):
            call = (call,)
        try:
            results[position] = call[0](*call[1:])
        except BaseException as error:  # reported to the test below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(p, c)) for p, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results


def metric(text, name):
    """A counter's value in a Prometheus text answer (0 when absent)."""
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def upload_lock_holder(fd):
    """Who holds the upload's `.upload` lock (the chunk map's status record,
    bytes 128..<192, see ChunkMapLocks.swift), asked with F_OFD_GETLK through
    the host's view of a mount: "exclusive", "shared" or None."""
    query = struct.pack("hhxxxxqqixxxx", fcntl.F_WRLCK, os.SEEK_SET, 128, 64, 0)
    kind = struct.unpack("hhxxxxqqixxxx", fcntl.fcntl(fd, fcntl.F_OFD_GETLK, query))[0]
    return {fcntl.F_WRLCK: "exclusive", fcntl.F_RDLCK: "shared"}.get(kind)


def wait_for_holder(fd, kind, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if upload_lock_holder(fd) == kind:
            return True
        time.sleep(0.001)
    return False


def wait_until(predicate, timeout, step=0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(step)


def random_file(path, size, piece=8 * MiB):
    """Random bytes into `path`; returns their SHA-256 (hex)."""
    digest = hashlib.sha256()
    with open(path, "wb") as out:
        left = size
        while left > 0:
            block = os.urandom(min(piece, left))
            digest.update(block)
            out.write(block)
            left -= len(block)
    return digest.hexdigest()


# --- the cluster -------------------------------------------------------------

def sh(*args, check=True, timeout=120):
    env = dict(os.environ, PATH=os.environ.get("PATH", "") + ":" + SBIN)
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=timeout, env=env)
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, args))} exited {done.returncode}:\n{done.stdout}{done.stderr}")
    return done


def processes():
    """pid -> (comm, cmdline, state, ppid) of every process."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        table[int(entry)] = (comm, cmdline, fields[0], int(fields[1]))
    return table


class Cluster:
    """scripts/cluster.sh, and what its cluster.env says."""

    routes_checked = set()
    up_now = False

    def __init__(self, nodes):
        self.nodes = nodes
        self.dir = STATE_DIR
        self.port = self.free_port()
        self.env = {}

    @staticmethod
    def free_port():
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]

    @classmethod
    def check_route(cls, host):
        """Nothing goes to a 10.213.9.x address unless the kernel routes it to our bridge."""
        if not host.startswith("10.213.9."):
            return
        if not cls.up_now:
            raise OSError(f"no cluster is up: nothing is sent to {host}")
        if host in cls.routes_checked:
            return
        route = sh("ip", "-4", "route", "get", host, check=False).stdout
        if " dev uvc-br0 " not in route + " ":
            raise OSError(f"{host} is not routed to uvc-br0 ({route.strip()}): nothing sent")
        cls.routes_checked.add(host)

    def run(self, *args, check=True, timeout=120):
        return sh("bash", CLUSTER_SH, *args, "--dir", self.dir, check=check, timeout=timeout)

    def up(self):
        Cluster.routes_checked = set()
        started = time.monotonic()
        self.run("up", self.nodes, "--binary", BINARY, "--port", self.port, timeout=300)
        Cluster.up_now = True
        self.load()
        log(f"cluster of {self.nodes} up in {time.monotonic() - started:.1f} s")

    def down(self):
        Cluster.up_now = False
        Cluster.routes_checked = set()
        return self.run("down", check=False, timeout=300)

    def load(self):
        env = {}
        for line in (self.dir / "cluster.env").read_text().splitlines():
            key, _, value = line.partition("=")
            env[key] = value.strip('"')
        self.env = env

    def list(self, key):
        return self.env[key].split()

    @property
    def balancer(self):
        return Endpoint("127.0.0.1", int(self.env["BALANCER_PORT"]), "balancer")

    def node(self, i):
        """Node i (1-based)."""
        return Endpoint(self.list("NODE_ADDRS")[i - 1], 8080, f"node {i}")

    def data_dir(self, i=1):
        return Path(self.list("DATA_DIRS")[i - 1])

    def mount(self, i):
        return Path(self.list("MOUNTS")[i - 1])

    def kill_node(self, i):
        self.run("kill-node", i)
        self.load()

    def start_node(self, i):
        self.run("start-node", i)
        self.load()

    def unmount_node(self, i):
        self.run("unmount-node", i)
        self.load()

    def remount_node(self, i):
        self.run("remount-node", i)
        self.load()

    def node_pid(self, i):
        return int(self.list("NODE_PIDS")[i - 1])

    def client_pid(self, i):
        return int(self.list("CLIENT_PIDS")[i - 1])

    def restore(self):
        """Every node's mount back and its serve running (after a test that took one away)."""
        self.load()
        for i in range(1, self.nodes + 1):
            if not os.path.isdir(self.data_dir(i)) or not self.mounted(i):
                self.remount_node(i)
            if self.node_pid(i) == 0 or not os.path.exists(f"/proc/{self.node_pid(i)}"):
                self.start_node(i)

    def mounted(self, i):
        mount = str(self.mount(i))
        with open("/proc/mounts") as f:
            return any(line.split()[1] == mount for line in f)

    def metrics(self, i):
        answer = self.node(i).get("/metrics")
        assert answer.status == 200, f"/metrics of node {i}: {answer}"
        return answer.body.decode()

    def access_log(self):
        try:
            return Path(self.env["NGINX_ACCESS_LOG"]).read_text(errors="replace")
        except OSError:
            return ""

    def leftovers(self, before):
        """What of a cluster is still there: mounts, namespaces, links, processes, the state folder."""
        found = []
        with open("/proc/mounts") as f:
            for line in f:
                source, point, kind = line.split()[:3]
                if "uvc-vol" in source or point.startswith(str(self.dir)) or kind == "fuse.glusterfs":
                    found.append(f"mount {source} on {point} ({kind})")
        namespaces = sh("ip", "netns", "list", check=False).stdout.split("\n")
        found += [f"namespace {n.split()[0]}" for n in namespaces if n.startswith("uvc-")]
        links = sh("ip", "-o", "link", "show", check=False).stdout.splitlines()
        for line in links:
            name = line.split(": ")[1].split("@")[0] if ": " in line else ""
            if name.startswith("uvc-"):
                found.append(f"link {name}")
        table = processes()
        ours = set()
        for pid, (comm, cmdline, state, ppid) in table.items():
            if pid in before:
                continue
            if comm in ("glusterd", "glusterfs", "glusterfsd"):
                ours.add(pid)
            elif comm == "nginx" and str(self.dir) in cmdline:
                ours.add(pid)
            elif " serve " in f" {cmdline} " and str(self.dir) in cmdline:
                ours.add(pid)
        for pid, (comm, cmdline, state, ppid) in table.items():
            # nginx workers name no folder: ours if their master is ours, or orphaned.
            if pid not in before and comm == "nginx" and (ppid in ours or (ppid == 1 and "worker process" in cmdline)):
                ours.add(pid)
        found += [f"process {pid} {table[pid][0]} (state {table[pid][2]}): {table[pid][1]}" for pid in sorted(ours)]
        if self.dir.exists():
            found.append(f"state folder {self.dir}")
        return found


class ClusterTestCase(unittest.TestCase):
    """A cluster of NODES for the class: up in setUpClass, down (and checked
    gone) in the class cleanup."""

    NODES = 2
    maxDiff = 20000

    @classmethod
    def setUpClass(cls):
        started = time.monotonic()
        cls.before = set(processes())
        cls.cluster = Cluster(cls.NODES)
        # cluster.sh down takes every uvc-* name with it: never run it over a
        # cluster this test did not make.
        already = cls.cluster.leftovers(set())
        if already:
            raise RuntimeError(f"a cluster (or what is left of one) is there already: {already}; "
                               f"scripts/cluster.sh down --dir DIR first")
        cls.addClassCleanup(cls.take_down)
        cls.work = Path(tempfile.mkdtemp(prefix="uvc-test-"))
        cls.cluster.up()
        TIMINGS.append((f"{cls.__name__} set-up ({cls.NODES} nodes)", time.monotonic() - started))

    @classmethod
    def take_down(cls):
        started = time.monotonic()
        try:
            done = cls.cluster.down()
            shutil.rmtree(cls.work, ignore_errors=True)
            # down waits for PID 1 to reap what it stopped; give it a little more.
            wait_until(lambda: not cls.cluster.leftovers(cls.before), timeout=5, step=0.2)
            left = cls.cluster.leftovers(cls.before)
            if done.returncode != 0 or left:
                raise AssertionError(
                    f"cluster.sh down exited {done.returncode} ({done.stderr.strip()}); left behind: {left}")
        finally:
            TIMINGS.append((f"{cls.__name__} tear-down and check", time.monotonic() - started))

    def setUp(self):
        self.started = time.monotonic()

    def tearDown(self):
        TIMINGS.append((self.id().split(".", 1)[1], time.monotonic() - self.started))


# --- 1. an upload through the balancer ----------------------------------------

class UploadThroughTheBalancer(ClusterTestCase):
    NODES = 3

    def test_a_256_MiB_upload_through_nginx_lands_chunks_on_every_node_and_is_confirmed_with_its_sha256(self):
        cluster = self.cluster
        size = BIG_UPLOAD_MIB * MiB
        path = self.work / "big.bin"
        sha256 = random_file(path, size)
        before = [metric(cluster.metrics(i), "uploadverify_chunks_verified_total") for i in range(1, 4)]

        env = dict(os.environ, XDG_CACHE_HOME=str(self.work / "cache"), no_proxy="*", NO_PROXY="*")
        started = time.monotonic()
        done = subprocess.run(
            [str(BINARY), "upload", str(path), "--server", f"http://127.0.0.1:{cluster.balancer.port}", "--concurrency", "8", "--json"],
            capture_output=True, text=True, timeout=600, env=env)
        took = time.monotonic() - started
        self.assertEqual(done.returncode, 0, f"upload exited {done.returncode}: {done.stdout}{done.stderr}")
        report = json.loads(done.stdout)
        log(f"{BIG_UPLOAD_MIB} MiB through nginx in {took:.1f} s ({BIG_UPLOAD_MIB / took:.0f} MiB/s)")
        self.assertEqual(report["sha256"], sha256)
        chunks = -(-size // (8 * MiB))  # the default chunk size, 8 MiB
        self.assertEqual(report["chunksSent"], chunks)

        after = [metric(cluster.metrics(i), "uploadverify_chunks_verified_total") for i in range(1, 4)]
        per_node = [int(a - b) for a, b in zip(after, before)]
        log(f"chunks verified per node: {per_node}")
        self.assertTrue(all(n > 0 for n in per_node), f"a node got no chunk: {per_node}")
        self.assertEqual(sum(per_node), chunks, f"every chunk verified once: {per_node}")

        for i in range(1, 4):
            status = cluster.node(i).get(f"/uploads/{report['id']}")
            self.assertEqual(status.status, 200, f"node {i}: {status}")
            self.assertEqual((status.doc["state"], status.doc["sha256"]), ("complete", sha256), f"node {i}")


# --- 2. races across nodes ----------------------------------------------------

class RacesAcrossNodes(ClusterTestCase):
    """Each race RACE_ROUNDS times (20 by default, to keep CI's time
    reasonable; SharedDirectoryTests runs 50 per race on one machine's disk)."""

    NODES = 2
    CHUNK = 256 << 10
    PAUSES = [0, 0.005, 0.02]

    def sides(self, r):
        a, b = self.cluster.node(1 + r % 2), self.cluster.node(1 + (r + 1) % 2)
        return a, b

    def on_disk(self, upload, first, length, node=1):
        with open(self.cluster.data_dir(node) / upload, "rb") as f:
            f.seek(first)
            return f.read(length)

    def test_the_same_chunk_put_to_two_nodes_at_once_with_the_same_bytes_is_written_once(self):
        chunk, overlapped = self.CHUNK, 0
        for r in range(RACE_ROUNDS):
            size = 3 * chunk - 100
            a, b = self.sides(r)
            path = create(a, size, chunk)
            index = r % 3
            first, last = chunk_range(index, chunk, size)
            body = os.urandom(last - first + 1)
            go = threading.Barrier(2)
            pause = self.PAUSES[(r // 3) % 3]
            label = f"round {r} ({path}, chunk {index}, pause {pause})"
            firsts = in_parallel(
                (lambda e=a: put_chunk(e, path, index, chunk, size, body, barrier=go, pause=pause)),
                (lambda e=b: put_chunk(e, path, index, chunk, size, body, barrier=go, pause=pause)))
            answers = [retrying_busy(e, path, index, chunk, size, body, f) for e, f in zip((a, b), firsts)]
            if any(len(side) > 1 for side in answers):
                overlapped += 1
            finals = [side[-1] for side in answers]
            self.assertTrue(all(f.status == 200 for f in finals), f"{label}: {answers}")
            self.assertEqual(sorted(f.doc.get("written") for f in finals), [False, True], f"{label}: one written, one duplicate: {answers}")
            self.assertEqual(len({f.doc.get("xxh3") for f in finals}), 1, f"{label}: {answers}")
            self.assertEqual(self.on_disk(upload_id(path), first, len(body)), body, f"{label}: the bytes on disk")
            status = b.get(path)
            self.assertEqual(status.doc.get("receivedChunks"), 1, f"{label}: {status}")
            self.assertEqual(status.doc.get("missing"), [i for i in range(3) if i != index], f"{label}: {status}")
        log(f"same bytes: {RACE_ROUNDS} rounds, {overlapped} with a chunk-busy answered and retried")
        self.assertGreater(overlapped, 0, "no round had a writer told chunk-busy: the race never overlapped")

    def test_the_same_chunk_put_to_two_nodes_at_once_with_different_bytes_keeps_only_the_winners(self):
        chunk, busy_losers = self.CHUNK, 0
        for r in range(RACE_ROUNDS):
            size = 3 * chunk - 100
            a, b = self.sides(r)
            path = create(a, size, chunk)
            index = r % 3
            first, last = chunk_range(index, chunk, size)
            bodies = [os.urandom(last - first + 1), os.urandom(last - first + 1)]
            go = threading.Barrier(2)
            pause = self.PAUSES[(r // 3) % 3]
            label = f"round {r} ({path}, chunk {index}, pause {pause})"
            firsts = in_parallel(
                (lambda: put_chunk(a, path, index, chunk, size, bodies[0], barrier=go, pause=pause)),
                (lambda: put_chunk(b, path, index, chunk, size, bodies[1], barrier=go, pause=pause)))
            winners = [side for side in (0, 1) if firsts[side].status == 200]
            self.assertEqual(len(winners), 1, f"{label}: exactly one 200: {firsts}")
            winner, loser = winners[0], 1 - winners[0]
            self.assertIs(firsts[winner].doc.get("written"), True, f"{label}: {firsts}")
            self.assertEqual(firsts[loser].status, 409, f"{label}: the loser: {firsts}")
            self.assertIn(firsts[loser].type, ("chunk-busy", "chunk-conflict"), f"{label}: {firsts}")
            if busy(firsts[loser]):
                busy_losers += 1
                # Sent again once the winner is done: a verified chunk is never rewritten.
                again = retrying_busy((a, b)[loser], path, index, chunk, size, bodies[loser], firsts[loser])
                self.assertEqual((again[-1].status, again[-1].type), (409, "chunk-conflict"), f"{label}: the loser, retried: {again}")
            self.assertEqual(self.on_disk(upload_id(path), first, len(bodies[winner])), bodies[winner], f"{label}: the winner's bytes on disk")

            # The rest of the file, then complete with the winner's file and read the chunk back.
            parts = [os.urandom(l - f + 1) for f, l in (chunk_range(i, chunk, size) for i in range(3))]
            parts[index] = bodies[winner]
            for i in range(3):
                if i != index:
                    self.assertEqual(put_chunk((a, b)[i % 2], path, i, chunk, size, parts[i]).status, 200, label)
            whole = b"".join(parts)
            done = complete((a, b)[loser], path, whole)
            self.assertEqual((done.status, done.doc.get("state")), (200, "complete"), f"{label}: complete: {done}")
            self.assertEqual(done.doc.get("sha256"), hashlib.sha256(whole).hexdigest(), label)
            back = (a, b)[loser].get(path + "/data", {"Range": f"bytes={first}-{last}"})
            self.assertEqual(back.status, 206, f"{label}: {back}")
            self.assertEqual(back.body, bodies[winner], f"{label}: GET …/data gives the winner's bytes")
        log(f"different bytes: {RACE_ROUNDS} rounds, the loser told chunk-busy (then chunk-conflict) in {busy_losers}")

    def test_complete_on_one_node_racing_an_audit_on_the_other_ends_complete(self):
        chunk, orders = self.CHUNK, {}
        for r in range(RACE_ROUNDS):
            a, b = self.sides(r)
            data = os.urandom(8 * chunk - 5)
            size = len(data)
            path = create(a, size, chunk)
            parts = [data[f:l + 1] for f, l in (chunk_range(i, chunk, size) for i in range(8))]
            puts = in_parallel(*[(put_chunk, (a, b)[i % 2], path, i, chunk, size, parts[i]) for i in range(8)])
            label = f"round {r} ({path})"
            self.assertTrue(all(p.status == 200 for p in puts), f"{label}: {puts}")
            order = ["together", "audit-first", "complete-first"][r % 3]
            delays = {"together": (0, 0), "audit-first": (0.01, 0), "complete-first": (0, 0.01)}[order]
            go = threading.Barrier(2)

            def after(delay, call):
                go.wait(10)
                time.sleep(delay + random.uniform(0, 0.005))
                return call()

            done, audit = in_parallel(
                (after, delays[0], lambda: complete(a, path, data)),
                (after, delays[1], lambda: b.request("POST", path + "/audit")))
            self.assertEqual((done.status, done.doc.get("state")), (200, "complete"), f"{label} ({order}): complete: {done}")
            self.assertEqual(done.doc.get("sha256"), hashlib.sha256(data).hexdigest(), label)
            self.assertEqual(audit.status, 200, f"{label} ({order}): audit: {audit} {audit.body[:300]!r}")
            self.assertEqual(audit.doc.get("corrupt"), [], f"{label} ({order}): audit: {audit.doc}")
            self.assertIn(audit.doc.get("sha256Matches"), (None, True), f"{label} ({order}): audit: {audit.doc}")
            orders[str(audit.doc.get("sha256Matches"))] = orders.get(str(audit.doc.get("sha256Matches")), 0) + 1
            for e in (a, b):
                status = e.get(path)
                self.assertEqual((status.doc.get("state"), status.doc.get("sha256")), ("complete", hashlib.sha256(data).hexdigest()),
                                 f"{label}: {e} says {status}")
        log(f"complete against audit: {RACE_ROUNDS} rounds; the audit's sha256Matches: {orders} "
            "(None: it ran before the complete, True: after)")

    def delete_racing_writes(self):
        """RACE_ROUNDS rounds of: a 6-chunk upload, four writers (two through
        each node) stopped halfway through their bodies, a DELETE through one
        node once a writer holds the upload, the four bodies finished, two
        more writers arriving while the DELETE waits or after it. Returns
        (per round: the label, the DELETE's answer, the writers' answers,
        the files left of the upload in each node's view of the data
        directory, each node's answer to GET /uploads/{id} afterwards),
        and how many rounds saw a writer hold the upload first."""
        chunk, held, getlk_works, rounds = self.CHUNK, 0, None, []
        for r in range(RACE_ROUNDS):
            a, b = self.sides(r)
            data = os.urandom(6 * chunk)
            size = len(data)
            path = create(a, size, chunk)
            upload = upload_id(path)
            parts = [data[i * chunk:(i + 1) * chunk] for i in range(6)]
            fd = os.open(self.cluster.data_dir(1) / (upload + ".chunkmap"), os.O_RDONLY)
            try:
                rest = threading.Event()
                slow, late, deleted = {}, {}, {}
                writers = [threading.Thread(target=lambda i=i: slow.__setitem__(
                    i, put_chunk((a, b)[i % 2], path, i, chunk, size, parts[i], rest=rest))) for i in range(4)]
                for t in writers:
                    t.start()
                # Seen through node 1's mount with F_OFD_GETLK; if that never shows a
                # holder (3 s in the first round), a pause stands in for it.
                if getlk_works is not False and wait_for_holder(fd, "shared", timeout=3):
                    held += 1
                    getlk_works = True
                elif getlk_works is None:
                    getlk_works = False
                time.sleep(0.01 if getlk_works else 0.1)
                deleter = threading.Thread(target=lambda: deleted.update(answer=b.request("DELETE", path)))
                deleter.start()
                time.sleep(0.01)
                rest.set()
                time.sleep(random.uniform(0, 0.02))
                latecomers = [threading.Thread(target=lambda i=i: late.__setitem__(
                    i, put_chunk((a, b)[i % 2], path, i, chunk, size, parts[i]))) for i in (4, 5)]
                for t in latecomers:
                    t.start()
                for t in writers + latecomers + [deleter]:
                    t.join()
            finally:
                os.close(fd)
            writes = [(i, "in flight" if i < 4 else "late", (a, b)[i % 2], answer)
                      for i, answer in sorted(slow.items()) + sorted(late.items())]
            left = {node: sorted(n for n in os.listdir(self.cluster.data_dir(node)) if n.startswith(upload)) for node in (1, 2)}
            after = {node: self.cluster.node(node).get(path) for node in (1, 2)}
            rounds.append((f"round {r} ({path}, the DELETE through {b})", deleted["answer"], writes, left, after))
        return rounds, held

    def test_delete_on_one_node_racing_chunk_writes_on_the_other_leaves_no_orphan_file(self):
        rounds, held = self.delete_racing_writes()
        # Every round's findings first, asserted at the end: the whole picture in one failure.
        wrong = []
        for label, deleted, writes, left, after in rounds:
            if deleted.status != 204:
                wrong.append(f"{label}: DELETE answered {deleted}")
            wrong += [f"{label}: left in node {node}'s view of the data directory: {names}" for node, names in left.items() if names]
        log(f"delete against writes: {len(rounds)} rounds, a writer seen holding the upload before the DELETE in {held}")
        self.assertEqual(wrong, [], "the DELETE answered 204 and left no file of the upload")

    def test_a_chunk_write_on_one_node_racing_a_delete_on_the_other_answers_200_or_404(self):
        """A writer in flight finishes first (200); one that arrives later
        finds the upload gone (404); afterwards both nodes answer 404 for it."""
        rounds, _ = self.delete_racing_writes()
        wrong, outcomes = [], {}
        for label, deleted, writes, left, after in rounds:
            for i, when, node, answer in writes:
                key = f"{when} {answer.status} {answer.type}".strip()
                outcomes[key] = outcomes.get(key, 0) + 1
                if answer.status not in (200, 404):
                    wrong.append(f"{label}: chunk {i} ({when}, through {node}) answered {answer}")
            wrong += [f"{label}: node {node} then answered {answer} for it" for node, answer in after.items() if answer.status != 404]
        log(f"writes against a delete: {len(rounds)} rounds; the writers' answers: {outcomes}")
        self.assertEqual(wrong, [], "every writer answered 200 (before the DELETE) or 404 (after it), and the upload was gone on both nodes")


# --- 3. tus across nodes --------------------------------------------------------

class TusAcrossNodes(ClusterTestCase):
    NODES = 2

    def test_a_tus_upload_appended_on_one_node_then_resumed_by_head_and_append_on_the_other_completes_with_its_sha256(self):
        chunk = 8 * MiB  # the default chunk size of an upload made at /files/
        size = 2 * chunk + 12345
        data = os.urandom(size)
        sha256 = hashlib.sha256(data).hexdigest()
        # The first append ends inside a chunk, just before, at and just after a chunk's end.
        for r, split in enumerate([1, chunk - 1, chunk, chunk + 1, chunk + 3 * MiB]):
            a, b = self.cluster.node(1 + r % 2), self.cluster.node(1 + (r + 1) % 2)
            label = f"round {r} (first append {split} bytes on {a}, HEAD and the rest on {b})"
            metadata = "filename " + base64.b64encode(b"f.bin").decode() + ",sha256 " + base64.b64encode(sha256.encode()).decode()
            made = a.request("POST", "/files/", {**TUS, "Upload-Length": str(size), "Upload-Metadata": metadata})
            self.assertEqual(made.status, 201, f"{label}: {made}")
            path = made.headers["location"]
            patch = {**TUS, "Content-Type": "application/offset+octet-stream"}
            first = a.request("PATCH", path, {**patch, "Upload-Offset": "0"}, data[:split])
            self.assertEqual((first.status, first.headers.get("upload-offset")), (204, str(split)), f"{label}: {first}")
            head = b.request("HEAD", path, TUS)
            self.assertEqual(head.status, 200, f"{label}: {head}")
            self.assertEqual((head.headers.get("upload-offset"), head.headers.get("upload-length")), (str(split), str(size)),
                             f"{label}: {b}'s HEAD: {head.headers}")
            offset = int(head.headers["upload-offset"])
            rest = b.request("PATCH", path, {**patch, "Upload-Offset": str(offset)}, data[offset:])
            self.assertEqual((rest.status, rest.headers.get("upload-offset")), (204, str(size)), f"{label}: {rest} {rest.headers}")
            for e in (a, b):
                status = e.get("/uploads/" + upload_id(path))
                self.assertEqual((status.doc.get("state"), status.doc.get("sha256")), ("complete", sha256), f"{label}: {e}: {status}")
                final = e.request("HEAD", path, TUS)
                self.assertEqual(final.headers.get("repr-digest"), repr_digest(data), f"{label}: {e}'s HEAD: {final.headers}")


# --- 4. node failure -------------------------------------------------------------

class NodeFailure(ClusterTestCase):
    NODES = 3

    def tearDown(self):
        self.cluster.restore()
        super().tearDown()

    def test_nginx_passes_a_request_refused_by_a_killed_node_to_the_next_one(self):
        cluster = self.cluster
        conf = (cluster.dir / "nginx" / "nginx.conf").read_text()
        self.assertRegex(conf, r"proxy_next_upstream\s+error\s+timeout")
        # Each node twice, one right after the other (cluster.sh writes
        # max_fails=0: a node that failed is not taken out of the rotation).
        for r in range(6):
            victim = 1 + r // 2
            cluster.kill_node(victim)
            mark = len(cluster.access_log())
            # Creations until one was sent to the killed node first (round robin: within
            # a few), every one of them answered 201 by another node.
            answers, retried = [], []
            while not retried and len(answers) < 12:
                answers.append(cluster.balancer.request("POST", "/uploads", {"Upload-Length": "65536"}))
                lines = cluster.access_log()[mark:].splitlines()
                retried = [line for line in lines if f"up={cluster.node(victim).host}:8080, " in line]
            cluster.start_node(victim)
            self.assertTrue(all(a.status == 201 for a in answers), f"round {r}, node {victim} killed: {answers}")
            self.assertTrue(retried, f"round {r}: no request went to the killed node first: {lines}")

    def test_uploads_through_nginx_complete_while_a_random_node_is_killed_and_restarted(self):
        cluster = self.cluster
        size, chunk = 24 * MiB + 4321, MiB
        chunks = -(-size // chunk)
        env = dict(os.environ, XDG_CACHE_HOME=str(self.work / "cache"), no_proxy="*", NO_PROXY="*")
        server = f"http://127.0.0.1:{cluster.balancer.port}"
        uploads, reruns, mid_upload, rng = [], 0, 0, random.Random()
        rounds_started = time.monotonic()
        for r in range(KILL_ROUNDS):
            path = self.work / f"round-{r}.bin"
            sha256 = random_file(path, size)
            victim = rng.randint(1, 3)
            threshold = rng.randint(0, chunks - 1)
            command = [str(BINARY), "upload", str(path), "--server", server, "--concurrency", "8", "--chunk-size", "1MiB", "--json"]
            mark = len(cluster.access_log())
            upload = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
            # The kill comes once `threshold` chunks were answered 200 through nginx.
            wait_until(lambda: upload.poll() is not None or len(re.findall(
                r'"PUT /uploads/[0-9a-f]{32} HTTP/1.1" 200 ', cluster.access_log()[mark:])) >= threshold, timeout=60, step=0.01)
            in_flight = upload.poll() is None
            mid_upload += in_flight
            cluster.kill_node(victim)
            time.sleep(rng.uniform(0.1, 0.8))
            cluster.start_node(victim)
            out, err = upload.communicate(timeout=300)
            attempts = [(upload.returncode, err.strip()[-400:])]
            # create and complete are not retried by the client (nor passed on by nginx once
            # sent): a run that ends with such a failure is resumed, as the README says.
            while upload.returncode != 0 and len(attempts) < 4:
                reruns += 1
                upload = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
                out, err = upload.communicate(timeout=300)
                attempts.append((upload.returncode, err.strip()[-400:]))
            label = f"round {r} (node {victim} killed after {threshold} chunks, upload {'in flight' if in_flight else 'already ended'})"
            self.assertEqual(upload.returncode, 0, f"{label}: {attempts}")
            report = json.loads(out)
            self.assertEqual(report["sha256"], sha256, label)
            if len(attempts) > 1:
                log(f"{label}: resumed after {[a[1][-200:] for a in attempts[:-1]]}")
            # The restarted node serves, this upload and the others.
            self.assertEqual(cluster.node(victim).get("/healthz").status, 200, label)
            status = cluster.node(victim).get(f"/uploads/{report['id']}")
            self.assertEqual((status.doc.get("state"), status.doc.get("sha256")), ("complete", sha256), f"{label}: {status}")
            uploads.append((report["id"], sha256))
            path.unlink()
        log(f"node failure: {KILL_ROUNDS} rounds in {time.monotonic() - rounds_started:.1f} s, the kill mid-upload in "
            f"{mid_upload}, {reruns} re-runs of the client")
        self.assertGreaterEqual(mid_upload, KILL_ROUNDS / 2, "most kills came after the upload had ended: nothing was tested")

        for number, (upload, sha256) in enumerate(uploads):
            status = cluster.node(1 + number % 3).get(f"/uploads/{upload}")
            self.assertEqual((status.doc.get("state"), status.doc.get("sha256")), ("complete", sha256), f"{upload}: {status}")
        audit = subprocess.run([str(BINARY), "audit", "--data-dir", str(cluster.data_dir(1)), "--json"],
                               capture_output=True, text=True, timeout=300)
        self.assertEqual(audit.returncode, 0, f"audit: {audit.stdout[-2000:]}{audit.stderr[-2000:]}")
        found = json.loads(audit.stdout)["uploads"]
        for entry in found:
            self.assertEqual(entry["corrupt"], [], f"audit: {entry}")
            self.assertNotEqual(entry["sha256Matches"], False, f"audit: {entry}")
        audited = {entry["id"] for entry in found}
        self.assertTrue(all(u in audited for u, _ in uploads), "the audit saw every upload")
        log(f"audit after the kills: {len(found)} uploads on the volume (this test's {len(uploads)}, the others left "
            "by the creations of the nginx test and by runs that died at their create), no chunk wrong")


# --- 5. a node whose mount is gone ----------------------------------------------

class NodeWithoutItsMount(ClusterTestCase):
    """Node 2 loses its mount (a lazy umount, or its glusterfs client killed:
    the mount then answers ENOTCONN) while its serve runs; node 1 keeps its
    own. The upload lives on the volume, made through node 1."""

    NODES = 2
    CHUNK = 64 << 10

    def tearDown(self):
        self.cluster.restore()
        super().tearDown()

    def an_upload(self):
        size = 3 * self.CHUNK
        data = os.urandom(size)
        path = create(self.cluster.node(1), size, self.CHUNK)
        self.assertEqual(put_chunk(self.cluster.node(1), path, 0, self.CHUNK, size, data[:self.CHUNK]).status, 200)
        return path, data

    def lose_mount(self, how):
        if how == "unmounted":
            self.cluster.unmount_node(2)
        else:
            pid = self.cluster.client_pid(2)
            os.kill(pid, 9)
            wait_until(lambda: not os.path.exists(f"/proc/{pid}") or processes().get(pid, ("", "", "Z", 0))[2] == "Z", timeout=5)

    def requests_without_mount(self, path, data):
        """What node 2 answers without its mount: the status, a chunk PUT, a creation."""
        node = self.cluster.node(2)
        c = self.CHUNK
        return {
            "GET /uploads/{id}": node.get(path),
            "HEAD /uploads/{id}": node.request("HEAD", path),
            "PUT chunk 1": put_chunk(node, path, 1, c, len(data), data[c:2 * c]),
            "POST /uploads": node.request("POST", "/uploads", {"Upload-Length": str(c), "Upload-Chunk-Size": str(c)}),
            "POST …/complete": complete(node, path, data),
        }

    def check_marks_nothing_and_serves_again(self, how):
        cluster = self.cluster
        path, data = self.an_upload()
        size, c = len(data), self.CHUNK
        self.lose_mount(how)
        answers = self.requests_without_mount(path, data)
        log(f"node 2, mount {how}: " + "; ".join(f"{k} -> {v.status} {v.type}" for k, v in answers.items()))
        for what, answer in answers.items():
            self.assertFalse(200 <= answer.status < 300, f"mount {how}: {what} answered {answer}")
        # Its serve still runs and answers (/healthz may say 503 while the storage is gone).
        health = cluster.node(2).get("/healthz")
        self.assertTrue(os.path.exists(f"/proc/{cluster.node_pid(2)}") and health.status in (200, 503),
                        f"mount {how}: node 2's serve (pid {cluster.node_pid(2)}) answers /healthz with {health}")
        # Nothing was marked: node 1, on the volume, sees chunk 0 only.
        status = cluster.node(1).get(path)
        self.assertEqual((status.doc.get("receivedChunks"), status.doc.get("state")), (1, "receiving"), f"{status}")
        # Nothing landed beside the volume, in the empty mount point.
        if how == "unmounted":
            self.assertEqual(os.listdir(cluster.mount(2)), [], "node 2 wrote under its mount point")

        cluster.remount_node(2)
        node = cluster.node(2)
        again = wait_until(lambda: node.get(path).status == 200, timeout=10)
        self.assertTrue(again, f"node 2, remounted, answers {node.get(path)}")
        self.assertEqual(put_chunk(node, path, 1, c, size, data[c:2 * c]).status, 200)
        self.assertEqual(put_chunk(node, path, 2, c, size, data[2 * c:]).status, 200)
        done = complete(node, path, data)
        self.assertEqual((done.status, done.doc.get("sha256")), (200, hashlib.sha256(data).hexdigest()), f"{done}")

    def check_answers_503(self, how):
        path, data = self.an_upload()
        self.lose_mount(how)
        answers = self.requests_without_mount(path, data)
        wrong = {what: f"{a.status} {a.type} {a.headers.get('content-type', '')}" for what, a in answers.items()
                 if a.status != 503 or (what != "HEAD /uploads/{id}" and a.headers.get("content-type") != "application/problem+json")}
        self.assertEqual(wrong, {}, f"mount {how}: answers other than 503 problem+json")

    def test_a_node_whose_mount_was_unmounted_marks_nothing_keeps_running_and_serves_again_once_remounted(self):
        self.check_marks_nothing_and_serves_again("unmounted")

    def test_a_node_whose_gluster_client_died_marks_nothing_keeps_running_and_serves_again_once_remounted(self):
        self.check_marks_nothing_and_serves_again("client killed")

    # A node that lost its data directory says so: 503 storage-unreachable
    # (retry, elsewhere), never 404 for an upload that may well exist, and
    # never 500. nginx (proxy_next_upstream http_503) passes GET and HEAD
    # on to another node; the client retries the rest.
    def test_a_node_whose_mount_was_unmounted_answers_503_problem_json(self):
        self.check_answers_503("unmounted")

    def test_a_node_whose_gluster_client_died_answers_503_problem_json(self):
        self.check_answers_503("client killed")


if __name__ == "__main__":
    unittest.main()
