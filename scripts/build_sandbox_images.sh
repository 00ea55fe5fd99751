#!/usr/bin/env bash
# Build the CPU sandbox images without a container registry:
#   a `debootstrap --variant=minbase bookworm` root (its python3 is 3.11, like the cp311 wheels)
#   + wheels downloaded on the host (pip download --only-binary=:all:) installed with pip --target
#   + the harness (sandboxes/harness) + the unprivileged user 65534:65534 (Debian's nobody)
#   -> `docker import` with CMD/ENV/USER/WORKDIR/LABEL set through --change.
#
# Usage: scripts/build_sandbox_images.sh [FLAVOUR...]   (default: full)
#        scripts/build_sandbox_images.sh --python      (set up and print the build's python)
#   tf     labgrader-sandbox:tf-cpu     numpy + tensorflow-cpu
#   torch  labgrader-sandbox:torch-cpu  numpy + torch (+cpu wheel from $TORCH_WHEEL_DIR)
#   full   labgrader-sandbox:cpu        numpy + tensorflow-cpu + torch (what the backend uses
#          by default: a code entry may import either framework)
#
# An image is rebuilt only when its inputs change: the sha256 of this script, the flavour's
# requirements and the harness source is stored in the image label `labgrader.inputs`.
# The debootstrap root and the wheelhouse are cached under $SANDBOX_BUILD_DIR.
# Prints "IMAGE <tag> <image id>" per flavour: the image id is the digest results record.
set -euo pipefail
shopt -s inherit_errexit
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

BUILD_DIR="${SANDBOX_BUILD_DIR:-$ROOT/var/sandbox-build}"
TORCH_WHEEL_DIR="${TORCH_WHEEL_DIR:-/opt/wheels}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
SUITE=bookworm
PY="${PYTHON:-}"  # default: a pip-only venv of its own (see build_python)
IMAGES_DIR="$ROOT/sandboxes/images"
SITE=usr/local/lib/python3.11/dist-packages

log() { echo "==> $*" >&2; }

# SANDBOX_IMAGE_REPO lets parallel checkouts with different harnesses keep their own images
# (point GRADER_DOCKER_IMAGE at the matching tag).
REPO="${SANDBOX_IMAGE_REPO:-labgrader-sandbox}"
tag_of() {
  case "$1" in
    tf) echo "$REPO:tf-cpu" ;;
    torch) echo "$REPO:torch-cpu" ;;
    full) echo "$REPO:cpu" ;;
    *) echo "unknown flavour $1 (tf, torch, full)" >&2; exit 2 ;;
  esac
}

reqs_of() {
  case "$1" in
    tf) echo "$IMAGES_DIR/requirements-tf.txt" ;;
    torch) echo "$IMAGES_DIR/requirements-torch.txt" ;;
    full) echo "$IMAGES_DIR/requirements-tf.txt $IMAGES_DIR/requirements-torch.txt" ;;
  esac
}

inputs_hash() {
  local flavour="$1"
  {
    echo "flavour $flavour"
    sha256sum "${BASH_SOURCE[0]}"
    # shellcheck disable=SC2046
    sha256sum $(reqs_of "$flavour")
    find sandboxes/harness -name '*.py' -print0 | sort -z | xargs -0 sha256sum
  } | sed "s#$ROOT/##" | sha256sum | cut -d' ' -f1
}

# The build needs only pip on a CPython 3.11 (the image's interpreter). It makes its own small
# venv under $BUILD_DIR rather than using the project's .venv: CI builds the image before
# `make test` creates .venv, and a fresh machine has none.
build_python() {
  [ -n "$PY" ] && return
  local venv="$BUILD_DIR/build-venv"
  if [ ! -x "$venv/bin/python" ]; then
    local host
    host="$(command -v python3.11 || command -v python3)"
    log "creating the build venv $venv with $host"
    "$host" -m venv "$venv"
  fi
  PY="$venv/bin/python"
  "$PY" -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version' \
    || { echo "the sandbox images need CPython 3.11 on the host (set PYTHON)" >&2; exit 1; }
}

ensure_tools() {
  if ! command -v debootstrap >/dev/null; then
    log "installing debootstrap"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
  fi
  docker version --format '{{.Server.Version}}' >/dev/null
}

# The Debian root, made once and reused by every flavour; bump BASE_KEY to remake it.
BASE_KEY="$SUITE minbase python3 v1"
base_root() {
  local stamp_want="$BASE_KEY" base="$BUILD_DIR/base-$SUITE"
  if [ -f "$base.stamp" ] && [ "$(cat "$base.stamp")" = "$stamp_want" ]; then
    echo "$base"
    return
  fi
  rm -rf "$base" "$base.stamp"
  log "debootstrap --variant=minbase $SUITE (python3) from $MIRROR"
  debootstrap --variant=minbase --include=python3 "$SUITE" "$base" "$MIRROR" >"$BUILD_DIR/debootstrap.log" 2>&1 \
    || { tail -20 "$BUILD_DIR/debootstrap.log" >&2; exit 1; }
  # Lean: no package lists, caches, docs or locales; nothing here is updated in place.
  rm -rf "$base"/var/lib/apt/lists/* "$base"/var/cache/apt/* "$base"/var/cache/debconf/*-old \
    "$base"/usr/share/doc/* "$base"/usr/share/man/* "$base"/usr/share/info/* \
    "$base"/usr/share/locale/* "$base"/var/log/* "$base"/tmp/*
  echo "$stamp_want" >"$base.stamp"
  echo "$base"
}

wheelhouse() {
  local flavour="$1" wh="$BUILD_DIR/wheelhouse"
  mkdir -p "$wh"
  log "downloading wheels for $flavour into $wh (already present ones are reused)"
  local r
  for r in $(reqs_of "$flavour"); do
    # The host's interpreter is CPython 3.11 on x86_64 glibc like bookworm's: its wheels fit.
    "$PY" -m pip download -q --only-binary=:all: --find-links "$TORCH_WHEEL_DIR" \
      -r "$r" -d "$wh" >&2
  done
  echo "$wh"
}

build() {
  local flavour="$1" tag want have base wh work start
  tag="$(tag_of "$flavour")"
  want="$(inputs_hash "$flavour")"
  have="$(docker image inspect -f '{{ index .Config.Labels "labgrader.inputs" }}' "$tag" 2>/dev/null || true)"
  if [ "$have" = "$want" ]; then
    log "$tag is up to date (inputs $want)"
    echo "IMAGE $tag $(docker image inspect -f '{{.Id}}' "$tag")"
    return
  fi
  start=$SECONDS
  base="$(base_root)"
  wh="$(wheelhouse "$flavour")"
  work="$BUILD_DIR/root-$flavour"
  rm -rf "$work"
  cp -a "$base" "$work"

  log "installing $(reqs_of "$flavour" | xargs -n1 basename | tr '\n' ' ')into the root"
  local args=() r
  for r in $(reqs_of "$flavour"); do args+=(-r "$r"); done
  "$PY" -m pip install -q --no-index --find-links "$wh" --only-binary=:all: --no-cache-dir \
    --target "$work/$SITE" "${args[@]}" >&2
  # Console scripts and C++ headers are of no use to an entry (no compiler in the image).
  rm -rf "$work/$SITE/bin" "$work/$SITE/tensorflow/include" "$work/$SITE/torch/include"

  log "adding the harness"
  mkdir -p "$work/opt/grader" "$work/sandbox"
  cp -r sandboxes/harness "$work/opt/grader/harness"
  find "$work/opt/grader" -name '__pycache__' -prune -exec rm -rf {} +
  # The root file system is read-only at run time, so byte-code must be compiled now.
  "$PY" -m compileall -q "$work/opt/grader/harness" >&2
  chmod -R a+rX,go-w "$work/opt/grader" "$work/$SITE"
  chmod 1777 "$work/tmp"
  grep -q '^nobody:x:65534:65534:' "$work/etc/passwd" # the sandbox user, present in Debian

  log "importing $tag"
  tar -C "$work" --numeric-owner -cf - . | docker import \
    --change 'USER 65534:65534' \
    --change 'WORKDIR /tmp' \
    --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin PYTHONPATH=/opt/grader LANG=C.UTF-8 LC_ALL=C.UTF-8 PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 HOME=/tmp' \
    --change 'CMD ["python3", "-m", "harness", "--help"]' \
    --change "LABEL labgrader.inputs=$want labgrader.flavour=$flavour" \
    - "$tag" >/dev/null
  rm -rf "$work"
  log "$tag built in $((SECONDS - start)) s, $(docker image inspect -f '{{.Size}}' "$tag" | numfmt --to=si)B"
  echo "IMAGE $tag $(docker image inspect -f '{{.Id}}' "$tag")"
}

mkdir -p "$BUILD_DIR"
build_python
if [ "${1:-}" = "--python" ]; then
  # Only set up (and print) the interpreter the build uses: tests check it needs nothing
  # that `make test` or `make demo` creates.
  echo "$PY"
  exit 0
fi
ensure_tools
flavours=("$@")
[ ${#flavours[@]} -eq 0 ] && flavours=(full)
for f in "${flavours[@]}"; do
  tag_of "$f" >/dev/null
  build "$f"
done
