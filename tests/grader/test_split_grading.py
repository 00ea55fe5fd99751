"""Grading one split at a time: the rows and episodes of any other split never enter the
sandbox (the platform grades the public split while the author's window is open and the
private split in a run of its own after it; docs/private-split.md)."""

import json

import numpy as np
import pytest

from grader.errors import PlatformError
from tests.grader import synth
from tests.grader.test_pipeline_batch import DEBIAS
from tests.grader.test_pipeline_rl import CONTROLLER

# Prints, per input image, a fingerprint of it: what the sandbox was given, in its order.
FINGERPRINTS = """
import numpy as np
def predict(x):
    for image in x:
        print("ROW", round(float(image.sum()), 3))
    return np.full(len(x), 0.5, np.float32)
"""


def _fingerprints(log: str) -> list[float]:
    return [float(line.split()[1]) for line in log.splitlines() if line.startswith("ROW ")]


def _set(synth_hidden, name: str) -> tuple[np.ndarray, np.ndarray]:
    folder = synth_hidden[0] / name
    images = np.load(folder / "inputs" / "images.npy")
    with np.load(folder / "labels" / "labels.npz") as npz:
        return images, npz["split"]


@pytest.mark.parametrize("split, value", [("public", 0), ("private", 1)])
def test_a_batch_grading_of_one_split_gives_the_sandbox_only_its_rows(
    graded, synth_hidden, tmp_path, split, value
):
    images, splits = _set(synth_hidden, "lab2-debias-v1")
    report = graded("lab2-debias", synth.write_entry(tmp_path / "e", FINGERPRINTS), splits=(split,))
    assert report.status == "scored", report.reason
    expected = [round(float(image.sum()), 3) for image in images[splits == value]]
    assert _fingerprints(report.logs) == expected
    assert set(report.split_metrics) == {split}
    assert set(report.details["roc_curve"]) == set(report.details["intervals"]) == {split}
    assert report.metrics == report.split_metrics[split]


def test_both_splits_graded_apart_equal_both_graded_together(graded, tmp_path):
    entry = synth.write_entry(tmp_path / "e", DEBIAS)
    together = graded("lab2-debias", entry)
    for split in ("public", "private"):
        alone = graded("lab2-debias", entry, splits=(split,))
        assert alone.split_metrics[split] == pytest.approx(together.split_metrics[split])
        assert alone.details["group_accuracy"][split] == together.details["group_accuracy"][split]


def test_an_interactive_grading_of_the_private_split_plays_only_private_seeds(
    graded, synth_hidden, tmp_path
):
    seeds = json.loads((synth_hidden[0] / "lab3-cartpole-v1/labels/seeds.json").read_text())
    both = graded("lab3-cartpole", synth.write_entry(tmp_path / "e", CONTROLLER))
    alone = graded(
        "lab3-cartpole", synth.write_entry(tmp_path / "e", CONTROLLER), splits=("private",)
    )
    assert alone.status == "scored", alone.reason
    assert set(alone.split_metrics) == {"private"}
    assert alone.split_metrics["private"]["episodes"] == len(seeds["private"])
    assert alone.details["returns"] == {"private": both.details["returns"]["private"]}
    # Graded alone, the private session is the run itself: nothing is set apart.
    assert alone.private_session is None


def test_a_failure_in_a_private_grading_is_that_run_s_verdict(graded, tmp_path):
    source = "def act(obs):\n    raise ValueError('broken policy')\n"
    report = graded("lab3-cartpole", synth.write_entry(tmp_path / "e", source), splits=("private",))
    assert report.status == "failed" and "broken policy" in report.reason


@pytest.mark.parametrize("splits", [(), ("hidden",), ("public", "secret")])
def test_unknown_splits_are_refused(graded, tmp_path, splits):
    with pytest.raises(PlatformError):
        graded("lab2-debias", synth.write_entry(tmp_path / "e", FINGERPRINTS), splits=splits)
