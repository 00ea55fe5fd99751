# Sourced by the other scripts: make .venv from a requirements file, once per change of it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
ensure_venv() {
  local req="$1"
  local python="${PYTHON:-}"
  if [ -z "$python" ]; then
    python="$(command -v python3.11 || command -v python3)"
  fi
  if [ ! -x .venv/bin/python ]; then
    echo "==> creating .venv with $python"
    "$python" -m venv .venv
  fi
  local stamp=".venv/.installed-$(basename "$req")"
  local want
  want="$(cat requirements*.txt | sha256sum | cut -d' ' -f1)"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "==> installing $req into .venv (first run takes a few minutes)"
    .venv/bin/python -m pip install -q --upgrade pip wheel
    .venv/bin/python -m pip install -q -r "$req"
    echo "$want" > "$stamp"
  fi
}

# The process sandbox runs entries under bubblewrap (and util-linux's setpriv when root), with
# a seccomp filter compiled by libseccomp (libseccomp2: apt itself depends on it).
ensure_bubblewrap() {
  local missing=()
  [ -x /usr/bin/bwrap ] || missing+=(bubblewrap)
  ldconfig -p 2>/dev/null | grep 'libseccomp\.so\.2 ' >/dev/null || missing+=(libseccomp2)
  if [ ${#missing[@]} -eq 0 ]; then
    return
  fi
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "==> installing ${missing[*]} for the process sandbox"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "note: ${missing[*]} missing: the process sandbox will refuse to grade" \
      "(install them, or use GRADER_BACKEND=docker)" >&2
  fi
}
