"""Entries that attack the worker through their outputs, graded for real on the process
backend (issue 15, items 2, 3 and 5); the Docker twins are in
tests/sandboxes/docker/test_hostile_outputs.py.

Every one must end as the entry's fault (counted), never as an exception (a refunded platform
fault), and leave no workspace behind.
"""

from __future__ import annotations

import time
import tracemalloc

import pytest

from grader.sandbox import Job, SandboxLimits, get_backend
from tests.grader import hostile, synth


@pytest.fixture
def tmp_root(tmp_path):
    # After tmp_path: pytest's own temporary root must not be made inside this one.
    with hostile.private_tempdir() as path:
        yield path


def entry(tmp_path, source, name="e", **files):
    return synth.write_entry(tmp_path / name, source, **files)


def test_backend_refuses_1500_nested_output_folders_and_leaves_nothing(tmp_root, tmp_path):
    backend = get_backend("process")
    code = hostile.NEST + "\nprint('nested')\n"
    out = tmp_path / "out"
    result = backend.run(
        Job(("python", "-c", code), {}, out, SandboxLimits(wall_time_s=60, memory_mb=500))
    )
    assert "nested" in result.log, result.log
    assert result.output_error == "your entry's output folder has folders nested more than 16 deep"
    assert hostile.leftovers(tmp_root) == []  # the workspace is gone, every folder of it


def test_nested_output_folders_are_invalid_output(graded, tmp_root, tmp_path):
    report = graded("lab2-mnist", entry(tmp_path, hostile.NESTED_MNIST))
    assert report.status == "invalid_output", report.reason
    assert "nested more than 16 deep" in report.reason
    assert hostile.leftovers(tmp_root) == []


def test_nested_output_folders_of_a_policy_are_invalid_output(graded, tmp_root, tmp_path):
    report = graded("lab3-cartpole", entry(tmp_path, hostile.NESTED_POLICY))
    assert report.status == "invalid_output", report.reason
    assert "nested more than 16 deep" in report.reason
    assert hostile.leftovers(tmp_root) == []


def test_deeply_nested_harness_json_is_not_a_worker_crash(graded, tmp_root, tmp_path):
    report = graded("lab2-mnist", entry(tmp_path, hostile.DEEP_JSON))
    assert report.status == "failed", report.reason
    assert hostile.leftovers(tmp_root) == []


def test_a_250_mib_boolean_output_is_refused_without_loading_it(
    graded, tmp_root, tmp_path, synth_hidden, monkeypatch
):
    # A 256 MB output cap, so that the 250 MiB file reaches the scoring step.
    specs = synth.write_specs(tmp_path / "specs", synth_hidden[1], output_mb=256)
    monkeypatch.setenv("GRADER_SPECS_DIR", str(specs))
    path = entry(tmp_path, hostile.BOOL_250MIB)
    tracemalloc.start()
    try:
        report = graded("lab2-mnist", path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert report.status == "invalid_output", report.reason
    assert "got [262144000]" in report.reason
    # Before: np.load then a float64 copy, over 2 GiB in the worker.
    assert peak < 64 * 2**20, peak
    assert hostile.leftovers(tmp_root) == []


def test_a_slow_song_is_cut_off_and_counted_invalid(graded, tmp_path):
    songs = hostile.GOOD_TUNE + "\n" + hostile.SLOW_TUNE
    started = time.monotonic()
    report = graded("lab1-music", entry(tmp_path, hostile.CAUSAL_MUSIC, songs__abc=songs))
    took = time.monotonic() - started
    assert report.status == "scored", report.reason
    assert report.metrics["abc_validity"] == 0.5
    assert any("song 2 took more than 5 s" in note for note in report.details["notes"])
    # music21 alone spends over 60 s on that tune; the cut-off is 5 s (generous bound here).
    assert took < 45, took
