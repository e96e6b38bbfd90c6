#!/usr/bin/env bash
# The random kill loop, with two servers on one data directory: N rounds of
# start two `serve` processes on one directory, upload with 8 connections
# spread over both (chunk i through server i % 2, four connections each),
# kill -9 one of them (each in turn) at a random moment while the other
# serves on, restart it on the same directory, check that every chunk the
# chunk map calls verified matches its bytes, then resume and check that
# only the other chunks are sent, the SHA-256 is right, and both servers
# see the upload complete.
#
# Each round also runs a tus upload (/files/) beside it: a small http.client
# client PATCHes 1 MiB at a time to the two servers alternately, going on
# from HEAD's offset after any failure, through the kill and the restart
# (it is then killed too, mid-PATCH most likely). Once no append is in
# progress, HEAD's offset must not pass the bytes on disk that match the
# source, and every chunk the map calls verified must match its bytes (and
# the source's); then the client continues to the end, and both servers
# must see the upload complete with the source's SHA-256.
#
#   scripts/kill-loop.sh [ROUNDS]      (default 20)
#   env: UPLOADVERIFY_BIN (default .build/debug/uploadverify),
#        KILL_LOOP_MIB (file size, default 64), KILL_LOOP_SEED (for $RANDOM)
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=${1:-20}
bin=$(realpath "${UPLOADVERIFY_BIN:-.build/debug/uploadverify}")
mib=${KILL_LOOP_MIB:-64}
chunk=$((256 << 10))
[[ -n ${KILL_LOOP_SEED:-} ]] && RANDOM=$KILL_LOOP_SEED
work=$(mktemp -d /tmp/uploadverify-kill-loop.XXXXXX)
server_pids=("" "")
bases=("" "")
client_pid=""
tus_pid=""
round=0

cleanup() {
    [[ -n $client_pid ]] && kill -9 "$client_pid" 2>/dev/null || true
    [[ -n $tus_pid ]] && kill -9 "$tus_pid" 2>/dev/null || true
    for pid in "${server_pids[@]}"; do
        [[ -n $pid ]] && kill -9 "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

fail() { echo "kill-loop: round $round: $*" >&2; exit 1; }

# Starts server I (0 or 1) on DIR with a kernel-chosen port; sets server_pids[I] and bases[I].
start_server() {
    local i=$1 dir=$2 log port
    log=$work/server-$round-$i-$(date +%s%N).log
    "$bin" serve --data-dir "$dir" --port 0 2>"$log" &
    server_pids[i]=$!
    for _ in $(seq 200); do
        if port=$(grep -oE 'listening on 127\.0\.0\.1:[0-9]+' "$log" | grep -oE '[0-9]+$'); then
            bases[i]="http://127.0.0.1:$port"
            return
        fi
        kill -0 "${server_pids[i]}" 2>/dev/null || break
        sleep 0.05
    done
    fail "server $i did not start: $(cat "$log")"
}

# Stops server I: SIGKILL with `kill9`, otherwise SIGTERM (a clean stop).
stop_server() {
    local pid=${server_pids[$1]}
    [[ -n $pid ]] || return 0
    if [[ ${2:-} == kill9 ]]; then kill -9 "$pid"; else kill "$pid"; fi
    wait "$pid" 2>/dev/null || true
    server_pids[$1]=""
}

# Both servers' base URLs, one a line, for the tus client (which rereads them):
# replaced whole, so that it never reads half a file.
write_bases() {
    printf '%s\n' "${bases[0]}" "${bases[1]}" >"$work/bases.new"
    mv "$work/bases.new" "$work/bases"
}

# The chunk requests a server has in flight (its metrics gauge).
in_flight() { curl -sf "$1/metrics" | sed -n 's/^uploadverify_chunk_requests_in_flight \([0-9.]*\)$/\1/p'; }

json_field() { python3 -c 'import json,sys; v=json.load(sys.stdin)[sys.argv[1]]; print(json.dumps(v) if isinstance(v,(list,dict)) or v is None else v)' "$1"; }

# The 8 connections: spread.py SOURCE PATH CHUNK BASE0 BASE1 PUTs every chunk
# of SOURCE to the upload at PATH, chunk i through BASE(i % 2), four
# keep-alive connections to each server, each chunk with its SHA-256 in
# Content-Digest; chunk-busy is retried. A connection whose server is gone
# stops; the loop kills the client anyway.
cat >"$work/spread.py" <<'EOF'
import base64, hashlib, os, socket, sys, threading, time
from urllib.parse import urlparse

source, path, chunk = sys.argv[1], sys.argv[2], int(sys.argv[3])
servers = [urlparse(base) for base in sys.argv[4:6]]
size = os.path.getsize(source)
count = (size + chunk - 1) // chunk
lock = threading.Lock()
following = [0, 1]  # the next chunk for each server: i, i + 2, i + 4, ...


def take(server):
    with lock:
        index = following[server]
        following[server] += 2
    return index if index < count else None


def answer(stream):
    status = int(stream.readline().split()[1])
    headers = {}
    while True:
        line = stream.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, stream.read(int(headers.get("content-length", "0")))


def connection(server):
    s = socket.create_connection((servers[server].hostname, servers[server].port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s, s.makefile("rb")


def work(server):
    fd = os.open(source, os.O_RDONLY)
    try:
        s, stream = connection(server)
        while (index := take(server)) is not None:
            first = index * chunk
            body = os.pread(fd, min(chunk, size - first), first)
            digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
            head = (f"PUT {path} HTTP/1.1\r\nHost: {servers[server].netloc}\r\n"
                    f"Content-Range: bytes {first}-{first + len(body) - 1}/{size}\r\n"
                    f"Content-Length: {len(body)}\r\nContent-Digest: sha-256=:{digest}:\r\n\r\n").encode()
            while True:
                s.sendall(head + body)
                status, headers, reply = answer(stream)
                if headers.get("connection", "").lower() == "close":
                    s.close()
                    s, stream = connection(server)
                if status == 409 and b"chunk-busy" in reply:
                    time.sleep(0.01)
                    continue
                if status != 200:
                    print(f"spread: chunk {index} through server {server}: {status} {reply[:200]!r}", file=sys.stderr)
                break
    except (OSError, ValueError, IndexError):
        pass  # the server is gone
    finally:
        os.close(fd)


threads = [threading.Thread(target=work, args=(i % 2,)) for i in range(8)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
EOF

# The tus client: tus.py MODE SOURCE LOCATION BASES LOG [DATA_FILE]. `run` and
# `finish` PATCH the upload at LOCATION (/files/ID) from HEAD's offset, 1 MiB
# at a time, request i to server i % 2 of the BASES file, retrying from HEAD's
# offset (asked of either server) after any failure; `run` pauses 20 ms
# between PATCHes and runs until it is killed or done, `finish` runs to the
# end and fails after 120 s. `check` waits until no append holds the upload,
# then prints HEAD's offset and how many bytes of DATA_FILE, from its start,
# are the source's, and fails if the first passes the second.
cat >"$work/tus.py" <<'EOF'
import fcntl, http.client, os, struct, sys, time
from urllib.parse import urlparse

mode, source, location, bases_file, log_path = sys.argv[1:6]
size = os.path.getsize(source)
PIECE = 1 << 20
TUS = {"Tus-Resumable": "1.0.0"}
log = open(log_path, "a")


def servers():
    # Rewritten whole (a rename) by the loop when a server restarts on another port.
    for _ in range(100):
        with open(bases_file) as file:
            bases = [urlparse(line.strip()) for line in file if line.strip()]
        if len(bases) == 2:
            return bases
        time.sleep(0.01)
    sys.exit(f"tus: no servers in {bases_file}")


def ask(server, method, headers=None, body=None):
    connection = http.client.HTTPConnection(server.hostname, server.port, timeout=30)
    try:
        connection.request(method, location, body=body, headers={**TUS, **(headers or {})})
        response = connection.getresponse()
        response.read()
        return response.status, {name.lower(): value for name, value in response.getheaders()}
    finally:
        connection.close()


def offset_from_head(attempt):
    # Each server in turn, from the next one on, until one answers.
    for turn in range(500):
        server = servers()[(attempt + turn) % 2]
        try:
            status, headers = ask(server, "HEAD")
            if status == 200 and "upload-offset" in headers:
                return int(headers["upload-offset"])
        except (OSError, http.client.HTTPException):
            pass
        time.sleep(0.02)
    sys.exit("tus: no server answered HEAD for 10 s")


def append_in_progress(map_path):
    # The upload's `.append` lock (byte 0 of its chunk map), asked with F_OFD_GETLK.
    fd = os.open(map_path, os.O_RDONLY)
    try:
        query = struct.pack("hhxxxxqqixxxx", fcntl.F_WRLCK, os.SEEK_SET, 0, 1, 0)
        return struct.unpack("hhxxxxqqixxxx", fcntl.fcntl(fd, fcntl.F_OFD_GETLK, query))[0] != fcntl.F_UNLCK
    finally:
        os.close(fd)


if mode == "check":
    # Once no append is in progress: HEAD's offset, and how many bytes of the data
    # file, from the start, are the source's. Prints both; fails if the first passes the second.
    data_path = sys.argv[6]
    deadline = time.monotonic() + 15
    while append_in_progress(data_path + ".chunkmap"):
        if time.monotonic() > deadline:
            sys.exit("tus: an append still held the upload 15 s after its client was killed")
        time.sleep(0.01)
    offset = offset_from_head(0)
    matching = 0
    with open(source, "rb") as expected, open(data_path, "rb") as stored:
        while True:
            a, b = expected.read(PIECE), stored.read(PIECE)
            if not a or a != b:
                matching += next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
                break
            matching += len(a)
    print(offset, matching)
    if offset > matching:
        sys.exit(f"tus: HEAD's offset {offset} passes the {matching} bytes on disk that match the source")
    sys.exit(0)

# run: PATCHes of 1 MiB, request i to server i % 2, until the loop kills it (or the upload
# is complete); finish: the same, without the pauses, to the end (120 s at most). Done once
# a PATCH that reaches the end is answered 204: after a failure with HEAD's offset at the
# end already, the retry from there is a PATCH of no bytes.
fd = os.open(source, os.O_RDONLY)
attempt = failures = 0
offset = offset_from_head(0)
deadline = time.monotonic() + 120
done = False
while not done:
    if mode == "finish" and time.monotonic() > deadline:
        sys.exit(f"tus: not done at {offset} of {size} bytes after 120 s; last answers in {log_path}")
    server = servers()[attempt % 2]
    body = os.pread(fd, min(PIECE, size - offset), offset)
    try:
        status, headers = ask(server, "PATCH", {"Content-Type": "application/offset+octet-stream", "Upload-Offset": str(offset)}, body)
    except (OSError, http.client.HTTPException) as error:
        status, headers = 0, {"error": f"{type(error).__name__}: {error}"}
    if status == 204 and headers.get("upload-offset") == str(offset + len(body)):
        offset += len(body)
        done = offset == size
        log.write(f"{server.port} 204 {offset}\n")
    else:
        # Whatever went wrong, the server says where to go on from.
        failures += 1
        log.write(f"{server.port} {status} at {offset} {headers.get('error', '')}\n")
        offset = offset_from_head(attempt + 1)
    log.flush()
    attempt += 1
    if mode == "run":
        time.sleep(0.02)
print(attempt, failures)
EOF

head -c $((mib << 20)) /dev/urandom >"$work/source"
size=$(stat -c %s "$work/source")
expected=$(sha256sum "$work/source" | cut -d' ' -f1)
head -c $((mib << 20)) /dev/urandom >"$work/tus-source"
tus_expected=$(sha256sum "$work/tus-source" | cut -d' ' -f1)
export XDG_CACHE_HOME=$work/cache
total_verified=0
total_chunks=0
total_tus_failures=0

for round in $(seq "$rounds"); do
    data=$work/uploads-$round
    start_server 0 "$data"
    start_server 1 "$data"
    location=$(curl -sf -D - -o /dev/null -X POST "${bases[0]}/uploads" -H "Upload-Length: $size" -H "Upload-Chunk-Size: $chunk" |
        tr -d '\r' | sed -n 's/^[Ll]ocation: //p' || true)
    [[ $location == /uploads/* ]] || fail "could not create the upload"
    id=${location#/uploads/}
    map=$data/$id.chunkmap
    # The tus upload, created through the other server.
    tus_location=$(curl -sf -D - -o /dev/null -X POST "${bases[1]}/files/" -H 'Tus-Resumable: 1.0.0' -H "Upload-Length: $size" |
        tr -d '\r' | sed -n 's/^[Ll]ocation: //p' || true)
    [[ $tus_location == /files/* ]] || fail "could not create the tus upload"
    tus_id=${tus_location#/files/}
    write_bases

    # Each server in turn is the one killed.
    victim=$((round % 2))
    survivor=$((1 - victim))
    # The tus client first, under way (a PATCH answered) before the native client starts.
    python3 "$work/tus.py" run "$work/tus-source" "$tus_location" "$work/bases" "$work/tus-$round.log" >/dev/null 2>"$work/tus-$round.err" &
    tus_pid=$!
    for _ in $(seq 500); do
        [[ -s $work/tus-$round.log ]] && break
        sleep 0.01
    done
    [[ -s $work/tus-$round.log ]] || fail "the tus client sent nothing in 5 s: $(cat "$work/tus-$round.err")"
    python3 "$work/spread.py" "$work/source" "$location" "$chunk" "${bases[0]}" "${bases[1]}" 2>"$work/spread-$round.log" &
    client_pid=$!
    delay=$(printf "0.%03d" $((RANDOM % 600)))
    sleep "$delay"
    stop_server "$victim" kill9
    curl -sf -o /dev/null "${bases[survivor]}/healthz" || fail "server $survivor stopped serving when server $victim was killed"
    kill -9 "$client_pid" 2>/dev/null || true
    wait "$client_pid" 2>/dev/null || true
    client_pid=""
    [[ ! -s $work/spread-$round.log ]] || fail "the client got answers other than 200: $(head -n 5 "$work/spread-$round.log")"
    # The killed client's requests to the survivor end (never verified) before the map is read.
    for _ in $(seq 200); do
        [[ $(in_flight "${bases[survivor]}") =~ ^0(\.0*)?$ ]] && break
        sleep 0.05
    done
    [[ $(in_flight "${bases[survivor]}") =~ ^0(\.0*)?$ ]] || fail "server $survivor still has chunk requests in flight"

    start_server "$victim" "$data"
    # The tus client goes on through both servers, the restarted one too, then is killed as well.
    write_bases
    sleep "0.$((RANDOM % 3 + 1))"
    kill -9 "$tus_pid" 2>/dev/null || true
    wait "$tus_pid" 2>/dev/null || true
    tus_pid=""
    [[ ! -s $work/tus-$round.err ]] || fail "the tus client failed: $(tail -n 5 "$work/tus-$round.err")"
    report=$("$bin" verify "$data/$id" --map "$map" --json || true)
    [[ $(echo "$report" | json_field corrupt) == "[]" ]] || fail "a verified chunk does not match its bytes: $report"
    [[ $(echo "$report" | json_field sizeMismatch) == "null" ]] || fail "the data file's size drifted: $report"
    verified=$(echo "$report" | json_field checkedChunks)
    missing=$(echo "$report" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["missing"]))')
    chunks=$((verified + missing))
    # The rest through the restarted server; the survivor must then see the upload complete too.
    result=$("$bin" upload "$work/source" --id "${bases[victim]}$location" --concurrency 8 --json) || fail "resume failed"
    sent=$(echo "$result" | json_field chunksSent)
    [[ $sent == "$missing" ]] || fail "resume sent $sent chunks where $missing were missing"
    [[ $(echo "$result" | json_field sha256) == "$expected" ]] || fail "confirmed SHA-256 is not the source's: $result"
    status=$(curl -sf "${bases[survivor]}$location") || fail "server $survivor does not answer for the upload"
    [[ $(echo "$status" | json_field state) == complete && $(echo "$status" | json_field sha256) == "$expected" ]] ||
        fail "server $survivor does not see the upload complete: $status"
    [[ $(sha256sum "$data/$id" | cut -d' ' -f1) == "$expected" ]] || fail "the file on disk is not the source"

    # The tus upload, as its killed client left it.
    tus_state=$(python3 "$work/tus.py" check "$work/tus-source" "$tus_location" "$work/bases" "$work/tus-$round.log" "$data/$tus_id" 2>&1) ||
        fail "$tus_state"
    read -r tus_offset tus_matching <<<"$tus_state"
    tus_report=$("$bin" verify "$data/$tus_id" --map "$data/$tus_id.chunkmap" --json || true)
    [[ $(echo "$tus_report" | json_field corrupt) == "[]" ]] || fail "tus: a verified chunk does not match its bytes: $tus_report"
    [[ $(echo "$tus_report" | json_field sizeMismatch) == "null" ]] || fail "tus: the data file's size drifted: $tus_report"
    tus_verified=$(echo "$tus_report" | json_field checkedChunks)
    tus_source_report=$("$bin" verify "$work/tus-source" --map "$data/$tus_id.chunkmap" --json || true)
    [[ $(echo "$tus_source_report" | json_field corrupt) == "[]" ]] || fail "tus: a verified chunk is not the source's: $tus_source_report"
    tus_failures=$(grep -vc ' 204 ' "$work/tus-$round.log" || true)
    # Continuing completes it, with the source's SHA-256, as both servers see it.
    python3 "$work/tus.py" finish "$work/tus-source" "$tus_location" "$work/bases" "$work/tus-$round.log" >/dev/null 2>"$work/tus-$round.err" ||
        fail "tus: continuing from HEAD's offset did not complete: $(cat "$work/tus-$round.err"); last answers: $(tail -n 3 "$work/tus-$round.log")"
    for i in 0 1; do
        tus_status=$(curl -sf "${bases[i]}/uploads/$tus_id") || fail "server $i does not answer for the tus upload"
        [[ $(echo "$tus_status" | json_field state) == complete && $(echo "$tus_status" | json_field sha256) == "$tus_expected" ]] ||
            fail "server $i does not see the tus upload complete with the source's SHA-256: $tus_status"
    done
    [[ $(sha256sum "$data/$tus_id" | cut -d' ' -f1) == "$tus_expected" ]] || fail "tus: the file on disk is not the source"
    stop_server 0
    stop_server 1
    rm -rf "$data"
    total_verified=$((total_verified + verified))
    total_chunks=$((total_chunks + chunks))
    total_tus_failures=$((total_tus_failures + tus_failures))
    echo "round $round: server $victim killed after ${delay}s with $verified of $chunks chunks verified; server $survivor served on; resumed and confirmed $expected"
    echo "round $round: tus upload at offset $tus_offset ($tus_matching bytes on disk the source's, $tus_verified chunks verified) when its client was killed, after $tus_failures failed PATCHes; continued and confirmed $tus_expected"
done
echo "kill-loop: $rounds rounds passed with two servers on one directory ($total_verified of $total_chunks chunks were verified at the kills, all matched; the tus uploads went on from HEAD's offset after $total_tus_failures failed PATCHes)"
