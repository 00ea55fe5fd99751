#!/usr/bin/env bash
# Type checks: the grading engine and the sandbox harness with --strict (they never import
# Django and are fully annotated); the Django site with django-stubs at the strictness set in
# pyproject.toml ([tool.mypy]: bodies of untyped functions checked, annotations not required).
source "$(dirname "$0")/_venv.sh"
ensure_venv requirements-dev.txt
echo "==> mypy --strict grader sandboxes"
.venv/bin/mypy --strict grader sandboxes/harness
echo "==> mypy platform"
PYTHONPATH=platform .venv/bin/mypy platform
