"""The demo data and reference entries are built once, by one builder, and left as they are
when up to date: `make demo` started beside a test run must not rewrite the files the tests
are reading (it did: eight reference-entry tests lost their entries mid-run)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import demo_build

REPO = Path(__file__).resolve().parents[2]
PYTHON = str(REPO / ".venv/bin/python") if (REPO / ".venv/bin/python").exists() else sys.executable
BUILD = [PYTHON, str(REPO / "scripts" / "demo_build.py")]


def _fingerprint(*paths: Path) -> list[tuple[int, int]]:
    return [(p.stat().st_ino, p.stat().st_mtime_ns) for p in paths]


def test_the_demo_builds_through_the_one_builder():
    demo = (REPO / "scripts" / "demo.sh").read_text()
    assert "scripts/demo_build.py" in demo
    assert "make_reference_entries.py" not in demo and "build_demo_data.py" not in demo


def test_an_up_to_date_build_is_left_as_it_is(reference_entries, hidden_dir):
    files = [reference_entries / "index.json", hidden_dir / "lab2-mnist-v1" / "manifest.json"]
    before = _fingerprint(*files)

    done = subprocess.run(BUILD, cwd=REPO, capture_output=True, text=True, timeout=300)

    assert done.returncode == 0, done.stderr
    assert "up to date" in done.stdout
    assert _fingerprint(*files) == before


def test_a_second_builder_waits_for_the_one_building(reference_entries):
    with demo_build.build_lock():
        waiting = subprocess.Popen(BUILD, cwd=REPO, stdout=subprocess.PIPE, text=True)
        try:
            waiting.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        assert waiting.poll() is None, "the builder did not wait for the lock"
    out, _ = waiting.communicate(timeout=300)
    assert waiting.returncode == 0 and "up to date" in out
