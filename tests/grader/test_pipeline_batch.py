"""Classification and next-character labs end to end through the process backend."""

import json
import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score, roc_curve

from grader.errors import GradingCancelled, PlatformError
from grader.pipeline import GradeRequest, grade
from tests.grader import synth

PERFECT_MNIST = """
import numpy as np
def predict(x):
    return np.eye(10, dtype=np.float32)[(np.rint(x[:, 0, 0, 0] * 10)).astype(int)]
"""
# Faces get 0.9 except dark men (group 4/4 in pixel [0,0,1]) at 0.2; non-faces 0.1.
DEBIAS = """
import numpy as np
def predict(x):
    face = x[:, 0, 0, 0] > 0.5
    dm = np.isclose(x[:, 0, 0, 1], 1.0)
    return np.where(face & ~dm, 0.9, np.where(face, 0.2, 0.1)).astype(np.float32)
"""


def entry(tmp_path, source, name="e", **files):
    return synth.write_entry(tmp_path / name, source, **files)


def test_mnist_perfect_entry_scores_one_with_receipt(graded, tmp_path):
    report = graded("lab2-mnist", entry(tmp_path, PERFECT_MNIST))
    assert report.status == "scored", report.reason
    assert report.metrics == {"accuracy": 1.0}
    assert report.split_metrics == {"public": {"accuracy": 1.0}, "private": {"accuracy": 1.0}}
    r = report.receipt
    assert r.backend == "process" and r.image_digest is None
    assert r.isolation.startswith("process (bubblewrap: ") and " uid 0," not in r.isolation
    assert r.dataset_verified and r.dataset_name == "lab2-mnist-v1"
    assert r.started_at.endswith("Z") and r.wall_time_s > 0
    json.dumps(report.to_dict(), allow_nan=False)


def test_mnist_half_right_and_events(graded, synth_hidden, tmp_path):
    source = PERFECT_MNIST.replace("* 10)", "* 10) // 5 * 5")  # right for digits 0 and 5 only
    assert source != PERFECT_MNIST
    events: list[str] = []
    from grader.pipeline import GradeRequest, grade

    report = grade(
        GradeRequest("lab2-mnist", entry(tmp_path, source), hidden_dir=synth_hidden[0]),
        on_event=lambda kind, data: events.append(kind),
    )
    assert report.metrics["accuracy"] == pytest.approx(0.2)
    assert events[0] == "running" and events[-1] == "scoring"


def test_debias_metrics_end_to_end(graded, synth_hidden, tmp_path):
    report = graded("lab2-debias", entry(tmp_path, DEBIAS))
    assert report.status == "scored", report.reason
    m = report.metrics
    assert (m["accuracy_LF"], m["accuracy_DM"], m["debias_accuracy"]) == (100.0, 0.0, 75.0)
    assert m["group_accuracy_variance"] == pytest.approx(np.var([100, 100, 100, 0]))
    assert m["worst_group_accuracy"] == 0.0 and m["non_face_specificity"] == 100.0
    # Dark men's faces (0.2) still score above every non-face (0.1): each group's AUC is 1.
    assert m["mean_group_auc"] == m["worst_group_auc"] == 1.0
    with np.load(synth_hidden[0] / "lab2-debias-v1/labels/labels.npz") as npz:
        y, group, split = npz["y"], npz["group"], npz["split"]
    scores = np.where(y == 1, np.where(group == "DM", 0.2, 0.9), 0.1)
    assert m["roc_auc"] == pytest.approx(roc_auc_score(y, scores))
    pub = split == 0
    assert report.split_metrics["public"]["roc_auc"] == pytest.approx(
        roc_auc_score(y[pub], scores[pub])
    )
    # Chart data per split, each equal to that split's metrics (charts never mix splits).
    for name, mask in (("public", split == 0), ("private", split == 1)):
        groups = report.details["group_accuracy"][name]
        assert groups == {g: report.split_metrics[name][f"accuracy_{g}"] for g in groups}
        curve = report.details["roc_curve"][name]
        fpr, tpr, _ = roc_curve(y[mask], scores[mask])
        assert curve["fpr"][0] == 0.0 and curve["tpr"][-1] == pytest.approx(tpr[-1])
        assert len(curve["fpr"]) == min(len(fpr), 50)
    assert report.details["group_accuracy"]["public"]["DM"] == 0.0


def test_debias_constant_output_is_scored_honestly(graded, tmp_path):
    source = "import numpy as np\ndef predict(x):\n    return np.full(len(x), 0.5, np.float32)\n"
    report = graded("lab2-debias", entry(tmp_path, source))
    assert report.status == "scored"
    assert report.metrics["roc_auc"] == 0.5
    assert report.metrics["non_face_specificity"] == 0.0


def test_debias_logits_are_read_through_a_sigmoid(graded, tmp_path):
    source = "import numpy as np\ndef predict(x):\n    return (x[:, 0, 0, 0] * 8 - 4)[:, None]\n"
    report = graded("lab2-debias", entry(tmp_path, source))
    assert report.metrics["debias_accuracy"] == 100.0 and report.metrics["roc_auc"] == 1.0
    assert any("logits" in n for n in report.details["notes"])


@pytest.mark.parametrize(
    ("source", "status", "reason"),
    [
        (
            "import numpy as np\ndef predict(x):\n    return np.full((len(x), 10), np.nan)\n",
            "invalid_output",
            "NaN",
        ),
        (
            "import numpy as np\ndef predict(x):\n    return np.zeros((len(x), 3))\n",
            "invalid_output",
            "shape",
        ),
        (
            "def predict(x):\n    raise RuntimeError('my model is broken')\n",
            "failed",
            "my model is broken",
        ),
        ("import sys\nsys.exit(7)\n", "failed", "crashed"),
        ("def nothing():\n    pass\n", "failed", "must define predict"),
    ],
)
def test_bad_entries_get_a_specific_status(graded, tmp_path, source, status, reason):
    report = graded("lab2-mnist", entry(tmp_path, source))
    assert report.status == status
    assert reason in report.reason
    assert report.metrics == {}


@pytest.mark.slow
def test_sleep_forever_times_out_and_memory_hog_is_oom(tmp_path, monkeypatch, synth_hidden):
    specs = synth.write_specs(tmp_path / "specs", synth_hidden[1], wall_time_s=3, memory_mb=300)
    monkeypatch.setenv("GRADER_SPECS_DIR", str(specs))
    sleeper = entry(tmp_path, "import time\ndef predict(x):\n    time.sleep(3600)\n", "s")
    report = grade(GradeRequest("lab2-mnist", sleeper, hidden_dir=synth_hidden[0]))
    assert report.status == "timeout" and "3 s" in report.reason
    assert report.receipt.wall_time_s < 6
    hog = (
        "import numpy as np\ndef predict(x):\n    a = np.ones(2 * 2**30, np.uint8)\n    return a\n"
    )
    report = grade(
        GradeRequest("lab2-mnist", entry(tmp_path, hog, "h"), hidden_dir=synth_hidden[0])
    )
    assert report.status == "oom" and "300 MB" in report.reason


def test_cancel_stops_the_run(graded, tmp_path):
    sleeper = entry(tmp_path, "import time\ndef predict(x):\n    time.sleep(3600)\n")
    with pytest.raises(GradingCancelled):
        graded("lab2-mnist", sleeper, cancel=lambda: True)


def test_rejected_upload_never_runs(graded, tmp_path):
    (tmp_path / "w.pkl").write_bytes(b"x")
    report = graded("lab2-mnist", tmp_path / "w.pkl")
    assert report.status == "rejected" and "no entry found" in report.reason


def test_platform_faults_raise(graded, tmp_path, synth_hidden, monkeypatch):
    good = entry(tmp_path, PERFECT_MNIST)
    with pytest.raises(PlatformError, match="missing"):
        graded("lab2-mnist", good, hidden_dir=tmp_path / "nowhere")
    with pytest.raises(PlatformError, match="unknown sandbox backend"):
        graded("lab2-mnist", good, backend="nonexistent")
    bad = {**synth_hidden[1], "lab2-mnist": "sha256:" + "0" * 64}
    monkeypatch.setenv("GRADER_SPECS_DIR", str(synth.write_specs(tmp_path / "sp", bad)))
    with pytest.raises(PlatformError, match="does not match"):
        graded("lab2-mnist", good)


def test_sample_set_is_graded_unverified(graded, tmp_path):
    report = graded("lab2-mnist", entry(tmp_path, PERFECT_MNIST), sample=True)
    assert report.status == "scored" and report.metrics["accuracy"] == 1.0
    assert report.receipt.dataset_name == "samples/lab2-mnist"


# --------------------------------------------------------------------------- next character

V, T = synth.MUSIC_V, synth.MUSIC_T
# p(next = token + 1 mod V) = 0.9, the rest shared: the step API, one character per row.
CAUSAL = f"""
import numpy as np
def step(chars):
    out = np.full((len(chars), {V}), 0.1 / {V - 1})
    out[np.arange(len(chars)), (chars + 1) % {V}] = 0.9
    return np.log(out)
"""
# The same model as a stateless predict(tokens) -> [N, t, V]: re-run on the characters so far.
CAUSAL_PREDICT = f"""
import numpy as np
def predict(tokens):
    out = np.full(tokens.shape + ({V},), 0.1 / {V - 1})
    np.put_along_axis(out, ((tokens + 1) % {V})[..., None], 0.9, axis=-1)
    return np.log(out)
"""
# Written to read the character after each position, as it could when it got whole rows.
PEEKS = f"""
import numpy as np
def predict(tokens):
    nxt = np.concatenate([tokens[:, 1:], tokens[:, -1:]], axis=1)
    out = np.full(tokens.shape + ({V},), 1e-3)
    np.put_along_axis(out, nxt[..., None], 1.0, axis=-1)
    return np.log(out / out.sum(-1, keepdims=True))
"""


def test_next_char_bits_by_hand_and_songs(graded, tmp_path):
    songs = "X:1\nT:a\nM:4/4\nL:1/8\nK:D\nABcd|efga|\n\nX:2\nT:b\n%%%% broken\n"
    report = graded("lab1-music", entry(tmp_path, CAUSAL, songs__abc=songs))
    assert report.status == "scored", report.reason
    assert report.metrics["bits_per_char"] == pytest.approx(-math.log2(0.9), rel=1e-5)
    assert report.split_metrics["private"]["bits_per_char"] == pytest.approx(
        -math.log2(0.9), rel=1e-5
    )
    assert report.metrics["abc_validity"] == 0.5
    assert report.details["stepped"] == {"rows": 8, "characters": 8 * T}


def test_a_stateless_predict_is_rerun_on_the_characters_so_far(graded, tmp_path):
    report = graded("lab1-music", entry(tmp_path, CAUSAL_PREDICT))
    assert report.status == "scored", report.reason
    assert report.metrics["bits_per_char"] == pytest.approx(-math.log2(0.9), rel=1e-5)


def test_uniform_next_char_model_scores_log2_v(graded, tmp_path):
    source = f"import numpy as np\ndef step(c):\n    return np.zeros((len(c), {V}))\n"
    report = graded("lab1-music", entry(tmp_path, source))
    assert report.metrics["bits_per_char"] == pytest.approx(math.log2(V), rel=1e-6)
    assert "abc_validity" not in report.metrics


def test_a_model_written_to_peek_finds_no_next_character(graded, tmp_path):
    # It only ever holds the characters it has answered for, so at each position its "next
    # character" is the current one: always wrong here (next = current + 1).
    report = graded("lab1-music", entry(tmp_path, PEEKS))
    assert report.status == "scored", report.reason
    assert report.metrics["bits_per_char"] > math.log2(V)


def test_next_char_wrong_vocabulary_size_is_invalid(graded, tmp_path):
    source = f"import numpy as np\ndef step(c):\n    return np.zeros((len(c), {V + 1}))\n"
    report = graded("lab1-music", entry(tmp_path, source))
    assert report.status == "invalid_output" and "vocabulary of 6" in report.reason
    assert f"shape [8, {V + 1}]" in report.reason


def test_a_next_char_model_without_step_or_predict_fails(graded, tmp_path):
    report = graded("lab1-music", entry(tmp_path, "def act(observation):\n    return 0\n"))
    assert report.status == "failed" and "must define step(chars)" in report.reason


def test_heartbeats_while_the_sandbox_runs(graded, synth_hidden, tmp_path, monkeypatch):
    import grader.pipeline

    monkeypatch.setattr(grader.pipeline, "HEARTBEAT_S", 0.5)
    slow = PERFECT_MNIST.replace(
        "def predict(x):", "def predict(x):\n    __import__('time').sleep(2)"
    )
    events: list[str] = []
    report = grade(
        GradeRequest("lab2-mnist", entry(tmp_path, slow), hidden_dir=synth_hidden[0]),
        on_event=lambda kind, data: events.append(kind),
    )
    assert report.status == "scored"
    assert events[0] == "running" and events[-1] == "scoring"
    assert events.count("heartbeat") >= 2
