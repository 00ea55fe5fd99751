"""Lab 1 stepped by the worker (grader/stepwise.py), end to end on the process backend.

The worker sends each row's next character only once the entry has answered for the one
before, and scores every answer itself. Before, an entry got the whole text (tokens.npy) and
a second, cut run checked that it did not look ahead: a red team beat it with float
overflow (+-1e308 logits turned the comparison into NaN) and with a relay between the two
runs (issue 25). The Docker twins are in tests/sandboxes/docker/test_stepwise.py.
"""

from __future__ import annotations

import math
import uuid
from pathlib import Path

import numpy as np
import pytest

import grader.stepwise
from grader import protocol as P
from grader.pipeline import GradeRequest, grade
from tests.grader import synth


def music(synth_hidden) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The synthetic music set's tokens, targets, split and `real` rows."""
    folder = synth_hidden[0] / "lab1-music-v1"
    tokens = np.load(folder / "inputs" / "tokens.npy")
    with np.load(folder / "labels" / "labels.npz") as npz:
        return tokens, npz["targets"], npz["split"], npz["real"]


def log_events(log: str, kinds: tuple[str, ...]) -> list[str]:
    return [line for line in log.splitlines() if line.split(" ", 1)[0] in kinds]


def received_rows(events: list[str]) -> list[np.ndarray]:
    """Per START in the log: the characters of each row in the order the entry got them."""
    batches: list[list[list[int]]] = []
    for line in events:
        if line.startswith("START"):
            batches.append([])
        elif line.startswith("GOT"):
            batches[-1].append([int(c) for c in line.split(" ", 1)[1].split(",")])
    return [np.array(b).T for b in batches]


@pytest.mark.parametrize("rows_per_batch", [1024, 3])
def test_an_entry_that_logs_everything_got_only_characters_it_had_answered_for(
    graded, synth_hidden, tmp_path, monkeypatch, rows_per_batch
):
    monkeypatch.setattr(grader.stepwise, "ROWS_PER_BATCH", rows_per_batch)
    tokens, targets, _split, real = music(synth_hidden)
    entry = synth.write_entry(tmp_path / "e", synth.logging_entry(synth.MUSIC_V))
    report = graded("lab1-music", entry)
    assert report.status == "scored", report.reason + report.logs[-2000:]
    # Nothing that holds the text is anywhere it can look: only its own files and the
    # vocabulary are in the folders it is given.
    assert log_events(report.logs, ("FOUND",)) == []
    files = {tuple(line.split()[1:]) for line in log_events(report.logs, ("FILE",))}
    assert files == {("SANDBOX_ENTRY", "submission.py"), ("SANDBOX_INPUTS", "vocab.json")}
    # Each character came only after the answer for the one before it: the log is the
    # entry's own, in the order it happened.
    events = log_events(report.logs, ("START", "GOT", "ANSWERED"))
    expected_starts = [8] if rows_per_batch > 8 else [3, 3, 2]
    steps = ["GOT", "ANSWERED"] * synth.MUSIC_T
    assert [e.split()[0] for e in events] == [
        kind for size in expected_starts for kind in ["START", *steps]
    ]
    assert [int(e.split()[1]) for e in events if e.startswith("START")] == expected_starts
    got = sorted_rows(np.concatenate(received_rows(events)))
    # Exactly the scored rows (never the unscored ones), character by character: at step t
    # it held characters 0..t and nothing after them.
    assert (got == sorted_rows(tokens[real])).all()
    shifted = np.concatenate([tokens[real][:, :1], targets[real][:, :-1]], axis=1)
    assert (got == sorted_rows(shifted)).all()


def sorted_rows(rows: np.ndarray) -> np.ndarray:
    """The rows in one canonical order: the entry gets them in a secret one."""
    return rows[np.lexsort(rows.T[::-1])]


def test_rows_come_in_a_secret_order_fresh_each_session(graded, synth_hidden, tmp_path):
    # A row's last target is the next window's first character: were the rows in the set's
    # order, the entry would know it from the next row's first step.
    tokens, _targets, _split, real = music(synth_hidden)
    entry = synth.write_entry(tmp_path / "e", synth.logging_entry(synth.MUSIC_V))
    orders = []
    for _ in range(2):
        report = graded("lab1-music", entry)
        got = np.concatenate(received_rows(log_events(report.logs, ("START", "GOT"))))
        orders.append(got.tobytes())
        assert (sorted_rows(got) == sorted_rows(tokens[real])).all()
    # 8 rows: one order in 40,320 for each session, so both matching the set's is 1 in 1.6e9.
    assert tokens[real].tobytes() not in orders or orders[0] != orders[1]


def test_the_worker_steps_only_the_rows_of_the_graded_split(graded, synth_hidden, tmp_path):
    tokens, _targets, split, real = music(synth_hidden)
    entry = synth.write_entry(tmp_path / "e", synth.logging_entry(synth.MUSIC_V))
    for name, value in (("public", 0), ("private", 1)):
        report = graded("lab1-music", entry, splits=(name,))
        assert report.status == "scored", report.reason
        got = np.concatenate(received_rows(log_events(report.logs, ("START", "GOT"))))
        assert (sorted_rows(got) == sorted_rows(tokens[real & (split == value)])).all()
        assert set(report.split_metrics) == {name} == set(report.details["intervals"])


def test_a_step_that_never_answers_is_a_timeout(graded, tmp_path, monkeypatch):
    monkeypatch.setattr(grader.stepwise, "STEP_TIMEOUT_S", 2.0)
    source = "import time\ndef step(chars):\n    time.sleep(3600)\n"
    report = graded("lab1-music", synth.write_entry(tmp_path / "e", source))
    assert report.status == "timeout" and "did not answer within 2 s" in report.reason
    assert "at character 1 of rows 1-8 of the session" in report.reason


def test_a_step_that_raises_fails_with_its_error(graded, tmp_path):
    source = "def step(chars):\n    raise ValueError('my model is broken')\n"
    report = graded("lab1-music", synth.write_entry(tmp_path / "e", source))
    assert report.status == "failed" and "my model is broken" in report.reason


def test_batch_rows_fit_a_frame_and_the_entry(monkeypatch):
    assert grader.stepwise.batch_rows(83, 0) == grader.stepwise.ROWS_PER_BATCH
    assert grader.stepwise.batch_rows(83, 16) == 16  # a model that steps 16 rows at most
    huge = grader.stepwise.batch_rows(100_000, 0)
    assert 1 <= huge and huge * 100_000 * 8 <= P.MAX_FRAME
    assert grader.stepwise.entry_max_batch(b"") == 0
    assert grader.stepwise.entry_max_batch(b"garbage") == 0


# ------------------------------------------------------------------------ hostile entries


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return synth.hostile_music(tmp_path_factory.mktemp("hostile-music"))


@pytest.fixture
def grade_hostile(hostile, monkeypatch: pytest.MonkeyPatch, tmp_path):
    hidden, specs = hostile
    monkeypatch.setenv("GRADER_SPECS_DIR", str(specs))

    def run(source: str, name: str = "e"):
        entry = synth.write_entry(tmp_path / name, source)
        return grade(GradeRequest("lab1-music", entry, hidden_dir=hidden))

    return run


def test_the_best_causal_model_scores_what_the_set_allows(grade_hostile):
    report = grade_hostile(synth.HONEST_PAIRS)
    assert report.status == "scored", report.reason
    assert report.metrics["bits_per_char"] == pytest.approx(synth.BEST_CAUSAL_BITS, abs=1e-3)


NON_FINITE = "not a finite number"
EXTREMES = {
    # The red team's answer: float64 one-hot logits of +-1e308 (on the copy when known, else
    # on a guess). Before, 0.064 bits per character; now its wrong guesses get probability 0.
    "one_hot_1e308": (synth.extreme_pairs("1e308", "-1e308", "float64"), NON_FINITE),
    "nan": (synth.extreme_pairs("np.nan", "np.nan", "float64"), NON_FINITE),
    "plus_inf": (synth.extreme_pairs("np.inf", "0.0", "float64"), NON_FINITE),
    "minus_inf_elsewhere": (synth.extreme_pairs("0.0", "-np.inf", "float64"), NON_FINITE),
    "float16_inf": (synth.extreme_pairs("np.inf", "-np.inf", "float16"), NON_FINITE),
    # Finite but absurd: scored, far worse than the honest model.
    "float16_max": (synth.extreme_pairs("65504", "-65504", "float16"), None),
    "float32_max": (synth.extreme_pairs("3.4e38", "-3.4e38", "float32"), None),
    "one_hot_1e300": (synth.extreme_pairs("1e300", "-1e300", "float64"), None),
    "float64_max_everywhere": (synth.extreme_pairs("1.7e308", "1.7e308", "float64"), None),
    "subnormal": (synth.extreme_pairs("5e-324", "0.0", "float64"), None),
    # 1e308 only where it is sure (the copies): exactly as good as the honest model.
    "one_hot_1e308_when_sure": (
        synth.extreme_pairs("1e308", "-1e308", "float64", guess_everywhere=False),
        None,
    ),
    # The old trick's file is never read: only the answers count.
    "writes_logprobs_file": (synth.WRITES_LOGPROBS_FILE, None),
}


@pytest.mark.parametrize("name", sorted(EXTREMES))
def test_extreme_numbers_never_score_better_than_an_honest_model(grade_hostile, name):
    source, refused = EXTREMES[name]
    report = grade_hostile(source)
    if refused is not None:
        assert report.status == "invalid_output", (report.status, report.metrics)
        assert refused in report.reason and report.metrics == {}
    else:
        assert report.status == "scored", report.reason
        for metrics in (report.metrics, *report.split_metrics.values()):
            assert math.isfinite(metrics["bits_per_char"])
            assert metrics["bits_per_char"] >= synth.BEST_CAUSAL_BITS - 1e-3


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ("np.zeros((len(chars), V + 1))", "shape [1000, 9]"),
        ("np.zeros((len(chars) - 1, V))", "shape [999, 8]"),
        ("np.zeros(V)", "shape [8]"),
        ("np.array(['a'] * V)", "numbers"),
    ],
)
def test_answers_of_the_wrong_shape_or_type_are_invalid(grade_hostile, answer, reason):
    report = grade_hostile(f"import numpy as np\nV = 8\ndef step(chars):\n    return {answer}\n")
    assert report.status in ("invalid_output", "failed"), report.reason
    assert reason in report.reason and report.metrics == {}


def test_rows_stashed_by_one_grading_do_not_reach_the_next(grade_hostile):
    """Graded twice, an entry that stashed every row it was given in host-wide folders (/tmp,
    /dev/shm) could answer the second grading from the stash. Each run has its own."""
    stash = f"stepwise-smuggle-{uuid.uuid4().hex}.npy"
    try:
        first = grade_hostile(synth.smuggler(stash), "first")
        second = grade_hostile(synth.smuggler(stash), "second")
    finally:
        for folder in ("/tmp", "/dev/shm"):  # noqa: S108 - the smuggler's own files
            Path(folder, stash).unlink(missing_ok=True)
    for report in (first, second):
        assert report.status == "scored", report.reason
        assert "STASH none" in report.logs
    assert second.metrics["bits_per_char"] == pytest.approx(first.metrics["bits_per_char"])
    assert second.metrics["bits_per_char"] >= synth.BEST_CAUSAL_BITS - 1e-3
