#!/usr/bin/env bash
# Installs the system packages the build needs, only when they are missing:
# libxxhash-dev, libssl-dev and libisal-dev (Intel ISA-L's erasure codes, for
# parity; found through pkg-config), curl and python3
# for the end-to-end tests. With --browser (what `make test` asks for, through
# `make test-deps`), also what the browser page's tests need: chromium,
# chromedriver, node, tsc and Selenium; and tuspy 1.1.0 from PyPI, the real
# tus client of the end-to-end tests (TusClientTests). With --cluster,
# also what scripts/cluster.sh needs: glusterfs-server, glusterfs-client,
# nginx, iproute2 and psmisc, installed with their services kept from
# starting (below). With --bench, also the peers `make bench`
# (scripts/bench.py) times uploadverify against: nginx-light (WebDAV PUT),
# rsync (its daemon), xxhash (xxhsum), par2 (parity), git (a BENCH_BASELINE worktree), and
# tuspy 1.1.0 from PyPI (the tuspy-8MiB row's stock tus client).
# Swift itself must already be on PATH (it does not come from Debian's
# packages).
set -euo pipefail

browser=false cluster=false bench=false
for arg in "$@"; do
  case "$arg" in
    --browser) browser=true ;;
    --cluster) cluster=true ;;
    --bench) bench=true ;;
    *) echo "usage: $0 [--browser] [--cluster] [--bench]" >&2; exit 2 ;;
  esac
done

# glusterd, gluster and nginx live in /usr/sbin, which a user's PATH may lack.
PATH="$PATH:/usr/sbin:/sbin"
need=()
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
pkg-config --exists libxxhash 2>/dev/null || need+=(libxxhash-dev)
pkg-config --exists libcrypto 2>/dev/null || need+=(libssl-dev)
pkg-config --exists libisal 2>/dev/null || need+=(libisal-dev)
# The end-to-end tests drive the server with curl and small Python socket clients.
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v python3 >/dev/null 2>&1 || need+=(python3)
# libfiu injects fdatasync failures from outside (the fsync-failure test).
command -v fiu-run >/dev/null 2>&1 || need+=(fiu-utils)
# The TLS tests make their own CA and server certificate.
command -v openssl >/dev/null 2>&1 || need+=(openssl)
if $browser; then
  command -v chromium >/dev/null 2>&1 || need+=(chromium)
  command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
  command -v node >/dev/null 2>&1 || need+=(nodejs)
  command -v tsc >/dev/null 2>&1 || need+=(node-typescript)
  python3 -m pip --version >/dev/null 2>&1 || need+=(python3-pip)
fi
# Services of the cluster's packages that would listen on the machine's own
# interfaces (glusterd on 24007, rpcbind on 111, statd, nginx on 80), to be
# kept from starting: scripts/cluster.sh runs its own glusterd and nginx,
# inside its own network namespaces and on loopback, and needs none of them.
quiet_units=()
if $cluster; then
  command -v glusterd >/dev/null 2>&1 ||
    { need+=(glusterfs-server); quiet_units+=(glusterd.service glustereventsd.service gluster-ta-volume.service rpcbind.service rpcbind.socket rpc-statd.service); }
  command -v glusterfs >/dev/null 2>&1 || need+=(glusterfs-client)
  command -v nginx >/dev/null 2>&1 || { need+=(nginx); quiet_units+=(nginx.service); }
  command -v ip >/dev/null 2>&1 || need+=(iproute2)
  command -v nsenter >/dev/null 2>&1 || need+=(util-linux)
  command -v fuser >/dev/null 2>&1 || need+=(psmisc)
fi
# scripts/bench.py runs its own nginx on loopback: the package's service
# (port 80) is kept from starting like the cluster's.
if $bench; then
  command -v nginx >/dev/null 2>&1 || { need+=(nginx-light); quiet_units+=(nginx.service); }
  command -v rsync >/dev/null 2>&1 || need+=(rsync)
  command -v xxhsum >/dev/null 2>&1 || need+=(xxhash)
  command -v par2 >/dev/null 2>&1 || need+=(par2)
  command -v git >/dev/null 2>&1 || need+=(git)
  if ! python3 -c 'import tusclient' 2>/dev/null && ! python3 -m pip --version >/dev/null 2>&1 &&
    [[ " ${need[*]} " != *" python3-pip "* ]]; then
    need+=(python3-pip)
  fi
fi

if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  policy_rc_added=false
  if [ ${#quiet_units[@]} -gt 0 ]; then
    # Masked before the packages arrive, so that neither their scripts nor a
    # later boot start them (systemctl's offline form when systemd is not
    # PID 1: masking is only a link to /dev/null).
    if command -v systemctl >/dev/null 2>&1; then
      if [ -d /run/systemd/system ]; then
        $sudo systemctl mask "${quiet_units[@]}" >/dev/null
      else
        $sudo systemctl --root=/ mask "${quiet_units[@]}" >/dev/null 2>&1 || true
      fi
    fi
    # Without systemd, the scripts start services through invoke-rc.d, which
    # asks policy-rc.d: one that denies every start, for this install only
    # (an existing policy-rc.d is left as it is when it already denies).
    if ! { [ -x /usr/sbin/policy-rc.d ] && /usr/sbin/policy-rc.d glusterd start >/dev/null 2>&1; [ $? -eq 101 ]; }; then
      if [ -e /usr/sbin/policy-rc.d ]; then $sudo mv /usr/sbin/policy-rc.d /usr/sbin/policy-rc.d.uploadverify-saved; fi
      printf '#!/bin/sh\n# scripts/install-deps.sh: no service starts while it installs\nexit 101\n' |
        $sudo tee /usr/sbin/policy-rc.d >/dev/null
      $sudo chmod 755 /usr/sbin/policy-rc.d
      policy_rc_added=true
      restore_policy_rc() {
        $sudo rm -f /usr/sbin/policy-rc.d
        if [ -e /usr/sbin/policy-rc.d.uploadverify-saved ]; then $sudo mv /usr/sbin/policy-rc.d.uploadverify-saved /usr/sbin/policy-rc.d; fi
      }
      trap restore_policy_rc EXIT
    fi
  fi
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq "${need[@]}"
  if $policy_rc_added; then restore_policy_rc; trap - EXIT; fi
fi
if $browser && ! python3 -c 'import selenium' 2>/dev/null; then
  echo "installing: selenium (PyPI)"
  python3 -m pip install --quiet --break-system-packages selenium
fi
if { $browser || $bench; } && ! python3 -c 'import tusclient' 2>/dev/null; then
  echo "installing: tuspy 1.1.0 (PyPI)"
  python3 -m pip install --quiet --break-system-packages tuspy==1.1.0
fi

if ! command -v swift >/dev/null 2>&1; then
  echo "swift is not on PATH: install Swift 6.2 or later (https://www.swift.org/install/linux/)" >&2
  exit 1
fi
