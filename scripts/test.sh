#!/usr/bin/env bash
# The whole test suite: lint, types, then pytest (SQLite by default; DATABASE_URL for
# PostgreSQL). Arguments go to pytest (`make check` passes a marker filter).
source "$(dirname "$0")/_venv.sh"
ensure_venv requirements-dev.txt
ensure_bubblewrap
bash scripts/lint.sh
bash scripts/types.sh
echo "==> pytest"
exec .venv/bin/python -m pytest "$@"
