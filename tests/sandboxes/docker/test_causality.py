"""The next-character causality check on the Docker backend: both runs are containers.

The same entries as tests/grader/test_causality_hostile.py (which also gives the chance of
a miss, below 1e-9 for each), graded through the pipeline with backend="docker".
"""

from __future__ import annotations

import math

import pytest

from grader.pipeline import GradeRequest, grade
from tests.grader import synth

pytestmark = [pytest.mark.docker]


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> tuple:
    return synth.hostile_music(tmp_path_factory.mktemp("hostile-music"))


@pytest.fixture
def grade_music(docker_client, state_dir, hostile, monkeypatch: pytest.MonkeyPatch, tmp_path):
    hidden, specs = hostile
    monkeypatch.setenv("GRADER_SPECS_DIR", str(specs))

    def run(source: str):
        entry = synth.write_entry(tmp_path / "e", source)
        return grade(GradeRequest("lab1-music", entry, hidden_dir=hidden, backend="docker"))

    return run


@pytest.mark.parametrize("name", ["finds_probes", "peeks_5_percent", "looks_two_ahead"])
def test_cheaters_are_rejected_on_docker(grade_music, name: str) -> None:
    report = grade_music(synth.CHEATERS[name])
    assert report.status == "rejected", (report.status, report.reason, report.metrics)
    assert "looks ahead" in report.reason and report.metrics == {}


def test_honest_noisy_model_passes_on_docker(grade_music, no_leftovers) -> None:
    report = grade_music(synth.HONEST_NOISY)
    assert report.status == "scored", report.reason
    assert report.metrics["bits_per_char"] == pytest.approx(math.log2(8), abs=1e-5)
    assert report.receipt is not None and report.receipt.backend == "docker"
    no_leftovers()


def test_nothing_passes_from_run_a_to_run_b_on_docker(grade_music) -> None:
    # Each run is a new container with its own /tmp and /dev/shm: the smuggler finds no
    # stash in run B (and would still face run B's secret row order).
    report = grade_music(synth.smuggler("causality-smuggle.npz"))
    assert report.status == "rejected", (report.status, report.reason, report.metrics)
