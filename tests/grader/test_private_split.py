"""Interactive labs: nothing the entry does in private episodes reaches the student's view.

Public episodes run in one sandbox session, private ones in a fresh session started after the
public one has ended; the report's `logs`, `status`, `reason` and receipt come from the public
session only, and everything about the private one is in `report.private_session` (the site shows it
to students after the reveal). Docker variants: tests/sandboxes/docker/test_private_logs.py.
"""

import pytest

from grader.report import Report
from tests.grader import synth
from tests.grader.private_split import (
    KNOWN_LINES_LOG,
    MISBEHAVIOURS,
    PRINTS_KNOWN_LINES,
    PRINTS_RETURNS,
    misbehaves_in_private,
    printed_returns,
)


def test_returns_printed_in_private_episodes_stay_out_of_the_log(graded, tmp_path):
    report = graded("lab3-cartpole", synth.write_entry(tmp_path / "e", PRINTS_RETURNS))
    assert report.status == "scored", report.reason
    public = [int(r) for r in report.details["returns"]["public"]]
    private = [int(r) for r in report.details["returns"]["private"]]
    assert len(public) == len(private) == 2
    # The student's log: the public episodes' returns and nothing else.
    assert printed_returns(report.logs) == public, report.logs
    assert f"ALL {public}" in report.logs
    # Staff (and the student after the reveal) read the private session's own log.
    assert report.private_session is not None and report.private_session.status == "scored"
    assert printed_returns(report.private_session.logs) == private, report.private_session.logs
    assert report.metrics["episodes"] == 4  # the whole-set figures are as before
    again = Report.from_dict(report.to_dict())
    assert again.private_session == report.private_session


@pytest.mark.parametrize("how", sorted(MISBEHAVIOURS))
def test_misbehaving_in_private_episodes_shows_the_public_result(graded, tmp_path, how):
    report = graded("lab3-cartpole", synth.write_entry(tmp_path / "e", misbehaves_in_private(how)))
    # What the student sees before the reveal is what an honest run shows.
    assert report.status == "scored", report.reason
    assert report.reason == ""
    assert "PRIVATE" not in report.logs
    assert set(report.split_metrics) == {"public"}
    assert report.split_metrics["public"]["episodes"] == 2
    assert report.metrics == {}  # no whole-set score without the private episodes
    # The private session's own record says what happened.
    assert report.private_session is not None
    assert report.private_session.status == ("timeout" if how == "hangs" else "failed")
    assert "PRIVATE SPLIT SEEN" in report.private_session.reason + report.private_session.logs


def test_the_log_holds_exactly_what_the_policy_printed(graded, tmp_path):
    report = graded("lab3-cartpole", synth.write_entry(tmp_path / "e", PRINTS_KNOWN_LINES))
    assert report.status == "scored", report.reason
    assert report.logs == KNOWN_LINES_LOG
    assert report.private_session is not None and report.private_session.logs == KNOWN_LINES_LOG


def test_a_failure_in_public_episodes_runs_no_private_session(graded, tmp_path):
    source = "def act(obs):\n    raise ValueError('broken policy')\n"
    report = graded("lab3-cartpole", synth.write_entry(tmp_path / "e", source))
    assert report.status == "failed" and "broken policy" in report.reason
    assert report.private_session is None


def test_the_cli_shows_staff_the_private_failure_and_the_public_scores(
    graded, synth_hidden, tmp_path, capsys
):
    from grader.cli import main

    entry = synth.write_entry(tmp_path / "e", misbehaves_in_private("raises"))
    assert (
        main(["grade", "--lab", "lab3-cartpole", str(entry), "--hidden-dir", str(synth_hidden[0])])
        == 0
    )
    out = capsys.readouterr().out
    assert "SCORED" in out and "public 2" in out  # the episodes played in public
    assert "private split: FAILED" in out and "PRIVATE SPLIT SEEN" in out


def test_a_batch_log_does_not_depend_on_the_split_or_the_labels(graded, tmp_path):
    """Batch labs need no separate private run: the sandbox sees inputs only, so what an entry
    prints is the same whatever the split assignment and the labels are (a guard: this held
    before too; see docs/private-split.md)."""
    import numpy as np

    source = """
import numpy as np
def predict(x):
    scores = np.eye(10, dtype=np.float32)[(np.rint(x[:, 0, 0, 0] * 10)).astype(int) % 10]
    print("rows", len(x), "mean", float(x.mean()), "first half", scores[: len(x) // 2].sum(0))
    return scores
"""
    entry = synth.write_entry(tmp_path / "e", source)
    reports = []
    for variant, (split_seed, label_shift) in enumerate([(0, 0), (1, 3)]):
        hidden = tmp_path / f"hidden{variant}"
        set_dir = hidden / "samples" / "lab2-mnist"
        synth.build_mnist(set_dir, n=20, seed=1)
        with np.load(set_dir / "labels" / "labels.npz") as npz:
            y = (npz["y"] + label_shift) % 10
        split = np.random.default_rng(split_seed).integers(0, 2, size=len(y)).astype(np.int8)
        np.savez(set_dir / "labels" / "labels.npz", y=y, split=split)
        reports.append(graded("lab2-mnist", entry, hidden_dir=hidden, sample=True))
    assert [r.status for r in reports] == ["scored", "scored"]
    assert reports[0].metrics != reports[1].metrics  # the labels did change the scores
    assert reports[0].logs == reports[1].logs and "rows 20" in reports[0].logs
    assert reports[0].private_session is None
