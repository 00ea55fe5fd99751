#!/usr/bin/env bash
# The whole test suite: lint, then pytest (SQLite by default; DATABASE_URL for PostgreSQL).
source "$(dirname "$0")/_venv.sh"
ensure_venv requirements-dev.txt
ensure_bubblewrap
echo "==> ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "==> pytest"
exec .venv/bin/python -m pytest "$@"
