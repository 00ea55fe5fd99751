#!/usr/bin/env bash
# The benchmark suite (see README, Performance): PostgreSQL on 127.0.0.1:5432 and redis-server
# must be installed; everything else is started and stopped by the suite. Flags go through,
# e.g. `bash bench/run.sh --quick` or `bash bench/run.sh --only overhead faults`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
exec .venv/bin/python -m bench "$@"
