#!/usr/bin/env bash
# Several `uploadverify serve` nodes over one GlusterFS volume, behind nginx,
# on this one machine (the layout of shared/GLUSTER.md):
#
#   scripts/cluster.sh up N [--binary PATH] [--dir DIR] [--port P] [-- SERVE-ARGS...]
#   scripts/cluster.sh status | kill-node I | start-node I | unmount-node I | remount-node I | down   [--dir DIR]
#
# `up N` makes a bridge uvc-br0 (10.213.9.1/24), a network namespace
# uvc-store (10.213.9.2) running glusterd and the volume's one brick, and N
# namespaces uvc-n1..uvc-nN (10.213.9.11, .12, ...), each with its own FUSE
# mount of the volume and its own `serve --data-dir MOUNT/uploads --host
# NODE_ADDR --port 8080`; then nginx on 127.0.0.1:P (8090) in front of them,
# plain round robin. Everything it makes is named uvc-* or lives in the state
# folder (DIR, default $CLUSTER_DIR or /tmp/uploadverify-cluster), which
# also holds cluster.env for tests: BALANCER_URL, NODE_URLS, NODE_PIDS,
# MOUNTS, ... (KEY=VALUE lines, lists space-separated).
#
# `kill-node I` SIGKILLs node I's serve, `start-node I` starts it again.
# `unmount-node I` takes node I's mount away under its running serve (a lazy
# umount; its glusterfs client then exits), as a lost mount would;
# `remount-node I` mounts it again (after unmount-node, or after its
# glusterfs client died and left a mount that answers ENOTCONN).
# `down` stops and removes all of it, and is safe to run at any time, any
# number of times (`up` runs it itself when it fails).
#
# The network rule of this machine: traffic only to loopback and to the
# namespaces made here. No namespace has a default route, IPv6 is off on
# the bridge and in every namespace, nginx listens on 127.0.0.1 only, and
# nothing is sent to a node's address unless the route to it is the bridge.
# Needs root, and scripts/install-deps.sh --cluster.
set -euo pipefail
umask 022
PATH="$PATH:/usr/sbin:/sbin"

SUBNET=10.213.9
BRIDGE=uvc-br0
BRIDGE_ADDR=$SUBNET.1
STORE_NS=uvc-store
STORE_ADDR=$SUBNET.2
VOLUME=uvc-vol
NODE_PORT=8080
MAX_NODES=40
GLUSTER_PATHS=(/var/log/glusterfs /run/gluster /var/lib/glusterd)
MARKER=.uvc-cluster

here=$(cd "$(dirname "$0")/.." && pwd)

# Messages go to fd 9, a copy of stderr, so that one printed by a trap that
# fires inside a command whose stderr is /dev/null is still seen. Every
# daemon is started with 9>&- (a daemon holding it would keep a caller's
# pipe open).
exec 9>&2
log() { printf 'cluster: %s\n' "$*" >&9; }
die() { log "$*"; exit 1; }
usage() {
    sed -n '5,6p' "$0" | sed 's/^# *//' >&2
    exit 2
}

# --- arguments ------------------------------------------------------------

cmd=${1:-}
[ -n "$cmd" ] || usage
shift
nodes="" index="" binary="" dir=${CLUSTER_DIR:-/tmp/uploadverify-cluster} port=8090
serve_args=()
case "$cmd" in
    up)
        [ $# -gt 0 ] || usage
        nodes=$1; shift ;;
    kill-node | start-node | unmount-node | remount-node)
        [ $# -gt 0 ] || usage
        index=$1; shift ;;
    status | down) ;;
    -h | --help | help) usage ;;
    *) usage ;;
esac
while [ $# -gt 0 ]; do
    case "$1" in
        --binary) binary=${2:?--binary needs a path}; shift 2 ;;
        --dir) dir=${2:?--dir needs a folder}; shift 2 ;;
        --port) port=${2:?--port needs a number}; shift 2 ;;
        --) shift; serve_args=("$@"); break ;;
        *) usage ;;
    esac
done
[ "$(id -u)" -eq 0 ] || die "needs root (network namespaces, FUSE mounts, glusterd)"
case "$dir" in
    /*) ;;
    *) dir=$(pwd)/$dir ;;
esac
dir=${dir%/}
case "$dir" in
    "" | / | /tmp | /root | /home | /var | /usr | /etc | /run) die "refusing state folder '$dir'" ;;
    *[[:space:]]*) die "the state folder's path must have no spaces" ;;
esac

# --- small helpers ----------------------------------------------------------

G="$dir/gluster"     # glusterd.vol, state/, run/, brick/, logs
NX="$dir/nginx"      # nginx.conf, nginx.pid, logs/, temp folders
ND="$dir/nodes"      # per node: nI.pid, nI.log
MNT="$dir/mnt"       # per node: nI (the FUSE mount)
SNAP="$dir/snapshot" # what existed before `up`, for `down`
ENV_FILE="$dir/cluster.env"

node_ns() { echo "uvc-n$1"; }
node_addr() { echo "$SUBNET.$((10 + $1))"; }
node_url() { echo "http://$(node_addr "$1"):$NODE_PORT"; }

# A live process (a zombie waiting for PID 1 to reap it does not count).
alive() {
    local pid=$1 state
    [ -n "$pid" ] && [ -r "/proc/$pid/stat" ] || return 1
    state=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1) || return 1
    [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

# PID is alive and its command line contains TEXT (guards against a reused pid).
alive_as() {
    alive "$1" && tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -qF -- "$2"
}

# Waits up to SECONDS (whole) for every PID given to be gone.
wait_gone() {
    local tenths=$(($1 * 10)) pid left
    shift
    while :; do
        left=0
        for pid in "$@"; do alive "$pid" && left=1; done
        [ $left -eq 0 ] && return 0
        [ "$tenths" -le 0 ] && return 1
        sleep 0.1
        tenths=$((tenths - 1))
    done
}

# SIGTERM, wait, then SIGKILL whatever is left.
stopped=() # every pid stopped, for down to wait until PID 1 has reaped them
stop_pids() { # stop_pids SECONDS PID...
    local secs=$1 pid
    shift
    [ $# -gt 0 ] || return 0
    stopped+=("$@")
    for pid in "$@"; do kill -TERM "$pid" 2>/dev/null || true; done
    wait_gone "$secs" "$@" && return 0
    for pid in "$@"; do alive "$pid" && kill -KILL "$pid" 2>/dev/null || true; done
    wait_gone 3 "$@" || log "still alive after SIGKILL: $*"
}

ns_exists() { [ -e "/run/netns/$1" ]; }
in_ns() { local ns=$1; shift; nsenter --net="/run/netns/$ns" "$@"; }

# The only way this script sends anything to a 10.213.9.x address: after
# checking that the kernel would route it to our bridge (so never out of
# the machine's real interfaces, e.g. once the bridge is gone).
routed_to_bridge() {
    ip -4 route get "$1" 2>/dev/null | grep -q "dev $BRIDGE "
}
node_curl() { # node_curl ADDR CURL-ARGS... (the URL among them)
    local addr=$1
    shift
    routed_to_bridge "$addr" || return 1
    curl --noproxy '*' "$@"
}

gluster_cli() {
    timeout 60 nsenter --net="/run/netns/$STORE_NS" \
        gluster --mode=script --glusterd-sock="$G/run/glusterd.socket" \
        --log-file="$G/cli.log" "$@"
}

ts() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(ts)" 'BEGIN { printf "%.2f", b - a }'; }

# --- down -----------------------------------------------------------------

do_down() {
    local pid pids ns link mp i left

    # 1. The servers (SIGTERM: they stop accepting, finish what is in flight).
    pids=()
    for f in "$ND"/n*.pid; do
        [ -f "$f" ] || continue
        pid=$(cat "$f" 2>/dev/null || true)
        alive_as "$pid" " serve " && pids+=("$pid")
    done
    stop_pids 10 "${pids[@]}"

    # 2. nginx, before the bridge goes (with the bridge gone, a connection
    #    to a node's address would take the machine's default route).
    pids=()
    pid=$(cat "$NX/nginx.pid" 2>/dev/null || true)
    alive_as "$pid" "nginx" && pids+=("$pid")
    # Also any nginx master started with a configuration this script wrote
    # (one whose pid file is gone, or an up run with another --dir).
    local conf
    for pid in $(pgrep -f '^nginx: master process' 2>/dev/null || true); do
        conf=$(tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | sed -n 's/^.* -c \([^ ]*\).*$/\1/p')
        case "$conf" in
            "$NX/nginx.conf") pids+=("$pid") ;;
            */nginx/nginx.conf) head -1 "$conf" 2>/dev/null | grep -q 'Made by scripts/cluster.sh' && pids+=("$pid") ;;
        esac
    done
    [ ${#pids[@]} -gt 0 ] && stop_pids 5 $(printf '%s\n' "${pids[@]}" | sort -u)

    # 3. The FUSE mounts (the client exits on its own once unmounted).
    local mounts=()
    local src fstype
    while read -r src mp fstype _; do
        mp=$(printf '%b' "$mp")
        case "$mp" in "$MNT"/*) mounts+=("$mp"); continue ;; esac
        # Our volume mounted anywhere else (an up run with another --dir).
        [ "$fstype" = fuse.glusterfs ] && [ "$src" = "$STORE_ADDR:$VOLUME" ] && mounts+=("$mp")
    done </proc/mounts
    for mp in "${mounts[@]}"; do
        umount "$mp" 2>/dev/null || umount -l "$mp" 2>/dev/null || log "could not unmount $mp"
    done
    pids=()
    for f in "$G"/client-n*.pid; do
        [ -f "$f" ] || continue
        pid=$(cat "$f" 2>/dev/null || true)
        alive_as "$pid" glusterfs && pids+=("$pid")
    done
    wait_gone 2 "${pids[@]}" || stop_pids 3 "${pids[@]}"

    # 4. The volume, then glusterd.
    pid=$(cat "$G/glusterd.pid" 2>/dev/null || true)
    if alive_as "$pid" glusterd && [ -S "$G/run/glusterd.socket" ]; then
        gluster_cli volume stop "$VOLUME" force >/dev/null 2>&1 || true
    fi
    alive_as "$pid" glusterd && stop_pids 5 "$pid"

    # 5. Whatever still runs in our namespaces (the brick, a stray client).
    for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep '^uvc-' || true); do
        pids=($(ip netns pids "$ns" 2>/dev/null || true))
        [ ${#pids[@]} -gt 0 ] && stop_pids 3 "${pids[@]}"
    done

    # 6. The links (the host ends of the veths explicitly: a namespace's
    #    veth goes only after a delay), the namespaces, the bridge.
    for link in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1 | grep '^uvc-' || true); do
        [ "$link" = "$BRIDGE" ] && continue
        ip link del "$link" 2>/dev/null || true
    done
    for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep '^uvc-' || true); do
        ip netns del "$ns" 2>/dev/null || log "could not delete namespace $ns"
    done
    ip link show "$BRIDGE" >/dev/null 2>&1 && { ip link del "$BRIDGE" || log "could not delete $BRIDGE"; }

    # 7. What gluster wrote outside its volfile's folders, this run's only:
    #    what is there now and was not before `up` (sorted, so a new folder
    #    comes before, and takes with it, what is inside it).
    if [ -f "$SNAP/gluster-paths" ]; then
        find "${GLUSTER_PATHS[@]}" 2>/dev/null | LC_ALL=C sort >"$SNAP/gluster-paths.now" || true
        LC_ALL=C comm -13 "$SNAP/gluster-paths" "$SNAP/gluster-paths.now" | while IFS= read -r p; do
            [ -e "$p" ] || [ -L "$p" ] || continue
            rm -rf --one-file-system -- "$p"
        done
    elif [ -d "$dir" ]; then
        # `up` stopped before its snapshot: only the volume's own names.
        rm -rf /var/log/glusterfs/gfproxy/"$VOLUME" /var/log/glusterfs/snaps/"$VOLUME"
    fi

    # 8. /run/netns: `ip netns add` bind-mounts it onto itself the first
    #    time; undone when this run did it and no namespace is left in it.
    if [ -f "$SNAP/netns-mount" ] && [ "$(cat "$SNAP/netns-mount")" = absent ] &&
        findmnt -n /run/netns >/dev/null 2>&1 && [ -z "$(ls -A /run/netns 2>/dev/null)" ]; then
        umount /run/netns 2>/dev/null || umount -l /run/netns 2>/dev/null || true
    fi
    if [ -f "$SNAP/netns-dir" ] && [ "$(cat "$SNAP/netns-dir")" = absent ] &&
        ! findmnt -n /run/netns >/dev/null 2>&1; then
        rmdir /run/netns 2>/dev/null || true
    fi

    # 9. Daemons exit as zombies of PID 1, which reaps them within a second
    #    or two: wait for that, so that nothing of ours shows in ps after down.
    for ((i = 0; i < 50; i++)); do
        left=0
        for pid in "${stopped[@]}"; do [ -e "/proc/$pid" ] && left=1; done
        ps -eo stat=,comm= | grep -qE '^Z[^ ]* +(glusterd|glusterfsd|glusterfs|nginx|uploadverify)$' && left=1
        [ $left -eq 0 ] && break
        sleep 0.1
    done

    # 10. The state folder (only one this script made: it has the marker).
    if [ -d "$dir" ]; then
        if grep -q " $MNT/" /proc/mounts; then
            log "a mount is still under $MNT: leaving $dir"
            return 1
        fi
        if [ -f "$dir/$MARKER" ]; then
            rm -rf --one-file-system -- "$dir"
        else
            log "$dir has no $MARKER: not made by this script, left as it is"
        fi
    fi
    return 0
}

# --- up -------------------------------------------------------------------

write_env() {
    local urls="" addrs="" nss="" pids="" mounts="" datas="" logs="" clients="" i
    for ((i = 1; i <= nodes; i++)); do
        urls+="$(node_url "$i") "
        addrs+="$(node_addr "$i") "
        nss+="$(node_ns "$i") "
        pids+="$(cat "$ND/n$i.pid" 2>/dev/null || echo 0) "
        mounts+="$MNT/n$i "
        datas+="$MNT/n$i/uploads "
        logs+="$ND/n$i.log "
        clients+="$(cat "$G/client-n$i.pid" 2>/dev/null || echo 0) "
    done
    cat >"$ENV_FILE.tmp" <<ENV
CLUSTER_DIR=$dir
BALANCER_URL=http://127.0.0.1:$port
BALANCER_PORT=$port
NODE_COUNT=$nodes
NODE_URLS="${urls% }"
NODE_ADDRS="${addrs% }"
NODE_NAMESPACES="${nss% }"
NODE_PIDS="${pids% }"
MOUNTS="${mounts% }"
DATA_DIRS="${datas% }"
NODE_LOGS="${logs% }"
CLIENT_PIDS="${clients% }"
BINARY=$binary
NGINX_PID=$(cat "$NX/nginx.pid" 2>/dev/null || echo 0)
NGINX_ACCESS_LOG=$NX/logs/access.log
NGINX_ERROR_LOG=$NX/logs/error.log
GLUSTERD_PID=$(cat "$G/glusterd.pid" 2>/dev/null || echo 0)
VOLUME=$VOLUME
STORE_NAMESPACE=$STORE_NS
STORE_ADDR=$STORE_ADDR
BRICK=$G/brick
BRIDGE=$BRIDGE
ENV
    mv "$ENV_FILE.tmp" "$ENV_FILE"
}

# The settings `up` chose, for the other subcommands.
load_settings() {
    [ -f "$dir/settings" ] || die "no cluster in $dir (scripts/cluster.sh up N first)"
    # shellcheck disable=SC1091
    . "$dir/settings"
}

make_ns() { # make_ns NS ADDR
    local ns=$1 addr=$2 host_end="$1-h"
    ip netns add "$ns"
    # IPv6 off before any link comes up, so that nothing (not even a
    # router solicitation) is ever sent with it.
    in_ns "$ns" sh -c 'echo 1 >/proc/sys/net/ipv6/conf/all/disable_ipv6; echo 1 >/proc/sys/net/ipv6/conf/default/disable_ipv6'
    ip link add "$host_end" type veth peer name eth0 netns "$ns"
    echo 1 >"/proc/sys/net/ipv6/conf/$host_end/disable_ipv6"
    in_ns "$ns" sh -c 'echo 1 >/proc/sys/net/ipv6/conf/eth0/disable_ipv6'
    ip link set "$host_end" master "$BRIDGE" up
    ip -n "$ns" addr add "$addr/24" dev eth0
    ip -n "$ns" link set lo up
    ip -n "$ns" link set eth0 up
    # No default route: the namespace reaches the subnet and nothing else.
    if ip -n "$ns" route show default | grep -q .; then die "$ns has a default route"; fi
}

mounted() { grep -q " $MNT/n$1 fuse" /proc/mounts; }

start_mount() { # start_mount I: node I's glusterfs client, in its namespace
    local i=$1
    mkdir -p "$MNT/n$i"
    setsid nsenter --net="/run/netns/$(node_ns "$i")" glusterfs -N \
        --volfile-server="$STORE_ADDR" --volfile-id="$VOLUME" --direct-io-mode=enable \
        --log-file="$G/client-n$i.log" "$MNT/n$i" 9>&- </dev/null >>"$G/client-n$i.out" 2>&1 &
    echo $! >"$G/client-n$i.pid"
}

wait_mounted() { # wait_mounted I: until /proc/mounts lists node I's mount
    local i=$1 t
    for ((t = 0; t < 100; t++)); do
        mounted "$i" && return 0
        alive "$(cat "$G/client-n$i.pid")" || { tail -n 20 "$G/client-n$i.log" >&9 || true; die "node $i's mount exited"; }
        sleep 0.1
    done
    die "node $i's mount did not appear in 10 s (see $G/client-n$i.log)"
}

start_node() { # start_node I
    local i=$1 ns addr pid t
    ns=$(node_ns "$i")
    addr=$(node_addr "$i")
    # setsid: a session of its own (no terminal's signals, nothing tied to
    # the caller); nsenter with --net only execs, so $! is serve's pid.
    setsid nsenter --net="/run/netns/$ns" "$binary" serve \
        --data-dir "$MNT/n$i/uploads" --host "$addr" --port "$NODE_PORT" "${serve_args[@]}" \
        9>&- </dev/null >>"$ND/n$i.log" 2>&1 &
    pid=$!
    echo "$pid" >"$ND/n$i.pid"
    for ((t = 0; t < 150; t++)); do
        node_curl "$addr" -sf -o /dev/null --max-time 1 "$(node_url "$i")/healthz" && return 0
        alive "$pid" || { tail -n 20 "$ND/n$i.log" >&9; die "node $i's serve exited"; }
        sleep 0.1
    done
    tail -n 20 "$ND/n$i.log" >&9
    die "node $i's serve did not answer /healthz in 15 s"
}

do_up() {
    local t0 i t ns addr pid
    t0=$(ts)
    case "$nodes" in '' | *[!0-9]*) die "N must be a number" ;; esac
    [ "$nodes" -ge 1 ] && [ "$nodes" -le $MAX_NODES ] || die "N must be 1 to $MAX_NODES"
    case "$port" in '' | *[!0-9]*) die "--port must be a number" ;; esac
    if [ -z "$binary" ]; then
        for binary in "$here/.build/release/uploadverify" "$here/.build/debug/uploadverify" ""; do
            [ -x "$binary" ] && break
        done
        [ -n "$binary" ] || die "no binary: build one (swift build) or give --binary PATH"
    fi
    [ -x "$binary" ] || die "not an executable: $binary"
    binary=$(realpath -s "$binary")
    for c in glusterd glusterfs gluster nginx ip nsenter setsid curl findmnt; do
        command -v "$c" >/dev/null 2>&1 || die "$c is missing: scripts/install-deps.sh --cluster"
    done
    [ -e /dev/fuse ] || die "/dev/fuse is missing"

    # Refuse to start over anything: a cluster already up, our names in use,
    # the subnet routed elsewhere, the port taken.
    [ ! -e "$dir" ] || die "$dir exists: a cluster is up (or was left); scripts/cluster.sh down first"
    ip netns list 2>/dev/null | grep -q '^uvc-' && die "uvc- namespaces exist: scripts/cluster.sh down first"
    ip link show "$BRIDGE" >/dev/null 2>&1 && die "$BRIDGE exists: scripts/cluster.sh down first"
    [ -z "$(ip -4 route show root "$SUBNET.0/24")" ] ||
        die "$SUBNET.0/24 is already routed on this machine"
    [ -z "$(ip -4 addr show | grep " $SUBNET\.")" ] || die "an address in $SUBNET.0/24 is already in use"
    if command -v ss >/dev/null 2>&1 && ss -Hltn "sport = :$port" | grep -q .; then
        die "port $port is taken on this machine (--port P)"
    fi

    # From here on a failure (or ^C) takes down all that was made.
    trap 'st=$?; trap - EXIT INT TERM; log "up failed; taking down what it made"; do_down || true; exit $((st ? st : 1))' EXIT
    trap 'exit 130' INT TERM

    mkdir -p "$dir"
    touch "$dir/$MARKER"
    mkdir -p "$SNAP" "$G/state" "$G/run" "$G/brick" "$NX/logs" "$NX/tmp" "$ND" "$MNT"
    find "${GLUSTER_PATHS[@]}" 2>/dev/null | LC_ALL=C sort >"$SNAP/gluster-paths" || true
    if findmnt -n /run/netns >/dev/null 2>&1; then echo present; else echo absent; fi >"$SNAP/netns-mount"
    if [ -d /run/netns ]; then echo present; else echo absent; fi >"$SNAP/netns-dir"
    {
        echo "nodes=$nodes"
        echo "port=$port"
        echo "binary=$binary"
        printf 'serve_args=('
        [ ${#serve_args[@]} -gt 0 ] && printf '%q ' "${serve_args[@]}"
        printf ')\n'
    } >"$dir/settings"

    # The bridge and the namespaces.
    ip link add "$BRIDGE" type bridge
    echo 1 >"/proc/sys/net/ipv6/conf/$BRIDGE/disable_ipv6"
    ip addr add "$BRIDGE_ADDR/24" dev "$BRIDGE"
    ip link set "$BRIDGE" up
    make_ns "$STORE_NS" "$STORE_ADDR"
    for ((i = 1; i <= nodes; i++)); do make_ns "$(node_ns "$i")" "$(node_addr "$i")"; done

    # glusterd, with its own volfile so that its state stays in $G.
    cat >"$G/glusterd.vol" <<VOL
volume management
    type mgmt/glusterd
    option working-directory $G/state
    option run-directory $G/run
    option glusterd-sockfile $G/run/glusterd.socket
    option transport-type socket
    option transport.socket.listen-port 24007
    option ping-timeout 0
    option event-threads 1
end-volume
VOL
    setsid nsenter --net="/run/netns/$STORE_NS" glusterd -N -f "$G/glusterd.vol" \
        -l "$G/glusterd.log" -p "$G/glusterd.pid.own" 9>&- </dev/null >"$G/glusterd.out" 2>&1 &
    echo $! >"$G/glusterd.pid"
    for ((t = 0; t < 100; t++)); do
        [ -S "$G/run/glusterd.socket" ] && gluster_cli volume list >/dev/null 2>&1 && break
        alive "$(cat "$G/glusterd.pid")" || { tail -n 20 "$G/glusterd.log" >&9 || true; die "glusterd exited"; }
        sleep 0.1
    done
    [ $t -lt 100 ] || die "glusterd did not answer in 10 s (see $G/glusterd.log)"

    # The volume: one brick (force: it is on the root filesystem), quick-read
    # off (it caches whole small files, chunk maps included, and serves them
    # stale to the other nodes).
    gluster_cli volume create "$VOLUME" "$STORE_ADDR:$G/brick" force >/dev/null
    gluster_cli volume set "$VOLUME" performance.quick-read off >/dev/null
    gluster_cli volume start "$VOLUME" >/dev/null
    for ((t = 0; t < 100; t++)); do
        gluster_cli --xml volume status "$VOLUME" 2>/dev/null |
            tr -d ' \n' | grep -q '<node><hostname>[^<]*</hostname><path>[^<]*brick</path>.*<status>1</status>' && break
        sleep 0.1
    done
    [ $t -lt 100 ] || die "the brick did not come up in 10 s (see $G/glusterd.log, /var/log/glusterfs/bricks)"

    # A FUSE mount per node, entering only the node's network namespace so
    # that the mount is the host's too; direct I/O, so a read on one node
    # sees what another just wrote.
    for ((i = 1; i <= nodes; i++)); do start_mount "$i"; done
    for ((i = 1; i <= nodes; i++)); do wait_mounted "$i"; done
    mkdir -p "$MNT/n1/uploads"
    for ((i = 2; i <= nodes; i++)); do
        for ((t = 0; t < 50; t++)); do [ -d "$MNT/n$i/uploads" ] && break; sleep 0.1; done
        [ -d "$MNT/n$i/uploads" ] || die "node $i's mount does not show uploads/"
    done

    # A server per node.
    for ((i = 1; i <= nodes; i++)); do start_node "$i"; done

    # nginx, its own everything in $NX (never /etc/nginx, never the service).
    local upstreams=""
    for ((i = 1; i <= nodes; i++)); do
        upstreams+="        server $(node_addr "$i"):$NODE_PORT max_fails=0;"$'\n'
    done
    cat >"$NX/nginx.conf" <<CONF
# Made by scripts/cluster.sh; removed by its down.
daemon off;
master_process on;
worker_processes 1;
user www-data www-data;
pid $NX/nginx.pid;
lock_file $NX/nginx.lock;
error_log $NX/logs/error.log warn;
events { worker_connections 1024; }
http {
    log_format uvc '\$remote_addr [\$time_local] "\$request" \$status \$request_length '
                   'up=\$upstream_addr upstatus=\$upstream_status rt=\$request_time';
    access_log $NX/logs/access.log uvc;
    client_body_temp_path $NX/tmp/body;
    proxy_temp_path $NX/tmp/proxy;
    fastcgi_temp_path $NX/tmp/fastcgi;
    uwsgi_temp_path $NX/tmp/uwsgi;
    scgi_temp_path $NX/tmp/scgi;

    # Plain round robin, no stickiness: consecutive requests of one upload,
    # even of one client connection, go to different nodes. No keepalive to
    # the nodes, so that a request to a killed node fails at connect (where
    # it can still go to another node) rather than on a stale connection.
    # max_fails=0: no node is ever taken out of the rotation. A request that
    # finds its node down (connection refused, at once on this machine) goes
    # to the next one, and a restarted node is used again at once. With
    # max_fails=1 fail_timeout=2s, two nodes killed and restarted within 2 s
    # stayed marked failed, and a kill of the third then left nginx with "no
    # live upstreams": 502 for every request for up to 2 s, nodes up or not.
    upstream uvc_nodes {
$upstreams    }

    server {
        listen 127.0.0.1:$port;
        server_name _;

        # Bodies of any size, streamed to the node as they arrive (never
        # spooled to disk first), and answers streamed back.
        client_max_body_size 0;
        proxy_request_buffering off;
        proxy_buffering off;
        proxy_http_version 1.1;
        client_body_timeout 300s;
        send_timeout 300s;
        proxy_connect_timeout 2s;
        proxy_send_timeout 300s;
        proxy_read_timeout 300s;

        # Another node when one is down, and only while none of the request
        # was sent: with the body unbuffered, nginx never passes on a
        # request it had begun to send (ngx_http_upstream_next checks
        # request_sent && request_body_no_buffering), so what goes to the
        # next node is a request whose connection was refused or timed out.
        # That holds for POST too (create, complete: checked, a POST to a
        # killed node answers 201 from the other), so non_idempotent is
        # left out: here it would change nothing, and with buffering turned
        # back on it would replay a create or complete the first node may
        # have carried out. A chunk whose body was partly sent fails (502)
        # and the client sends it again; http_502/http_503 from a node come
        # after the request was sent, so they are not retried either.
        proxy_next_upstream error timeout http_502 http_503;
        proxy_next_upstream_tries $nodes;

        location / {
            proxy_pass http://uvc_nodes;
            proxy_set_header Host \$http_host;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto \$scheme;
        }
    }
}
CONF
    nginx -t -q -p "$NX/" -e "$NX/logs/error.log" -c "$NX/nginx.conf" >"$NX/logs/test.out" 2>&1 ||
        { cat "$NX/logs/test.out" >&9; die "nginx refused its configuration"; }
    setsid nginx -p "$NX/" -e "$NX/logs/error.log" -c "$NX/nginx.conf" 9>&- </dev/null >"$NX/logs/stdout" 2>&1 &
    echo $! >"$NX/nginx.pid.own"
    for ((t = 0; t < 100; t++)); do
        curl --noproxy '*' -sf -o /dev/null --max-time 1 "http://127.0.0.1:$port/healthz" && break
        alive "$(cat "$NX/nginx.pid.own")" || { cat "$NX/logs/error.log" >&9 || true; die "nginx exited"; }
        sleep 0.1
    done
    [ $t -lt 100 ] || die "nginx did not answer on 127.0.0.1:$port in 10 s"

    write_env
    trap - EXIT INT TERM
    echo "balancer: http://127.0.0.1:$port"
    for ((i = 1; i <= nodes; i++)); do
        echo "node $i: $(node_url "$i")  pid $(cat "$ND/n$i.pid")  mount $MNT/n$i  (namespace $(node_ns "$i"))"
    done
    echo "state: $dir (cluster.env); up in $(elapsed "$t0") s"
}

# --- the other subcommands ------------------------------------------------

check_index() {
    case "$index" in '' | *[!0-9]*) die "I must be a node number" ;; esac
    [ "$index" -ge 1 ] && [ "$index" -le "$nodes" ] || die "no node $index (1 to $nodes)"
}

do_kill_node() {
    load_settings
    check_index
    local pid
    pid=$(cat "$ND/n$index.pid" 2>/dev/null || true)
    alive_as "$pid" " serve " || die "node $index's serve is not running"
    kill -KILL "$pid"
    wait_gone 5 "$pid" || die "node $index's serve ($pid) survived SIGKILL"
    echo 0 >"$ND/n$index.pid"
    write_env
    echo "node $index: killed ($pid)"
}

do_start_node() {
    load_settings
    check_index
    local pid
    pid=$(cat "$ND/n$index.pid" 2>/dev/null || true)
    alive_as "$pid" " serve " && die "node $index's serve is already running ($pid)"
    start_node "$index"
    write_env
    echo "node $index: $(node_url "$index")  pid $(cat "$ND/n$index.pid")"
}

do_unmount_node() {
    load_settings
    check_index
    local pid
    mounted "$index" || die "node $index's mount is not mounted"
    # Lazy: the node's serve may have the volume open; it keeps running and
    # finds its data directory gone (the empty mount point is all that is left).
    umount -l "$MNT/n$index" || die "could not unmount $MNT/n$index"
    pid=$(cat "$G/client-n$index.pid" 2>/dev/null || true)
    if alive_as "$pid" glusterfs && ! wait_gone 5 "$pid"; then stop_pids 3 "$pid"; fi
    echo 0 >"$G/client-n$index.pid"
    write_env
    echo "node $index: $MNT/n$index unmounted"
}

do_remount_node() {
    load_settings
    check_index
    local pid t
    # A mount still listed is one whose client died (ENOTCONN): taken off first.
    if mounted "$index"; then
        umount "$MNT/n$index" 2>/dev/null || umount -l "$MNT/n$index" || die "could not unmount $MNT/n$index"
    fi
    pid=$(cat "$G/client-n$index.pid" 2>/dev/null || true)
    if alive_as "$pid" glusterfs; then stop_pids 3 "$pid"; fi
    start_mount "$index"
    wait_mounted "$index"
    for ((t = 0; t < 50; t++)); do [ -d "$MNT/n$index/uploads" ] && break; sleep 0.1; done
    [ -d "$MNT/n$index/uploads" ] || die "node $index's mount does not show uploads/"
    write_env
    echo "node $index: $MNT/n$index mounted again (client pid $(cat "$G/client-n$index.pid"))"
}

do_status() {
    load_settings
    local i pid ok=0 health
    pid=$(cat "$G/glusterd.pid" 2>/dev/null || true)
    if alive_as "$pid" glusterd; then
        echo "glusterd: pid $pid; volume $VOLUME: $(gluster_cli volume info "$VOLUME" 2>/dev/null | sed -n 's/^Status: //p')"
    else
        echo "glusterd: not running"; ok=1
    fi
    for ((i = 1; i <= nodes; i++)); do
        pid=$(cat "$ND/n$i.pid" 2>/dev/null || true)
        health=down
        if alive_as "$pid" " serve "; then
            node_curl "$(node_addr "$i")" -sf -o /dev/null --max-time 2 "$(node_url "$i")/healthz" && health="up, pid $pid" ||
                health="running (pid $pid) but not answering"
        fi
        [ "${health#up}" != "$health" ] || ok=1
        if grep -q " $MNT/n$i fuse" /proc/mounts; then m=mounted; else m="NOT mounted"; ok=1; fi
        echo "node $i: $(node_url "$i")  $health  $MNT/n$i $m"
    done
    pid=$(cat "$NX/nginx.pid" 2>/dev/null || true)
    if alive_as "$pid" nginx &&
        curl --noproxy '*' -sf -o /dev/null --max-time 2 "http://127.0.0.1:$port/healthz"; then
        echo "balancer: http://127.0.0.1:$port  up, pid $pid"
    else
        echo "balancer: http://127.0.0.1:$port  not answering"; ok=1
    fi
    return $ok
}

case "$cmd" in
    up) do_up ;;
    down)
        t0=$(ts)
        do_down
        echo "down in $(elapsed "$t0") s"
        ;;
    status) do_status ;;
    kill-node) do_kill_node ;;
    start-node) do_start_node ;;
    unmount-node) do_unmount_node ;;
    remount-node) do_remount_node ;;
esac
