"""The course's own entries, graded end to end against the demo's hidden sets: for each lab
but lab 1, what the notebooks build and save (TensorFlow and PyTorch editions where both
exist) is accepted and scores sensibly. What cannot be graded is refused at upload with its
fix: tests/platform/submissions/test_upload_artifacts.py."""

from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ACCEPTED = [
    # (lab, the file the notebook's code saves, the metric, the least it should reach). The
    # demo's digits are drawn and warped per installation: the course's CNN, trained briefly,
    # scores 0.89 to 0.93 on them (chance is 0.1).
    ("lab2-mnist", "mnist_cnn.keras", "accuracy", 0.85),  # TF: model.save, tf.nn.softmax
    ("lab2-mnist", "mnist_cnn.h5", "accuracy", 0.85),  # TF: the legacy HDF5 format
    ("lab2-mnist", "mnist_cnn.pt", "accuracy", 0.85),  # PyTorch: torch.jit.trace, NCHW
    ("lab2-debias", "faces_standard.keras", "mean_group_auc", 0.0),  # TF: logits, NHWC
    ("lab2-debias", "faces_standard.pt", "mean_group_auc", 0.0),  # PyTorch: NCHW
    ("lab3-cartpole", "cartpole.keras", "mean_return", 1.0),
    ("lab3-pong", "pong.keras", "mean_return", -21.0),  # the course's 40x40 observation
]


@pytest.mark.parametrize(("lab", "name", "metric", "least"), ACCEPTED)
def test_the_course_entry_is_graded(
    course_entries, hidden_dir: Path, monkeypatch, lab, name, metric, least
):
    from grader.pipeline import GradeRequest, grade

    monkeypatch.delenv("GRADER_SPECS_DIR", raising=False)
    report = grade(GradeRequest(lab, course_entries[name], hidden_dir=hidden_dir))
    assert report.status == "scored", report.reason + report.logs[-3000:]
    assert report.metrics[metric] >= least, report.metrics
    print(f"COMPAT {lab} {name} {metric}={report.metrics[metric]:.3f}")
