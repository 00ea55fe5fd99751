"""Shared fixtures: the demo hidden data and the reference entries, built once and reused.

Both are built into <repo>/var (git-ignored) by the scripts, run as subprocesses with the
project's interpreter. A stamp file holds a hash of the scripts' source, so a test run
rebuilds only when the scripts changed or the output is missing.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SCRIPTS = REPO / "scripts"
VAR = REPO / "var"
HIDDEN_DIR = VAR / "hidden"
ENTRIES_DIR = VAR / "entries"
STAMP = ".build-stamp"
sys.path.insert(0, str(SCRIPTS))  # the demo data's own helpers (scripts/_common.py)
from _common import DATASET_NAMES  # noqa: E402

LABS = tuple(sorted(DATASET_NAMES))  # the demo labs: those the demo data builds


def python() -> str:
    venv = REPO / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def source_hash(*names: str) -> str:
    h = hashlib.sha256()
    # The scripts build with grader.datasets' writers and draws.
    for path in [*(SCRIPTS / name for name in names), REPO / "grader" / "datasets.py"]:
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


@contextmanager
def build_lock() -> Iterator[None]:
    """Serialise builds between parallel test processes (pytest-xdist, two checkouts)."""
    VAR.mkdir(exist_ok=True)
    with (VAR / ".build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def ensure_built(out: Path, digest: str, command: list[str], complete: list[Path]) -> None:
    stamp = out / STAMP
    with build_lock():
        fresh = stamp.exists() and stamp.read_text() == digest
        if fresh and all(p.exists() for p in complete):
            return
        if stamp.exists():
            stamp.unlink()  # a crash mid-build must not leave a valid-looking stamp
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        subprocess.run(command, check=True, cwd=REPO, env=env)
        stamp.write_text(digest)


@pytest.fixture(scope="session")
def hidden_dir() -> Path:
    digest = source_hash("_common.py", "build_demo_data.py")
    manifests = [HIDDEN_DIR / f"{lab}-v1" / "manifest.json" for lab in LABS]
    manifests += [HIDDEN_DIR / "samples" / lab / "manifest.json" for lab in LABS]
    command = [python(), str(SCRIPTS / "build_demo_data.py"), "--out", str(HIDDEN_DIR)]
    ensure_built(HIDDEN_DIR, digest, command, manifests)
    return HIDDEN_DIR


@pytest.fixture(scope="session")
def reference_entries(hidden_dir: Path) -> Path:
    # The entries are trained on the sample data, so they follow the data's version too.
    digest = source_hash("_common.py", "build_demo_data.py", "make_reference_entries.py")
    command = [python(), str(SCRIPTS / "make_reference_entries.py"), "--out", str(ENTRIES_DIR)]
    command += ["--data", str(hidden_dir)]
    ensure_built(ENTRIES_DIR, digest, command, [ENTRIES_DIR / "index.json"])
    return ENTRIES_DIR


@pytest.fixture(scope="session")
def course_entries(hidden_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Entries built and saved the way the course's notebooks do (tests/compat/course.py)."""
    from compat import course

    return course.build(tmp_path_factory.mktemp("course"), hidden_dir)
