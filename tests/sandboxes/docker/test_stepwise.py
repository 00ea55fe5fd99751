"""Lab 1 stepped by the worker on the Docker backend: frames over the attach socket
(DockerSession). The process-backend twins, and why, are in tests/grader/test_stepwise.py and
tests/grader/test_stepwise_frameworks.py."""

from __future__ import annotations

import math
import subprocess
import sys
import uuid

import numpy as np
import pytest

from grader.pipeline import GradeRequest, grade
from tests.grader import synth
from tests.grader.test_pipeline_batch import CAUSAL
from tests.grader.test_stepwise import log_events, music, received_rows, sorted_rows
from tests.grader.test_stepwise_frameworks import BUILD_KERAS, expected_bits, scored_rows

pytestmark = [pytest.mark.docker]


def entry(tmp_path, source, name="e"):
    return synth.write_entry(tmp_path / name, source)


def test_a_causal_model_scores_by_hand_on_docker(grade_docker, no_leftovers, tmp_path):
    report = grade_docker("lab1-music", entry(tmp_path, CAUSAL))
    assert report.status == "scored", report.reason + report.logs[-2000:]
    assert report.metrics["bits_per_char"] == pytest.approx(-math.log2(0.9), rel=1e-5)
    assert report.receipt is not None and report.receipt.backend == "docker"
    no_leftovers()


def test_an_entry_that_logs_everything_got_only_characters_it_had_answered_for_on_docker(
    grade_docker, docker_hidden, tmp_path
):
    tokens, targets, _split, real = music(docker_hidden)
    report = grade_docker("lab1-music", entry(tmp_path, synth.logging_entry(synth.MUSIC_V)))
    assert report.status == "scored", report.reason + report.logs[-2000:]
    assert log_events(report.logs, ("FOUND",)) == []
    files = {tuple(line.split()[1:]) for line in log_events(report.logs, ("FILE",))}
    assert files == {("SANDBOX_ENTRY", "submission.py"), ("SANDBOX_INPUTS", "vocab.json")}
    events = log_events(report.logs, ("START", "GOT", "ANSWERED"))
    assert [e.split()[0] for e in events] == ["START"] + ["GOT", "ANSWERED"] * synth.MUSIC_T
    got = sorted_rows(np.concatenate(received_rows(events)))
    shifted = np.concatenate([tokens[real][:, :1], targets[real][:, :-1]], axis=1)
    assert (got == sorted_rows(tokens[real])).all() and (got == sorted_rows(shifted)).all()


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory):
    return synth.hostile_music(tmp_path_factory.mktemp("hostile-music"))


@pytest.fixture
def grade_hostile(docker_client, state_dir, hostile, monkeypatch: pytest.MonkeyPatch, tmp_path):
    hidden, specs = hostile
    monkeypatch.setenv("GRADER_SPECS_DIR", str(specs))

    def run(source: str, name: str = "e"):
        return grade(
            GradeRequest(
                "lab1-music", entry(tmp_path, source, name), hidden_dir=hidden, backend="docker"
            )
        )

    return run


@pytest.mark.parametrize(
    ("high", "low", "dtype"),
    [("1e308", "-1e308", "float64"), ("np.nan", "np.nan", "float64"), ("np.inf", "0.0", "float16")],
)
def test_extreme_numbers_are_invalid_on_docker(grade_hostile, high, low, dtype):
    report = grade_hostile(synth.extreme_pairs(high, low, dtype))
    assert report.status == "invalid_output", (report.status, report.metrics)
    assert "not a finite number" in report.reason and report.metrics == {}


def test_the_old_logprobs_file_trick_gains_nothing_on_docker(grade_hostile):
    report = grade_hostile(synth.WRITES_LOGPROBS_FILE)
    assert report.status == "scored", report.reason
    assert report.metrics["bits_per_char"] == pytest.approx(synth.BEST_CAUSAL_BITS, abs=1e-3)


def test_rows_stashed_by_one_grading_do_not_reach_the_next_on_docker(grade_hostile):
    stash = f"stepwise-smuggle-{uuid.uuid4().hex}.npy"
    first = grade_hostile(synth.smuggler(stash), "first")
    second = grade_hostile(synth.smuggler(stash), "second")
    for report in (first, second):
        assert report.status == "scored", report.reason
        assert "STASH none" in report.logs
    assert second.metrics["bits_per_char"] == pytest.approx(first.metrics["bits_per_char"])


@pytest.mark.slow
def test_the_course_keras_lstm_saved_at_batch_16_grades_on_docker(
    grade_docker, docker_hidden, tmp_path
):
    tokens, targets = scored_rows(docker_hidden)
    np.save(tmp_path / "tokens.npy", tokens)
    subprocess.run(
        [sys.executable, "-c", BUILD_KERAS, str(tmp_path), str(tmp_path / "tokens.npy")],
        check=True,
        capture_output=True,
        env={"KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3", "PATH": "/usr/bin:/bin"},
    )
    want = expected_bits(np.load(tmp_path / "logits.npy"), targets)
    for name in ("lstm_batch16", "lstm_batch1"):
        report = grade_docker("lab1-music", tmp_path / f"{name}.keras", limits="roomy")
        assert report.status == "scored", report.reason + report.logs[-3000:]
        assert report.metrics["bits_per_char"] == pytest.approx(want, rel=1e-5)
