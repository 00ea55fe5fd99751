"""The real demo hidden sets and the reference entries (tests/conftest.py builds both)."""

import json
import os
import subprocess
import sys

import pytest

from grader.pipeline import GradeRequest, grade
from tests.grader import synth

LABS = [
    "lab1-music",
    "lab2-debias",
    "lab2-mnist",
    "lab2-pneumothorax",
    "lab3-cartpole",
    "lab3-pong",
]


@pytest.fixture(scope="module")
def index(reference_entries):
    return json.loads((reference_entries / "index.json").read_text())


@pytest.mark.slow
@pytest.mark.parametrize("lab", LABS)
def test_reference_entries_end_as_expected(lab, index, reference_entries, hidden_dir, monkeypatch):
    monkeypatch.delenv("GRADER_SPECS_DIR", raising=False)  # the real specs, real checksums
    for name, entry in sorted(index[lab].items()):
        if name == "sleep":
            continue  # see test_sleeping_reference_entries_time_out
        report = grade(GradeRequest(lab, reference_entries / entry["path"], hidden_dir=hidden_dir))
        assert report.status == entry["expect"], (
            f"{lab}/{name}: {report.reason}\n{report.logs[-2000:]}"
        )
        assert report.receipt.dataset_verified
        json.dumps(report.to_dict(), allow_nan=False)
        if report.status == "scored":
            spec_metrics = report.metrics
            assert (
                spec_metrics and report.split_metrics["public"] and report.split_metrics["private"]
            )
        else:
            assert report.reason and report.metrics == {}
        if lab == "lab3-cartpole" and name == "left":
            assert 8 <= report.metrics["mean_return"] <= 11
        if lab == "lab3-cartpole" and name == "controller":
            assert report.metrics["mean_return"] == 500
        if lab == "lab2-debias" and name == "constant":
            assert report.metrics["roc_auc"] == 0.5


@pytest.mark.slow
@pytest.mark.parametrize("lab", ["lab2-mnist", "lab3-cartpole"])
def test_sleeping_reference_entries_time_out(
    lab, index, reference_entries, hidden_dir, tmp_path, monkeypatch
):
    monkeypatch.setenv("GRADER_SPECS_DIR", str(synth.write_specs(tmp_path, None, wall_time_s=3)))
    entry = reference_entries / index[lab]["sleep"]["path"]
    report = grade(GradeRequest(lab, entry, hidden_dir=hidden_dir))
    assert report.status == "timeout", report.reason


def test_cli_sample_mode_on_the_public_sample(reference_entries, hidden_dir, index):
    entry = reference_entries / index["lab3-cartpole"]["left"]["path"]
    env = {k: v for k, v in os.environ.items() if k != "GRADER_SPECS_DIR"}
    proc = subprocess.run(
        [sys.executable, "-m", "grader", "grade", "--lab", "lab3-cartpole", str(entry)]
        + ["--sample", "--json", "--hidden-dir", str(hidden_dir)],
        cwd=synth.REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["receipt"]["dataset_name"] == "samples/lab3-cartpole"
    assert 8 <= report["metrics"]["mean_return"] <= 11


@pytest.mark.slow
def test_constant_face_detector_ranks_below_the_staff_baseline(
    index, reference_entries, hidden_dir, tmp_path, monkeypatch
):
    """A detector that answers 0.7 for every image detects every face (mean group accuracy
    100 %, above the baseline's 87.5 %) but ranks last: lab2-debias ranks by group AUC."""
    from grader.specs import load_spec

    monkeypatch.delenv("GRADER_SPECS_DIR", raising=False)
    constant = synth.write_entry(
        tmp_path / "c", "import numpy as np\ndef predict(x):\n    return np.full(len(x), 0.7)\n"
    )
    baseline = reference_entries / index["lab2-debias"]["baseline"]["path"]
    reports = {
        name: grade(GradeRequest("lab2-debias", path, hidden_dir=hidden_dir))
        for name, path in (("constant", constant), ("baseline", baseline))
    }
    assert all(r.status == "scored" for r in reports.values())
    c, b = reports["constant"], reports["baseline"]
    # The constant gets the full group accuracy the old ranking rewarded; the baseline may
    # too on some installation's secret draw of the demo set, so this is >=, not >.
    assert c.metrics["debias_accuracy"] == 100.0 >= b.metrics["debias_accuracy"]
    for metrics in (c.metrics, *c.split_metrics.values()):
        assert metrics["mean_group_auc"] == metrics["worst_group_auc"] == 0.5
    spec = load_spec("lab2-debias")
    for split in ("public", "private"):
        shown = [c.split_metrics[split], b.split_metrics[split]]
        assert sorted(shown, key=spec.sort_key)[0] is b.split_metrics[split]
    assert spec.rubric.score(c.metrics["mean_group_auc"]) == 1
    # The demo set is drawn and warped from each installation's own secret, so the baseline's
    # exact AUC varies a little (0.885-0.92 seen): it must clear the constant, not one threshold.
    assert spec.rubric.score(b.split_metrics["private"]["mean_group_auc"]) >= 3


@pytest.mark.slow
def test_the_shortcut_model_ranks_below_the_baseline_and_looks_at_the_corner(
    index, reference_entries, hidden_dir, monkeypatch
):
    """The demo's public X-rays carry a corner marker that goes with pneumothorax; the hidden
    ones do not. The model that learned the marker ranks below the staff baseline on the
    hidden set, and its class activation maps put most of their mass outside the marked
    pneumothorax regions."""
    from grader.specs import load_spec

    monkeypatch.delenv("GRADER_SPECS_DIR", raising=False)
    lab = "lab2-pneumothorax"
    reports = {
        name: grade(GradeRequest(lab, reference_entries / index[lab][name]["path"], hidden_dir))
        for name in ("baseline", "shortcut")
    }
    assert all(r.status == "scored" for r in reports.values()), reports
    b, s = reports["baseline"], reports["shortcut"]
    spec = load_spec(lab)
    for split in ("public", "private"):
        shown = [s.split_metrics[split], b.split_metrics[split]]
        assert sorted(shown, key=spec.sort_key)[0] is b.split_metrics[split]
        assert s.split_metrics[split]["cam_mass_inside"] < 0.5
    assert b.metrics["roc_auc"] >= 0.85 and s.metrics["roc_auc"] <= 0.75
    assert b.details["cam"]["source"] == s.details["cam"]["source"] == "grader"
