"""Shared fixtures: the demo hidden data and the reference entries, built once and reused.

Both are built into <repo>/var (git-ignored) by scripts/demo_build.py, the one builder that
`make demo` and the bench use too: it rebuilds only when the scripts changed or the output
is missing, one builder at a time.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))  # the demo data's own helpers (scripts/_common.py)
import demo_build  # noqa: E402
from _common import DATASET_NAMES  # noqa: E402

LABS = tuple(sorted(DATASET_NAMES))  # the demo labs: those the demo data builds
HIDDEN_DIR = REPO / "var" / "hidden"


@pytest.fixture(scope="session")
def hidden_dir() -> Path:
    return demo_build.hidden_data(HIDDEN_DIR)


@pytest.fixture(scope="session")
def reference_entries(hidden_dir: Path) -> Path:
    return demo_build.reference_entries(hidden_dir)


@pytest.fixture(scope="session")
def course_entries(hidden_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Entries built and saved the way the course's notebooks do (tests/compat/course.py)."""
    from compat import course

    return course.build(tmp_path_factory.mktemp("course"), hidden_dir)
