#!/usr/bin/env bash
# One command from a fresh clone: install, build the demo data, migrate, seed, and run the
# site and a grading worker on the embedded defaults (SQLite, filesystem broker, process sandbox).
source "$(dirname "$0")/_venv.sh"
ensure_venv requirements.txt
ensure_bubblewrap

HOST="${HOST:-127.0.0.1}"
PORT="${PORT:-8000}"
export PYTHONPATH="$ROOT/platform:$ROOT"
# Links in emails (and the address printed below) follow HOST and PORT.
export SITE_URL="${SITE_URL:-http://$HOST:$PORT}"
PY=.venv/bin/python

echo "==> building the demo hidden data sets and reference entries"
$PY scripts/demo_build.py  # built once: up-to-date files (a test run may be reading them) stay
echo "==> building the grader wheel the lab pages offer (var/dist)"
$PY scripts/build_grader_wheel.py
echo "==> migrating and seeding the demo course"
$PY manage.py migrate --no-input -v0
$PY manage.py seed_demo

# The site and the worker, supervised: a process that stops is restarted (the worker's
# restarts show on /health/), and "The site is up" is printed once the site answers.
exec "$PY" scripts/demo_supervisor.py --host "$HOST" --port "$PORT"
