#!/usr/bin/env bash
# Times uploadverify against the Debian tools that do the same work, on one
# incompressible file held in the page cache.
#
#   make bench                                  # 4 GiB, 5 rounds
#   BENCH_SIZE=256M BENCH_ROUNDS=3 make bench   # quick check
#   BENCH_DIR=/tmp/bench scripts/bench.sh       # work dir (relative: to the repo root)
#   BENCH_ONLY=local|server|client make bench   # one part only
#
# This VM is noisy (2 shared cores, memory handed back to the host: see
# ../shared/STACK.md, "Benchmarking on this machine"), so a single timing means
# little. Each comparison alternates its two sides round by round and is judged
# on the median of the per-round ratios ours/peer, which cancels most of the
# drift that hits both sides of a round alike.
set -euo pipefail
export LC_ALL=C # $EPOCHREALTIME and python's output must use '.' for decimals

cd "$(dirname "$0")/.."
SIZE_SPEC=${BENCH_SIZE:-4G}
ROUNDS=${BENCH_ROUNDS:-5}
WORK=${BENCH_DIR:-./bench-work}
SCRATCH=.build-release # never .build: another engineer's debug builds live there
UV=$SCRATCH/release/uploadverify
RSS_LIMIT_MIB=64

die() { echo "bench: $*" >&2; exit 1; }
log() { echo "== $*" >&2; }

need() { # need COMMAND DEBIAN-PACKAGE
    command -v "$1" >/dev/null && return
    log "installing $2"
    # The package lists may be stale on a fresh VM; refresh only when needed.
    apt-get install -y "$2" >/dev/null || { apt-get update >/dev/null && apt-get install -y "$2" >/dev/null; }
}

build() {
    # Two Swift builds on 2 cores starve each other, and would skew the
    # timings after them: let anyone else's build finish first.
    while pgrep -f swift-build >/dev/null; do
        log "another swift build is running; waiting"
        sleep 10
    done
    log "building $UV"
    swift build -c release --scratch-path "$SCRATCH" >"$WORK/build.log" 2>&1 ||
        { tail -20 "$WORK/build.log" >&2; die "release build failed (log: $WORK/build.log)"; }
}

make_data() {
    if [[ -f $DATA && $(stat -c %s "$DATA") -eq $BYTES ]]; then
        log "reusing $DATA"
    else
        local avail
        avail=$(df --output=avail -B1 "$WORK" | tail -1)
        ((avail > BYTES + (1 << 30))) || die "not enough disk in $WORK for $SIZE_SPEC (+1 GiB margin)"
        log "generating $DATA ($BYTES bytes of AES-CTR keystream)"
        rm -f "$DATA" "$DATA".* # the map and SHA-256 below describe the old file
        # Zeros would flatter anything that special-cases them; a keystream is
        # incompressible and fast. openssl dies of SIGPIPE once head has its
        # bytes, which is the normal end here: pipefail would call it failure.
        (set +o pipefail
            openssl enc -aes-128-ctr -nosalt -K 000102030405060708090a0b0c0d0e0f \
                -iv 00000000000000000000000000000000 </dev/zero 2>/dev/null | head -c "$BYTES" >"$DATA.tmp")
        [[ $(stat -c %s "$DATA.tmp") -eq $BYTES ]] || die "short test file: $DATA.tmp"
        mv "$DATA.tmp" "$DATA" # only a complete file is ever reused
    fi
    # The expected SHA-256 comes from the peer, not from us, so that a wrong
    # digest shows up as a failing verify instead of agreeing with itself.
    [[ $DATA.sha256 -nt $DATA ]] || openssl dgst -sha256 -r "$DATA" | cut -d' ' -f1 >"$DATA.sha256"
    SHA=$(<"$DATA.sha256")
    # A new binary may write a different map format: remake the map with it.
    if [[ ! $DATA.chunkmap -nt $DATA || ! $DATA.chunkmap -nt $UV ]]; then
        log "mapping $DATA"
        "$UV" map "$DATA" >/dev/null
    fi
    # Same inode (so the same cached pages), but no .chunkmap beside it:
    # verify then has only --sha256 to check.
    ln -f "$DATA" "$DATA.nomap"
    rm -f "$DATA.nomap.chunkmap"
}

# CPU time (user + system) a set of processes has used so far, in clock
# ticks: how a server's share of one run is counted.
cpu_ticks() { # cpu_ticks PID...
    local pid total=0
    for pid; do
        # Fields 14 and 15 of /proc/PID/stat, summed over all its threads.
        [[ -r /proc/$pid/stat ]] && total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat")))
    done
    echo $total
}
CLK_TCK=$(getconf CLK_TCK)

run_timed() { # run_timed PAIR ROUND SIDE COMMAND
    local start end rss user sys servers ticks_before ticks_after
    # CPU_PIDS_ours / CPU_PIDS_peer name the servers whose CPU time counts
    # with that side's command (an upload's cost is the client's and the
    # server's); unset, only the command's own counts.
    servers=CPU_PIDS_$3
    ticks_before=$(cpu_ticks ${!servers:-})
    start=$EPOCHREALTIME # no fork, unlike date +%s.%N
    # /usr/bin/time adds the same fork to both sides, and gives every run's
    # peak RSS and CPU time without extra runs. Output goes to a file, never a
    # terminal (no progress bar), and is kept to explain a failure.
    if ! eval "/usr/bin/time -f '%M %U %S' -o \"\$WORK/.rss\" $4" >"$WORK/last-run.log" 2>&1; then
        tail -5 "$WORK/last-run.log" >&2
        die "$1: $3 side failed: $4"
    fi
    end=$EPOCHREALTIME
    ticks_after=$(cpu_ticks ${!servers:-})
    read -r rss user sys < <(tail -1 "$WORK/.rss")
    # Columns: pair, round, side, wall microseconds, peak RSS KiB, CPU microseconds.
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" $((${end/./} - ${start/./})) "$rss" \
        "$(awk -v u="$user" -v s="$sys" -v t=$((ticks_after - ticks_before)) -v hz="$CLK_TCK" 'BEGIN {printf "%d", (u + s + t / hz) * 1e6}')" >>"$SAMPLES"
}

# bench_pair NAME MAX-RATIO OURS PEER [AFTER-OURS AFTER-PEER [ROUNDS]]
# Runs OURS then PEER, ROUNDS times. MAX-RATIO is the target for the median of
# ours/peer ("-": informational only). The commands are strings evaluated at
# run time, so they can name $UV, $DATA, $SHA and $WORK. The AFTER commands
# run untimed after each side (to delete what an upload stored).
bench_pair() {
    local name=$1 target=$2 ours=$3 peer=$4 after_ours=${5:-:} after_peer=${6:-:} rounds=${7:-$ROUNDS} round
    log "$name ($rounds rounds): $ours  vs  $peer"
    cat "$DATA" >/dev/null # a build or a previous pair may have evicted pages
    for ((round = 1; round <= rounds; round++)); do
        run_timed "$name" "$round" ours "$ours"
        eval "$after_ours"
        run_timed "$name" "$round" peer "$peer"
        eval "$after_peer"
    done
    # A 5th column says the CPU samples include the servers' share.
    printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$target" "$ours" "$peer" "${CPU_PIDS_ours:+servers}" >>"$PAIRS"
}

# Medians, table, verdicts and results.tsv, from the raw samples.
report() {
    python3 - "$PAIRS" "$SAMPLES" "$WORK/results.tsv" "$BYTES" "$ROUNDS" "$RSS_LIMIT_MIB" <<'PY'
import os, sys, statistics as st
pairs_path, samples_path, out_path, size, rounds, rss_limit = sys.argv[1:]
size, rss_limit = int(size), float(rss_limit)
runs = {}  # (pair, side) -> [(round, seconds, rss KiB, CPU seconds)]
for line in open(samples_path):
    pair, rnd, side, us, rss, cpu_us = line.rstrip("\n").split("\t")
    runs.setdefault((pair, side), []).append((int(rnd), int(us) / 1e6, int(rss), int(cpu_us) / 1e6))
cols = ["pair", "bytes", "rounds", "ours_median_s", "peer_median_s", "median_ratio",
        "ours_gib_s", "peer_gib_s", "ours_peak_rss_mib", "peer_peak_rss_mib",
        "target_ratio", "time_verdict", "rss_verdict", "ours_cmd", "peer_cmd",
        "ours_median_cpu_s", "peer_median_cpu_s", "cpu_includes_servers"]
rows, verdicts, floors = [], [], []
cores = os.cpu_count()
for line in open(pairs_path):
    fields = line.rstrip("\n").split("\t")
    name, target, ours_cmd, peer_cmd = fields[:4]
    with_servers = len(fields) > 4 and fields[4] == "servers"
    ours, peer = sorted(runs[(name, "ours")]), sorted(runs[(name, "peer")])
    ratio = st.median(o[1] / p[1] for o, p in zip(ours, peer))
    t_ours, t_peer = st.median(o[1] for o in ours), st.median(p[1] for p in peer)
    cpu_ours, cpu_peer = st.median(o[3] for o in ours), st.median(p[3] for p in peer)
    if with_servers:
        # Work that needs cpu_ours seconds of CPU cannot finish in less than
        # cpu_ours / cores of wall time, however it is spread.
        floors.append(f"{name:15} CPU s per run, client + server (medians): ours {cpu_ours:.2f}, peer {cpu_peer:.2f}; "
                      f"on {cores} cores ours needs >= {cpu_ours / cores:.2f} s, "
                      f"{cpu_ours / cores / t_peer:.2f}x the peer's median time: the least ratio this machine allows")
    rss_ours, rss_peer = max(o[2] for o in ours) / 1024, max(p[2] for p in peer) / 1024
    peer_tool = peer_cmd.split()[0]
    if target == "-":
        tv = "info"
        tmsg = f"info: {ratio:.3f}x the time of {peer_tool} (no target)"
    else:
        tv = "PASS" if ratio <= float(target) else "FAIL"
        tmsg = f"{tv} time: median ratio {ratio:.3f} {'<=' if tv == 'PASS' else '>'} {float(target):.2f} vs {peer_tool}"
    if name.startswith(("receive", "complete", "audit", "upload", "latency", "repair")):
        # Our side there is a client process or curl; the server's RSS is reported apart.
        rv = "-"
        verdicts.append(f"{name:15} {tmsg}")
    else:
        rv = "PASS" if rss_ours < rss_limit else "FAIL"
        verdicts.append(f"{name:15} {tmsg}; {rv} RSS: {rss_ours:.1f} MiB {'<' if rv == 'PASS' else '>='} {rss_limit:.0f}")
    gib = size / 2**30
    rows.append([name, size, rounds, f"{t_ours:.3f}", f"{t_peer:.3f}", f"{ratio:.3f}",
                 f"{gib / t_ours:.2f}", f"{gib / t_peer:.2f}", f"{rss_ours:.1f}", f"{rss_peer:.1f}",
                 target, tv, rv, ours_cmd, peer_cmd, f"{cpu_ours:.3f}", f"{cpu_peer:.3f}", with_servers])
with open(out_path, "w") as out:
    for r in [cols] + rows:
        out.write("\t".join(map(str, r)) + "\n")
print(f"\n{size / 2**30:.2f} GiB, {rounds} alternating rounds; times are medians, "
      "ratio = median of per-round ours/peer (< 1 means we are faster)")
print(f"{'pair':15} {'ours s':>7} {'peer s':>7} {'ratio':>6} {'ours GiB/s':>10} "
      f"{'peer GiB/s':>10} {'ours RSS MiB':>12} {'peer RSS MiB':>12}  peer")
for r in rows:
    print(f"{r[0]:15} {r[3]:>7} {r[4]:>7} {r[5]:>6} {r[6]:>10} {r[7]:>10} {r[8]:>12} {r[9]:>12}  {r[14]}")
print()
print("\n".join(verdicts))
if floors:
    print()
    print("\n".join(floors))
PY
}

# --- The server: receiving uploads against nginx's WebDAV PUT -------------

SERVE_PORT=18931
NGINX_PORT=18932

start_servers() {
    need nginx nginx-light
    need curl curl
    rm -rf "$WORK/srv" "$WORK/srv-fsync" "$WORK/nginx"
    mkdir -p "$WORK/srv" "$WORK/srv-fsync" "$WORK/nginx/root" "$WORK/nginx/tmp" "$WORK/nginx/logs"
    "$UV" serve --data-dir "$WORK/srv" --port $SERVE_PORT --no-fsync >"$WORK/serve.log" 2>&1 &
    SERVE_PID=$!
    "$UV" serve --data-dir "$WORK/srv-fsync" --port $((SERVE_PORT + 2)) >"$WORK/serve-fsync.log" 2>&1 &
    SERVE_FSYNC_PID=$!
    # STACK.md's peer: WebDAV PUT, 1 MiB body buffer, no size limit, no fsync.
    cat >"$WORK/nginx/nginx.conf" <<CONF
daemon off;
worker_processes 1;
user root; # the bench runs as root; workers must write where the bench cleans up
error_log $WORK/nginx/logs/error.log;
pid $WORK/nginx/nginx.pid;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path $WORK/nginx/tmp;
    server {
        listen 127.0.0.1:$NGINX_PORT;
        root $WORK/nginx/root;
        client_body_buffer_size 1m;
        client_max_body_size 0;
        location / { dav_methods PUT; create_full_put_path on; }
    }
}
CONF
    nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" >"$WORK/nginx/logs/stdout" 2>&1 &
    NGINX_PID=$!
    trap stop_servers EXIT
    local i
    for ((i = 0; i < 50; i++)); do
        curl -sf "http://127.0.0.1:$SERVE_PORT/healthz" >/dev/null &&
            curl -sf "http://127.0.0.1:$((SERVE_PORT + 2))/healthz" >/dev/null &&
            curl -s -o /dev/null "http://127.0.0.1:$NGINX_PORT/" && return
        sleep 0.2
    done
    die "servers did not start (see $WORK/serve.log, $WORK/nginx/logs)"
}

stop_servers() {
    kill "$SERVE_PID" "$SERVE_FSYNC_PID" "$NGINX_PID" 2>/dev/null || true
    wait 2>/dev/null || true
}

bench_server() {
    start_servers
    local ours="python3 scripts/bench_upload.py" base="http://127.0.0.1:$SERVE_PORT"
    local peer='curl -sf -H "Expect:" -T "$DATA" "http://127.0.0.1:'$NGINX_PORT'/data.bin"'
    local clean_ours='rm -f "$WORK"/srv/*' clean_peer='rm -f "$WORK"/nginx/root/data.bin'
    local mib=$((1 << 20))
    # The target: 3 connections of 8 MiB chunks at >= 0.8x nginx's rate, i.e. <= 1.25x its time.
    bench_pair receive-3x8MiB 1.25 "$ours $base \"\$DATA\" --chunk-size $((8 * mib)) --connections 3" "$peer" "$clean_ours" "$clean_peer"
    SERVER_PEAK_RSS_KIB=$(awk '/VmHWM/ {print $2}' "/proc/$SERVE_PID/status")
    bench_pair receive-fsync - "$ours http://127.0.0.1:$((SERVE_PORT + 2)) \"\$DATA\" --chunk-size $((8 * mib)) --connections 3" \
        "$peer" 'rm -f "$WORK"/srv-fsync/*' "$clean_peer"
    local n size scaling_rounds=${BENCH_SCALING_ROUNDS:-3}
    for n in 1 8; do
        bench_pair "receive-${n}x8MiB" - "$ours $base \"\$DATA\" --chunk-size $((8 * mib)) --connections $n" "$peer" "$clean_ours" "$clean_peer" "$scaling_rounds"
    done
    for size in 1 64; do
        bench_pair "receive-3x${size}MiB" - "$ours $base \"\$DATA\" --chunk-size $((size * mib)) --connections 3" "$peer" "$clean_ours" "$clean_peer" "$scaling_rounds"
    done
    bench_complete
    stop_servers
    trap - EXIT
}

# complete: what is left to read at completion (SHA-256 of what the
# background hashing of the verified prefix had not reached, and every
# chunk's XXH3), then audit: the whole pass again (SHA-256 + every XXH3 from
# disk), both against openssl dgst -sha256 of the same data file. Each round
# uploads afresh, untimed, since completing a complete upload is a no-op.
bench_complete() {
    local round url id digest
    digest=$(echo "$SHA" | xxd -r -p | base64 -w0)
    log "complete and audit ($ROUNDS rounds): POST /complete, POST /audit  vs  openssl dgst -sha256 on the data file"
    for ((round = 1; round <= ROUNDS; round++)); do
        url=$(python3 scripts/bench_upload.py "http://127.0.0.1:$SERVE_PORT" "$DATA" --chunk-size $((8 << 20)) --connections 3)
        id=${url##*/}
        cat "$WORK/srv/$id" >/dev/null
        run_timed complete "$round" ours "curl -sf -X POST -H 'Repr-Digest: sha-256=:$digest:' '$url/complete'"
        run_timed complete "$round" peer "openssl dgst -sha256 '$WORK/srv/$id'"
        run_timed audit "$round" ours "curl -sf -X POST '$url/audit'"
        run_timed audit "$round" peer "openssl dgst -sha256 '$WORK/srv/$id'"
        rm -f "$WORK"/srv/*
    done
    printf '%s\t%s\t%s\t%s\n' complete - "curl -X POST \$URL/complete" "openssl dgst -sha256 \$WORK/srv/ID" >>"$PAIRS"
    printf '%s\t%s\t%s\t%s\n' audit 1.0 "curl -X POST \$URL/audit" "openssl dgst -sha256 \$WORK/srv/ID" >>"$PAIRS"
}

# --- The client: upload, the worker queue over latency, repair vs rsync ----

PROXY_PORT=18934
RSYNC_PORT=18935

# A fresh resume-state folder per run: otherwise the second round would find
# the file already uploaded and send nothing.
ours_upload() { # ours_upload CONCURRENCY BASE-URL FILE [CHUNK-SIZE]
    echo "env XDG_CACHE_HOME=\"\$WORK/cache-\$RANDOM\" \"\$UV\" upload \"$3\" --server $2 --concurrency $1 --chunk-size ${4:-8MiB} --json"
}

bench_client() {
    start_servers
    local base="http://127.0.0.1:$SERVE_PORT"
    local peer='curl -sf -H "Expect:" -T "$DATA" "http://127.0.0.1:'$NGINX_PORT'/data.bin"'
    local clean_ours='rm -rf "$WORK"/srv/* "$WORK"/cache-*' clean_peer='rm -f "$WORK"/nginx/root/data.bin'
    # The target: upload at >= 0.8x the rate of curl -T to nginx, i.e. <= 1.25x its time.
    # Each side's CPU time counts its server's too (nginx: master and worker),
    # for the floor the report gives: 2 cores can go no faster than that
    # CPU time allows.
    CPU_PIDS_ours=$SERVE_PID CPU_PIDS_peer="$NGINX_PID $(pgrep -P "$NGINX_PID" | tr '\n' ' ')" \
        bench_pair upload-3x8MiB 1.25 "$(ours_upload 3 "$base" '$DATA')" "$peer" "$clean_ours" "$clean_peer"

    # The worker queue over 20 ms of round trip (10 ms each way), on a 256 MiB
    # file in 1 MiB chunks: many requests, so the round trips are what counts
    # (with 8 MiB chunks the Python proxy's own throughput caps every run).
    local small=$WORK/small.bin
    [[ -f $small ]] || head -c $((256 << 20)) "$DATA" >"$small"
    python3 scripts/delay_proxy.py $PROXY_PORT $SERVE_PORT 0.010 &
    PROXY_PID=$!
    sleep 0.5
    local proxied="http://127.0.0.1:$PROXY_PORT" scaling_rounds=${BENCH_SCALING_ROUNDS:-3}
    # The target: --concurrency 3 at least 2x faster than 1, i.e. <= 0.5x its time.
    bench_pair latency-c3-vs-c1 0.5 "$(ours_upload 3 "$proxied" "$small" 1MiB)" "$(ours_upload 1 "$proxied" "$small" 1MiB)" "$clean_ours" "$clean_ours" "$scaling_rounds"
    bench_pair latency-c8-vs-c1 - "$(ours_upload 8 "$proxied" "$small" 1MiB)" "$(ours_upload 1 "$proxied" "$small" 1MiB)" "$clean_ours" "$clean_ours" "$scaling_rounds"
    kill $PROXY_PID 2>/dev/null || true

    start_rsyncd
    bench_repair 1
    bench_repair 8
    kill "$(cat "$WORK/rsyncd.pid")" 2>/dev/null || true
    stop_servers
    trap - EXIT
}

# repair (push) after at-rest damage to 3 chunks on the server, against
# rsync --inplace --no-whole-file of the same good file onto a copy with the
# same 3 damaged 1 MiB regions, through an rsync daemon on loopback.
start_rsyncd() {
    need rsync rsync
    mkdir -p "$WORK/rsync"
    cat >"$WORK/rsyncd.conf" <<CONF
pid file = $WORK/rsyncd.pid
use chroot = false
[bench]
    path = $WORK/rsync
    read only = false
    uid = root
    gid = root
CONF
    rsync --daemon --config="$WORK/rsyncd.conf" --port=$RSYNC_PORT --address=127.0.0.1
    sleep 0.3
}

bench_repair() { # bench_repair CHUNK-MiB
    local mib=$1 round url id before after sent rsync_sample
    rm -rf "$WORK"/srv/* "$WORK"/cache-*
    url=$(XDG_CACHE_HOME="$WORK/cache-repair" "$UV" upload "$DATA" --server "http://127.0.0.1:$SERVE_PORT" --chunk-size "${mib}MiB" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["url"])')
    id=${url##*/}
    cp "$DATA" "$WORK/rsync/data.bin"
    damage() { # damage FILE: one byte in each of three 1 MiB regions, far apart
        local offset
        for offset in $((BYTES / 40)) $((BYTES / 2)) $((BYTES / 40 * 39)); do
            printf 'X' | dd of="$1" bs=1 seek=$offset conv=notrunc 2>/dev/null
        done
    }
    log "repair-${mib}MiB ($ROUNDS rounds): uploadverify repair (push) vs rsync --inplace --no-whole-file"
    for ((round = 1; round <= ROUNDS; round++)); do
        damage "$WORK/srv/$id"
        before=$(curl -s "http://127.0.0.1:$SERVE_PORT/metrics" | awk '/^uploadverify_bytes_received_total/ {print $2}')
        run_timed "repair-${mib}MiB" "$round" ours "\"\$UV\" repair $url --from \"\$DATA\" --json"
        after=$(curl -s "http://127.0.0.1:$SERVE_PORT/metrics" | awk '/^uploadverify_bytes_received_total/ {print $2}')
        damage "$WORK/rsync/data.bin"
        run_timed "repair-${mib}MiB" "$round" peer "rsync --inplace --no-whole-file --stats \"\$DATA\" rsync://127.0.0.1:$RSYNC_PORT/bench/data.bin"
        sent=$(awk '/Total bytes sent/ {gsub(",", "", $4); print $4}' "$WORK/last-run.log")
        if ((mib == 1)); then
            # The floor: one SHA-256 pass over the file, against this round's
            # rsync. A repair that confirms the SHA-256 must hash everything
            # from the first damaged chunk on after that chunk is mended, in
            # one stream on one core: at least 97.5% of this pass here.
            rsync_sample=$(tail -1 "$SAMPLES")
            run_timed sha256-pass "$round" ours "openssl dgst -sha256 \"\$DATA\""
            printf '%s\n' "${rsync_sample/#repair-1MiB/sha256-pass}" >>"$SAMPLES"
        fi
        printf '%s\t%s\t%s\t%s\n' "repair-${mib}MiB" "$round" $((after - before)) "$sent" >>"$WORK/repair-bytes.tsv"
    done
    printf '%s\t%s\t%s\t%s\n' "repair-${mib}MiB" 1.25 "uploadverify repair URL --from DATA" "rsync --inplace --no-whole-file" >>"$PAIRS"
    if ((mib == 1)); then
        printf '%s\t%s\t%s\t%s\n' sha256-pass - "openssl dgst -sha256 DATA" "rsync --inplace --no-whole-file (the repair-1MiB rounds)" >>"$PAIRS"
    fi
    rm -f "$WORK/rsync/data.bin"
}

main() {
    BYTES=$(numfmt --from=iec "${SIZE_SPEC%iB}") || die "BENCH_SIZE: not a size: $SIZE_SPEC"
    [[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "BENCH_ROUNDS: not a positive count: $ROUNDS"
    mkdir -p "$WORK"
    WORK=$(realpath "$WORK") # nginx needs absolute paths
    need xxhsum xxhash
    need /usr/bin/time time
    build
    DATA=$WORK/data.bin PAIRS=$WORK/pairs.tsv SAMPLES=$WORK/samples.tsv
    make_data
    : >"$PAIRS"
    : >"$SAMPLES"
    log "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

    local only=${BENCH_ONLY:-all}
    if [[ $only == all || $only == local ]]; then
    # -q: xxhsum otherwise draws a progress line on stderr, even into a file.
    bench_pair verify-map     1.0 '"$UV" verify "$DATA"'                         'xxhsum -q -H3 "$DATA"'
    bench_pair verify-sha     1.0 '"$UV" verify "$DATA.nomap" --sha256 "$SHA"'   'openssl dgst -sha256 "$DATA"'
    bench_pair verify-map+sha 1.0 '"$UV" verify "$DATA" --sha256 "$SHA"'         'openssl dgst -sha256 "$DATA"'
    bench_pair map            -   '"$UV" map "$DATA" -o "$WORK/scratch.chunkmap"' 'openssl dgst -sha256 "$DATA"'
    fi
    if [[ $only == all || $only == server ]]; then
        need xxd xxd
        bench_server
    fi
    if [[ $only == all || $only == client ]]; then
        : >"$WORK/repair-bytes.tsv"
        bench_client
    fi

    log "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
    report
    if [[ -s $WORK/repair-bytes.tsv ]]; then
        echo "bytes over the wire per repair round (ours = server bytes received, rsync = total bytes sent; 3 damaged regions):"
        awk -F'\t' '{printf "  %s round %s: ours %d, rsync %d\n", $1, $2, $3, $4}' "$WORK/repair-bytes.tsv"
    fi
    [[ -n ${SERVER_PEAK_RSS_KIB:-} ]] && echo "server peak RSS over the receive-3x8MiB rounds: $((SERVER_PEAK_RSS_KIB / 1024)) MiB (target < 100 MiB)"
    echo "raw samples: $SAMPLES (wall microseconds, peak RSS KiB, CPU microseconds); results: $WORK/results.tsv"
}

main "$@"
