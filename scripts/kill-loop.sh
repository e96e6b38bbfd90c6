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
round=0

cleanup() {
    [[ -n $client_pid ]] && kill -9 "$client_pid" 2>/dev/null || true
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

head -c $((mib << 20)) /dev/urandom >"$work/source"
size=$(stat -c %s "$work/source")
expected=$(sha256sum "$work/source" | cut -d' ' -f1)
export XDG_CACHE_HOME=$work/cache
total_verified=0
total_chunks=0

for round in $(seq "$rounds"); do
    data=$work/uploads-$round
    start_server 0 "$data"
    start_server 1 "$data"
    location=$(curl -sf -D - -o /dev/null -X POST "${bases[0]}/uploads" -H "Upload-Length: $size" -H "Upload-Chunk-Size: $chunk" |
        tr -d '\r' | sed -n 's/^[Ll]ocation: //p' || true)
    [[ $location == /uploads/* ]] || fail "could not create the upload"
    id=${location#/uploads/}
    map=$data/$id.chunkmap

    # Each server in turn is the one killed.
    victim=$((round % 2))
    survivor=$((1 - victim))
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
    stop_server 0
    stop_server 1
    rm -rf "$data"
    total_verified=$((total_verified + verified))
    total_chunks=$((total_chunks + chunks))
    echo "round $round: server $victim killed after ${delay}s with $verified of $chunks chunks verified; server $survivor served on; resumed and confirmed $expected"
done
echo "kill-loop: $rounds rounds passed with two servers on one directory ($total_verified of $total_chunks chunks were verified at the kills, all matched)"
