"""Entries that attack the worker through their outputs, on the Docker backend (issue 15,
items 2, 3 and 5); the process-backend twins are in tests/grader/test_hostile_outputs.py.

Each ends as the entry's fault, never as an exception (a refunded platform fault), and leaves
no container and no output folder behind.
"""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

from tests.grader import hostile, synth

pytestmark = [pytest.mark.docker]


@pytest.fixture
def tmp_root(tmp_path):
    # After tmp_path: pytest's own temporary root must not be made inside this one.
    with hostile.private_tempdir() as path:
        yield path


@pytest.fixture(scope="module")
def roomy_output_specs(tmp_path_factory, docker_hidden) -> Path:
    # A 256 MB output cap, so a 250 MiB output reaches the scoring step.
    return synth.write_specs(
        tmp_path_factory.mktemp("outputs"),
        docker_hidden[1],
        wall_time_s=30,
        memory_mb=1024,
        output_mb=256,
    )


def entry(tmp_path: Path, source: str, name: str = "e", **files: str) -> Path:
    return synth.write_entry(tmp_path / name, source, **files)


def test_nested_output_folders_are_invalid_output(grade_docker, no_leftovers, tmp_root, tmp_path):
    report = grade_docker("lab2-mnist", entry(tmp_path, hostile.NESTED_MNIST), limits="roomy")
    assert report.status == "invalid_output", report.reason
    assert "nested more than 16 deep" in report.reason
    assert hostile.leftovers(tmp_root) == []
    no_leftovers()


def test_nested_output_folders_of_a_policy_are_invalid_output(
    grade_docker, no_leftovers, tmp_root, tmp_path
):
    report = grade_docker("lab3-cartpole", entry(tmp_path, hostile.NESTED_POLICY), limits="roomy")
    assert report.status == "invalid_output", report.reason
    assert "nested more than 16 deep" in report.reason
    assert hostile.leftovers(tmp_root) == []
    no_leftovers()


def test_deeply_nested_harness_json_is_not_a_worker_crash(
    grade_docker, no_leftovers, tmp_root, tmp_path
):
    report = grade_docker("lab2-mnist", entry(tmp_path, hostile.DEEP_JSON))
    assert report.status == "failed", report.reason
    assert hostile.leftovers(tmp_root) == []
    no_leftovers()


def test_a_250_mib_boolean_output_is_refused_without_loading_it(
    grade_docker, no_leftovers, roomy_output_specs, monkeypatch, docker_hidden, tmp_root, tmp_path
):
    from grader.pipeline import GradeRequest, grade

    path = entry(tmp_path, hostile.BOOL_250MIB)
    monkeypatch.setenv("GRADER_SPECS_DIR", str(roomy_output_specs))
    tracemalloc.start()
    try:
        report = grade(
            GradeRequest("lab2-mnist", path, hidden_dir=docker_hidden[0], backend="docker")
        )
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert report.status == "invalid_output", report.reason
    assert "got [262144000]" in report.reason
    assert peak < 64 * 2**20, peak  # before: over 2 GiB (np.load, then a float64 copy)
    assert hostile.leftovers(tmp_root) == []
    no_leftovers()


def test_a_slow_song_is_cut_off_and_counted_invalid(grade_docker, no_leftovers, tmp_path):
    songs = hostile.GOOD_TUNE + "\n" + hostile.SLOW_TUNE
    report = grade_docker(
        "lab1-music", entry(tmp_path, hostile.CAUSAL_MUSIC, songs__abc=songs), limits="roomy"
    )
    assert report.status == "scored", report.reason
    assert report.metrics["abc_validity"] == 0.5
    assert any("song 2 took more than 5 s" in note for note in report.details["notes"])
    no_leftovers()
