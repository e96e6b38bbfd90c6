#!/usr/bin/env bash
# The random kill loop: N rounds of start the server, upload with 8
# connections, kill -9 the server at a random moment, restart it on the same
# directory, check that every chunk its chunk map calls verified matches its
# bytes, then resume and check that only the other chunks are sent and the
# SHA-256 is right.
#
#   scripts/kill-loop.sh [ROUNDS]      (default 20)
#   env: UPLOADVERIFY_BIN (default .build/debug/uploadverify),
#        KILL_LOOP_MIB (file size, default 64), KILL_LOOP_SEED (for $RANDOM)
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=${1:-20}
bin=$(realpath "${UPLOADVERIFY_BIN:-.build/debug/uploadverify}")
mib=${KILL_LOOP_MIB:-64}
[[ -n ${KILL_LOOP_SEED:-} ]] && RANDOM=$KILL_LOOP_SEED
work=$(mktemp -d /tmp/uploadverify-kill-loop.XXXXXX)
server_pid=""
client_pid=""

cleanup() {
    [[ -n $client_pid ]] && kill -9 "$client_pid" 2>/dev/null || true
    [[ -n $server_pid ]] && kill -9 "$server_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

fail() { echo "kill-loop: round $round: $*" >&2; exit 1; }

# Starts the server on DIR with a kernel-chosen port; sets server_pid and base.
start_server() {
    local log=$work/server-$round-$1.log
    "$bin" serve --data-dir "$2" --port 0 2>"$log" &
    server_pid=$!
    for _ in $(seq 200); do
        if port=$(grep -oE 'listening on 127\.0\.0\.1:[0-9]+' "$log" | grep -oE '[0-9]+$'); then
            base="http://127.0.0.1:$port"
            return
        fi
        sleep 0.05
    done
    fail "the server did not start: $(cat "$log")"
}

json_field() { python3 -c 'import json,sys; v=json.load(sys.stdin)[sys.argv[1]]; print(json.dumps(v) if isinstance(v,(list,dict)) or v is None else v)' "$1"; }

head -c $((mib << 20)) /dev/urandom >"$work/source"
expected=$(sha256sum "$work/source" | cut -d' ' -f1)
export XDG_CACHE_HOME=$work/cache
total_verified=0
total_chunks=0

for round in $(seq "$rounds"); do
    data=$work/uploads-$round
    start_server crash "$data"
    "$bin" upload "$work/source" --server "$base" --chunk-size 256KiB --concurrency 8 >/dev/null 2>&1 &
    client_pid=$!
    delay=$(printf "0.%03d" $((RANDOM % 400)))
    sleep "$delay"
    kill -9 "$server_pid"
    wait "$server_pid" 2>/dev/null || true
    kill -9 "$client_pid" 2>/dev/null || true
    wait "$client_pid" 2>/dev/null || true
    client_pid=""

    map=$(ls "$data"/*.chunkmap 2>/dev/null | head -n1 || true)
    start_server restart "$data"
    if [[ -z $map ]]; then
        # Killed before the upload was created: nothing to check but a fresh start.
        verified=0
        result=$("$bin" upload "$work/source" --server "$base" --chunk-size 256KiB --concurrency 8 --json) || fail "upload failed"
        chunks=$(echo "$result" | json_field chunksSent)
    else
        id=$(basename "$map" .chunkmap)
        report=$("$bin" verify "$data/$id" --map "$map" --json || true)
        [[ $(echo "$report" | json_field corrupt) == "[]" ]] || fail "a verified chunk does not match its bytes: $report"
        [[ $(echo "$report" | json_field sizeMismatch) == "null" ]] || fail "the data file's size drifted: $report"
        verified=$(echo "$report" | json_field checkedChunks)
        missing=$(echo "$report" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["missing"]))')
        chunks=$((verified + missing))
        result=$("$bin" upload "$work/source" --id "$base/uploads/$id" --concurrency 8 --json) || fail "resume failed"
        sent=$(echo "$result" | json_field chunksSent)
        [[ $sent == "$missing" ]] || fail "resume sent $sent chunks where $missing were missing"
    fi
    [[ $(echo "$result" | json_field sha256) == "$expected" ]] || fail "confirmed SHA-256 is not the source's: $result"
    id=$(echo "$result" | json_field id)
    [[ $(sha256sum "$data/$id" | cut -d' ' -f1) == "$expected" ]] || fail "the file on disk is not the source"
    kill "$server_pid"
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
    rm -rf "$data"
    total_verified=$((total_verified + verified))
    total_chunks=$((total_chunks + chunks))
    echo "round $round: killed after ${delay}s with $verified of $chunks chunks verified; resumed and confirmed $expected"
done
echo "kill-loop: $rounds rounds passed ($total_verified of $total_chunks chunks were verified at the kills, all matched)"
