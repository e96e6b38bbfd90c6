#!/usr/bin/env bash
# Installs the system packages the build needs, only when they are missing:
# libxxhash-dev and libssl-dev (found through pkg-config), curl and python3
# for the end-to-end tests. With --browser, also what the browser page's
# tests need: chromium, chromedriver, node, tsc and Selenium. Swift itself
# must already be on PATH (it does not come from Debian's packages).
set -euo pipefail

need=()
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
pkg-config --exists libxxhash 2>/dev/null || need+=(libxxhash-dev)
pkg-config --exists libcrypto 2>/dev/null || need+=(libssl-dev)
# The end-to-end tests drive the server with curl and small Python socket clients.
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v python3 >/dev/null 2>&1 || need+=(python3)
# libfiu injects fdatasync failures from outside (the fsync-failure test).
command -v fiu-run >/dev/null 2>&1 || need+=(fiu-utils)
# The TLS tests make their own CA and server certificate.
command -v openssl >/dev/null 2>&1 || need+=(openssl)
if [ "${1:-}" = "--browser" ]; then
  command -v chromium >/dev/null 2>&1 || need+=(chromium)
  command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
  command -v node >/dev/null 2>&1 || need+=(nodejs)
  command -v tsc >/dev/null 2>&1 || need+=(node-typescript)
  python3 -m pip --version >/dev/null 2>&1 || need+=(python3-pip)
fi

if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq "${need[@]}"
fi
if [ "${1:-}" = "--browser" ] && ! python3 -c 'import selenium' 2>/dev/null; then
  echo "installing: selenium (PyPI)"
  python3 -m pip install --quiet --break-system-packages selenium
fi

if ! command -v swift >/dev/null 2>&1; then
  echo "swift is not on PATH: install Swift 6.2 or later (https://www.swift.org/install/linux/)" >&2
  exit 1
fi
