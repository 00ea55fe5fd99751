#!/usr/bin/env bash
# ruff: lint rules and formatting (pyproject.toml [tool.ruff]).
source "$(dirname "$0")/_venv.sh"
ensure_venv requirements-dev.txt
echo "==> ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
