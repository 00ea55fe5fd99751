"""`python -m grader lab new|check`: a new lab with its own data grades reference entries."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from grader.cli import main
from grader.pipeline import GradeRequest, grade
from grader.specs import REPO_DIR, load_spec
from tests.grader import synth


@pytest.fixture
def specs(tmp_path, monkeypatch) -> Path:
    dst = tmp_path / "specs"
    shutil.copytree(REPO_DIR / "lab_specs", dst)
    monkeypatch.setenv("GRADER_SPECS_DIR", str(dst))
    return dst


def digits_npz(path: Path, n: int, offset: int) -> Path:
    """Images whose first pixel encodes the label, so a simple entry can read it."""
    rng = np.random.default_rng(offset)
    x = rng.uniform(0, 1, (n, 28, 28, 1)).astype(np.float32)
    y = (np.arange(n) + offset) % 10
    x[:, 0, 0, 0] = y / 10
    np.savez(path, x=x, y=y)
    return path


PERFECT = """
import numpy as np
def predict(x):
    return np.eye(10, dtype=np.float32)[np.rint(x[:, 0, 0, 0] * 10).astype(int)]
"""


def test_lab_new_copies_a_spec_with_its_own_data_and_no_checksum(specs, capsys):
    assert main(["lab", "new", "lab9-digits", "--from", "lab2-mnist"]) == 0
    spec = load_spec("lab9-digits")
    base = load_spec("lab2-mnist")
    assert spec.id == "lab9-digits" and spec.data.name == "lab9-digits-v1"
    assert not spec.data.verified
    assert spec.metrics == base.metrics and spec.input == base.input
    assert main(["lab", "new", "lab9-digits", "--from", "lab2-mnist"]) == 2  # exists
    assert "exists already" in capsys.readouterr().err
    assert main(["lab", "new", "Bad_Id", "--from", "lab2-mnist"]) == 2


def test_new_lab_with_built_data_grades_and_checks(specs, tmp_path, capsys):
    hidden = tmp_path / "hidden"
    assert main(["lab", "new", "lab9-digits", "--from", "lab2-mnist"]) == 0
    src = digits_npz(tmp_path / "hidden.npz", 60, 0)
    out = hidden / "lab9-digits-v1"
    build = ["dataset", "build", "--lab", "lab9-digits"]
    assert main([*build, str(src), "--out", str(out)]) == 0
    assert main([*build, str(src), "--out", str(out), "--write-spec"]) == 0  # rebuilt over
    sample = digits_npz(tmp_path / "sample.npz", 20, 3)
    sample_out = hidden / "samples" / "lab9-digits"
    assert main([*build, str(sample), "--out", str(sample_out)]) == 0

    entries = tmp_path / "entries"
    synth.write_entry(entries / "lab9-digits" / "perfect", PERFECT)
    synth.write_entry(entries / "lab9-digits" / "crash", "def predict(x):\n    raise ValueError\n")
    index = {
        "lab9-digits": {
            "perfect": {"path": "lab9-digits/perfect", "format": "code", "expect": "scored"},
            "crash": {"path": "lab9-digits/crash", "format": "code", "expect": "failed"},
        }
    }
    (entries / "index.json").write_text(json.dumps(index))

    report = grade(GradeRequest("lab9-digits", entries / "lab9-digits/perfect", hidden_dir=hidden))
    assert report.status == "scored", report.reason
    assert report.receipt.dataset_verified and report.metrics["accuracy"] == 1.0
    assert report.split_metrics["public"] and report.split_metrics["private"]

    capsys.readouterr()
    args = ["lab", "check", "--hidden-dir", str(hidden), "--entries", str(entries)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "lab9-digits: ok" in printed and "perfect: scored as expected" in printed
    assert "crash: failed as expected" in printed

    # An entry that no longer ends as expected makes the check fail.
    index["lab9-digits"]["crash"]["expect"] = "scored"
    (entries / "index.json").write_text(json.dumps(index))
    assert main(args) == 1
    assert "crash: failed (expected scored)" in capsys.readouterr().out


def test_lab_check_reports_a_broken_spec(specs, tmp_path, capsys):
    (specs / "lab2-mnist.toml").write_text(
        (specs / "lab2-mnist.toml").read_text().replace('task = "classification"', 'task = "x"')
    )
    assert main(["lab", "check", "--hidden-dir", str(tmp_path), "--entries", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "lab2-mnist: FAILED" in out and "'task' must be one of" in out
