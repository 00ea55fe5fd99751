#!/usr/bin/env bash
# CI: make a Docker Engine available and build the CPU sandbox image, so the Docker sandbox
# tests run for real (CI exports REQUIRE_DOCKER=1: a skipped Docker test is a failure there).
#
# Inside a CI container there is no init system: dockerd is started by hand. Sandboxes use
# network_mode none, so dockerd needs no bridge and no iptables. Storage: overlay2 where the
# kernel and the backing file system allow it, else fuse-overlayfs, else vfs (slow but works).
set -euo pipefail
cd "$(dirname "$0")/.."

log() { echo "==> $*"; }
LOG=/var/log/dockerd-ci.log

if ! command -v dockerd >/dev/null; then
  log "installing docker.io"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
fi

start_dockerd() {
  local driver="$1"
  log "starting dockerd (storage driver $driver)"
  dockerd --storage-driver="$driver" --iptables=false --ip6tables=false --bridge=none \
    --log-level=warn >"$LOG" 2>&1 &
  local pid=$!
  for _ in $(seq 60); do
    if docker info >/dev/null 2>&1; then
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      break
    fi
    sleep 0.5
  done
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  tail -5 "$LOG" >&2 || true
  return 1
}

# A dockerd that is still starting or stopping holds the pid file: wait for it; a stale pid
# file (a daemon that crashed with the previous CI container) is removed.
PIDFILE=/var/run/docker.pid
for _ in $(seq 60); do
  docker info >/dev/null 2>&1 && break
  [ -f "$PIDFILE" ] || break
  if ! kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
    rm -f "$PIDFILE"
    break
  fi
  sleep 0.5
done

if ! docker info >/dev/null 2>&1; then
  started=0
  for driver in overlay2 fuse-overlayfs vfs; do
    if [ "$driver" = fuse-overlayfs ] && ! command -v fuse-overlayfs >/dev/null; then
      continue
    fi
    if start_dockerd "$driver"; then
      started=1
      break
    fi
  done
  [ "$started" = 1 ] || { echo "CI: could not start dockerd" >&2; exit 1; }
fi
log "Docker $(docker version --format '{{.Server.Version}}'), storage $(docker info --format '{{.Driver}}')"

log "building the CPU sandbox image (cached when its inputs are unchanged)"
bash scripts/build_sandbox_images.sh full
