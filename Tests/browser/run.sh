#!/usr/bin/env bash
# The browser uploader's tests (issue #6). Usage: Tests/browser/run.sh BINARY
#   1. sha256.js against NIST vectors and OpenSSL, worker-queue.js and
#      protocol.js, the upload session (upload-session.js, with fakes), the
#      view's words, and how a file is read to be hashed (node)
#   2. tsc --noEmit --checkJs over the page's JavaScript (Debian's node-typescript), if tsc is installed
#   3. the page in headless Chromium driven by Selenium against a live
#      `BINARY serve` (and a second one with --token), if chromium and
#      chromedriver are installed
# Exits non-zero when anything that ran failed; what could not run says why.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
if [ $# -lt 1 ] || [ ! -x "$1" ]; then
  echo "usage: $0 path/to/uploadverify" >&2
  exit 2
fi
binary=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
failed=0

echo "== sha256.js (NIST vectors, incremental updates), worker-queue.js, protocol.js, the upload session and view, reading (node)"
if command -v node >/dev/null 2>&1; then
  node "$here/sha256.test.mjs" || failed=1
  node "$here/queue-protocol.test.mjs" || failed=1
  # node:test files; the spec reporter prints one line per test.
  node --test --test-reporter=spec "$here/upload-session.test.mjs" "$here/upload-view.test.mjs" "$here/reading.test.mjs" || failed=1
else
  echo "skipped: node is not installed (apt-get install nodejs)"
fi

echo "== tsc --noEmit --checkJs over the page's JavaScript"
if command -v tsc >/dev/null 2>&1; then
  # Two programs: the page (DOM) and the hash worker (WebWorker) have different globals.
  tsc -p "$here/tsconfig.json" && tsc -p "$here/tsconfig.worker.json" && echo "tsc: no errors" || failed=1
else
  echo "skipped: tsc is not installed (apt-get install node-typescript)"
fi

echo "== the page in Chromium (Selenium)"
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  echo "skipped: chromium not installed (apt-get install chromium chromium-driver; pip install selenium)"
  exit $failed
fi
if ! python3 -c 'import selenium' 2>/dev/null; then
  echo "FAIL: chromium is installed but the selenium Python package is not (pip install selenium)"
  exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/uploadverify-browser.XXXXXX")
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT

# start_server NAME [serve options...]: sets PORT to the port it listens on.
# Its stderr goes to a file (never a pipe nobody reads once started).
start_server() {
  local name=$1
  shift
  mkdir -p "$work/$name"
  "$binary" serve --data-dir "$work/$name" --port 0 --host 127.0.0.1 "$@" 2>"$work/$name.log" &
  local pid=$!
  pids+=("$pid")
  PORT=""
  for _ in $(seq 1 200); do
    PORT=$(grep -o 'listening on 127\.0\.0\.1:[0-9]*' "$work/$name.log" 2>/dev/null | head -n 1 | sed 's/.*://')
    [ -n "$PORT" ] && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "FAIL: the $name server did not start; its log:" >&2
  cat "$work/$name.log" >&2
  return 1
}

start_server main || exit 1
main_port=$PORT
token=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
start_server token --token "$token" || exit 1
token_port=$PORT
echo "servers on 127.0.0.1:$main_port and (with --token) 127.0.0.1:$token_port"

UV_BASE_URL="http://127.0.0.1:$main_port" UV_DATA_DIR="$work/main" \
UV_TOKEN_URL="http://127.0.0.1:$token_port" UV_TOKEN="$token" \
UV_ARTIFACTS="${UV_ARTIFACTS:-$here/artifacts}" \
  python3 "$here/test_browser_uploader.py" || {
    failed=1
    echo "-- last lines of the server's log:"
    tail -n 30 "$work/main.log"
  }
exit $failed
