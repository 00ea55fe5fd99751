"""Docker: an interactive entry's logs hold exactly what it printed, and nothing it printed
during private episodes is in the student's log (process variants: tests/grader/
test_private_split.py)."""

from __future__ import annotations

import pytest

from tests.grader import synth
from tests.grader.private_split import (
    KNOWN_LINES_LOG,
    PRINTS_KNOWN_LINES,
    PRINTS_RETURNS,
    misbehaves_in_private,
    printed_returns,
)

pytestmark = [pytest.mark.docker]


def test_the_log_holds_exactly_what_the_policy_printed(grade_docker, no_leftovers, tmp_path):
    report = grade_docker("lab3-cartpole", synth.write_entry(tmp_path / "e", PRINTS_KNOWN_LINES))
    assert report.status == "scored", report.reason
    # No protocol frame (b"\x93NUMPY..." per step) and nothing lost to Docker's log rotation.
    assert "NUMPY" not in report.logs
    assert report.logs == KNOWN_LINES_LOG
    assert report.private_session is not None and report.private_session.logs == KNOWN_LINES_LOG
    no_leftovers()


def test_a_chatty_policy_is_logged_head_and_tail_and_still_scored(
    grade_docker, no_leftovers, tmp_path
):
    source = """
import sys
n = [0]
def act(obs):
    n[0] += 1
    print(f"step {n[0]} " + "x" * 2000, flush=True)
    print(f"err {n[0]}", file=sys.stderr, flush=True)
    return int(obs[2] + 0.5 * obs[3] > 0)
"""
    report = grade_docker("lab3-cartpole", synth.write_entry(tmp_path / "e", source))
    assert report.status == "scored", report.reason
    assert report.metrics["mean_return"] > 100
    assert "NUMPY" not in report.logs and "bytes cut" in report.logs
    assert report.logs.startswith("step 1 ") and len(report.logs.encode()) <= 70 * 1024
    no_leftovers()


def test_returns_printed_in_private_episodes_stay_out_of_the_log(
    grade_docker, no_leftovers, tmp_path
):
    report = grade_docker("lab3-cartpole", synth.write_entry(tmp_path / "e", PRINTS_RETURNS))
    assert report.status == "scored", report.reason
    public = [int(r) for r in report.details["returns"]["public"]]
    private = [int(r) for r in report.details["returns"]["private"]]
    assert printed_returns(report.logs) == public, report.logs
    assert (
        report.private_session is not None
        and printed_returns(report.private_session.logs) == private
    )
    no_leftovers()


def test_a_crash_in_private_episodes_shows_the_public_result(grade_docker, no_leftovers, tmp_path):
    entry = synth.write_entry(tmp_path / "e", misbehaves_in_private("raises"))
    report = grade_docker("lab3-cartpole", entry)
    assert report.status == "scored" and report.reason == "", report.reason
    assert "PRIVATE" not in report.logs and set(report.split_metrics) == {"public"}
    assert report.private_session is not None and report.private_session.status == "failed"
    assert "PRIVATE SPLIT SEEN" in report.private_session.reason
    no_leftovers()
