"""Issue 15, item 11: an entry graded with the CLI sees none of the site's private files.

The grader CLI runs inside a checkout whose var/ holds the site's database (session keys),
the broker's folder, the worker's log and the cached sources of the hidden data. Canaries are
put in each of those places for the test (and removed after); the entry tries to read them.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest

from grader import cli
from tests.grader import synth

VAR = Path(__file__).resolve().parents[2] / "var"

READER = """
import json, os
def predict(x):
    seen = {}
    for path in PATHS:
        try:
            with open(path, "rb") as f:
                seen[path] = f.read(64).decode(errors="replace")
        except OSError as e:
            seen[path] = None
    try:
        seen["listing"] = sorted(os.listdir(VAR))
    except OSError:
        seen["listing"] = None
    raise RuntimeError("REPORT " + json.dumps(seen))
"""


@pytest.fixture
def canaries():
    token = secrets.token_hex(6)
    places = [
        VAR / f"canary-{token}.sqlite3",  # where db.sqlite3 lives
        VAR / "broker" / "queue" / f"canary-{token}.msg",
        VAR / "log" / f"canary-{token}.log",  # where the demo's worker.log lives
        VAR / "cache" / f"canary-{token}.tar.gz",  # the hidden tunes' cached source
    ]
    made_dirs = []
    for path in places:
        for parent in reversed(path.parents):
            if not parent.exists():
                parent.mkdir()
                made_dirs.append(parent)
        path.write_text(f"SECRET-{token}")
        path.chmod(0o644)
    yield places, token
    for path in places:
        path.unlink(missing_ok=True)
    for d in reversed(made_dirs):
        d.rmdir()


def test_cli_graded_entry_cannot_read_the_sites_private_files(
    canaries, synth_hidden, synth_specs_dir, monkeypatch, tmp_path, capsys
):
    places, token = canaries
    monkeypatch.setenv("GRADER_SPECS_DIR", str(synth_specs_dir))
    paths = [str(p) for p in places] + [str(VAR / "db.sqlite3")]
    entry = synth.write_entry(
        tmp_path / "e", READER.replace("PATHS", repr(paths)).replace("VAR)", repr(str(VAR)) + ")")
    )
    code = cli.main(
        ["grade", "--lab", "lab2-mnist", str(entry), "--hidden-dir", str(synth_hidden[0]), "--json"]
    )
    report = json.loads(capsys.readouterr().out)
    assert code == 1 and report["status"] == "failed", report
    seen = json.loads(report["reason"].split("REPORT ", 1)[1])
    assert f"SECRET-{token}" not in json.dumps(seen)
    assert all(seen[p] is None for p in paths), seen
    assert seen["listing"] is None
