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

# The process sandbox runs entries under bubblewrap (and util-linux's setpriv when root).
ensure_bubblewrap() {
  if [ -x /usr/bin/bwrap ]; then
    return
  fi
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "==> installing bubblewrap for the process sandbox"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null
  else
    echo "note: /usr/bin/bwrap is missing: the process sandbox will refuse to grade" \
      "(install the bubblewrap package, or use GRADER_BACKEND=docker)" >&2
  fi
}
