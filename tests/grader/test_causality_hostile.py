"""The next-character causality check against entries that know how it works.

Each cheater is graded end to end on the process backend against the hostile-music set
(tests/grader/synth.py: 1,000 scored rows of 32 i.i.d. tokens plus the old check's 24 probe
rows). Every one of them was scored, not rejected, by the old probe-row check (verified
when the check was replaced); the new check rejects each with a failure chance below 1e-9,
computed below from the set itself where it is not zero.
"""

from __future__ import annotations

import math
import uuid
import zlib
from pathlib import Path

import numpy as np
import pytest

from grader.pipeline import GradeRequest, grade
from tests.grader import synth


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> tuple:
    return synth.hostile_music(tmp_path_factory.mktemp("hostile-music"))


@pytest.fixture
def grade_music(hostile, monkeypatch: pytest.MonkeyPatch, tmp_path):
    hidden, specs = hostile
    monkeypatch.setenv("GRADER_SPECS_DIR", str(specs))

    def run(source: str, backend: str = "process"):
        entry = synth.write_entry(tmp_path / "e", source)
        return grade(GradeRequest("lab1-music", entry, hidden_dir=hidden, backend=backend))

    return run


def tokens_of(hostile) -> np.ndarray:
    return np.load(hostile[0] / "lab1-music-v1/inputs/tokens.npy")


def miss_chance(per_row_positions: np.ndarray, t: int) -> float:
    """Chance that no row's cut lands on a peeked position: prod(1 - |S_i| / (T-1))."""
    return float(np.prod(1.0 - per_row_positions / (t - 1)))


def test_escape_chances_are_below_one_in_a_billion(hostile) -> None:
    tokens = tokens_of(hostile)
    n, t = tokens.shape
    # finds_probes peeks at every position of 1,000 rows: a cut always lands on a peek.
    # peeks_last_10 peeks at positions T-10..T-2 (9 of them); looks_two_ahead at the odd
    # ones of T-10..T-3 (4 of them), caught at least when the cut is one after the peek.
    assert miss_chance(np.full(n, 4), t) < 1e-9
    # peeks_5_percent: the positions its hash chooses in each row, from this very set.
    chosen = np.array(
        [
            sum(zlib.crc32(b"SALT2" + row[: pos + 1].tobytes()) % 20 == 0 for pos in range(t - 1))
            for row in tokens
        ]
    )
    assert 0.04 < chosen.sum() / (n * (t - 1)) < 0.06
    assert miss_chance(chosen, t) < 1e-9


@pytest.mark.parametrize("name", sorted(synth.CHEATERS))
def test_cheaters_are_rejected(grade_music, name: str) -> None:
    report = grade_music(synth.CHEATERS[name])
    assert report.status == "rejected", (report.status, report.reason, report.metrics)
    assert "looks ahead" in report.reason and report.metrics == {}


def test_honest_model_with_batch_dependent_float_noise_passes(grade_music, hostile) -> None:
    report = grade_music(synth.HONEST_NOISY)
    assert report.status == "scored", report.reason
    assert report.metrics["bits_per_char"] == pytest.approx(math.log2(8), abs=1e-5)
    n = len(tokens_of(hostile))
    checked = report.details["causality_checked"]
    assert checked["rows"] == n and n <= checked["positions"] <= n * 31


def test_random_output_at_inference_is_rejected(grade_music) -> None:
    report = grade_music(synth.RANDOM_AT_INFERENCE)
    assert report.status == "rejected" and "same answer for the same input" in report.reason


def test_rows_smuggled_from_run_a_do_not_help(grade_music) -> None:
    """Run B must not see run A's state; where a backend lets files through a host-wide
    folder (today's process backend shares /tmp and /dev/shm between runs: issue 15, item
    9), the secret order of run B's rows still defeats a model that copies A's answers
    (with run B's rows in run A's order, this one is scored). It must match rows by their
    kept prefix, which for rows cut early is shared with many others: about 33 rows are cut
    at position 1 and each is matched right with chance ~1/8; all of them: < 1e-20."""
    stash = f"causality-smuggle-{uuid.uuid4().hex}.npz"
    try:
        report = grade_music(synth.smuggler(stash))
    finally:
        for folder in ("/tmp", "/dev/shm"):  # noqa: S108 - the smuggler's own files
            Path(folder, stash).unlink(missing_ok=True)
    assert report.status == "rejected", (report.status, report.reason, report.metrics)
