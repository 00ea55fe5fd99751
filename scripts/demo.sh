#!/usr/bin/env bash
# One command from a fresh clone: install, build the demo data, migrate, seed, and run the
# site and a grading worker on the embedded defaults (SQLite, filesystem broker, process sandbox).
source "$(dirname "$0")/_venv.sh"
ensure_venv requirements.txt
ensure_bubblewrap

HOST="${HOST:-127.0.0.1}"
PORT="${PORT:-8000}"
export PYTHONPATH="$ROOT/platform:$ROOT"
PY=.venv/bin/python

echo "==> building the demo hidden data sets and reference entries"
$PY scripts/build_demo_data.py
$PY scripts/make_reference_entries.py
echo "==> building the grader wheel the lab pages offer (var/dist)"
$PY scripts/build_grader_wheel.py
echo "==> migrating and seeding the demo course"
$PY manage.py migrate --no-input -v0
$PY manage.py seed_demo

mkdir -p var/log
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

echo "==> starting the grading worker (log: var/log/worker.log)"
.venv/bin/celery -A config worker -Q site,cpu,gpu --concurrency 1 --beat \
  --schedule var/celerybeat-schedule --loglevel INFO >var/log/worker.log 2>&1 &
pids+=($!)

echo "==> starting the site"
$PY manage.py runserver "$HOST:$PORT" --noreload &
pids+=($!)
sleep 2
echo
echo "  The site is up at http://$HOST:$PORT/  (health: http://$HOST:$PORT/health/)"
echo "  Log in with a demo login printed above. Stop with Ctrl-C."
echo
wait -n "${pids[@]}"
