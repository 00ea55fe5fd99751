"""The private split is evaluated after each author's window: an upload is graded on the
public split only; once the student's own window (the lab's deadline or their extension) has
closed, the beat queues one private run for the run that counts for them, and its verdict is
recorded in that public run. The reveal waits for every result (docs/private-split.md)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from awards.timeline import edition_timeline
from courses.models import Extension
from leaderboards.models import BoardRow
from leaderboards.services import LeaderboardRefused, board_refresh, lab_private_reveal
from submissions.models import Entry, GradingRun, Status
from submissions.selectors import MAX_PRIVATE_TRIES, lab_private_progress
from submissions.services import intake, private, runs, worker
from submissions.standing import standings_changed
from tests.grader.private_split import misbehaves_in_private
from uploads import CONTROLLER, LEFT, upload
from windows import close_window, grade_private_split


@pytest.fixture(autouse=True)
def _grading_settings(settings, tmp_path, hidden_dir):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.GRADER_HIDDEN_DIR = hidden_dir
    settings.GRADER_BACKEND = "process"


def _graded(user, lab, content=LEFT) -> GradingRun:
    entry = intake.entry_submit(user=user, lab=lab, upload=upload(content))
    run = entry.runs.get()
    assert worker.run_execute(run_id=run.pk, worker="w1") == "scored"
    run.refresh_from_db()
    return run


def test_while_the_window_is_open_an_entry_meets_only_the_public_split(enrolled, cartpole):
    run = _graded(enrolled, cartpole)
    assert set(run.split_metrics) == set(run.split_intervals) == {"public"}
    assert set(run.details["returns"]) == {"public"}
    assert private.private_runs_queue() == 0
    assert not GradingRun.objects.filter(split="private").exists()


def test_after_the_window_only_the_counted_entry_meets_the_private_split_once(enrolled, cartpole):
    weak = _graded(enrolled, cartpole, LEFT)
    strong = _graded(enrolled, cartpole, CONTROLLER)  # the best public score counts
    close_window(cartpole)
    (private_run,) = grade_private_split()
    assert private_run.public_run_id == strong.pk and private_run.split == "private"
    assert private_run.status == Status.SCORED
    assert private.private_runs_queue() == 0  # nothing is owed any more
    strong.refresh_from_db()
    assert strong.split_metrics["private"]["mean_return"] == 500
    assert set(strong.split_intervals) == set(strong.outcomes) == {"public", "private"}
    assert set(strong.details["returns"]) == {"public", "private"}
    assert strong.private_session["status"] == "scored"
    assert strong.private_session["run"] == private_run.pk
    assert not weak.private_runs.exists()


def test_an_extension_holds_the_private_run_until_the_student_s_own_window_closes(
    enrolled, other_student, cartpole, staff
):
    mine = _graded(enrolled, cartpole)
    theirs = _graded(other_student, cartpole)
    close_window(cartpole)
    extension = Extension.objects.create(
        edition=cartpole.edition,
        lab=cartpole,
        step=Extension.Step.LAB,
        user=enrolled,
        closes_at=timezone.now() + timedelta(hours=1),
        reason="illness",
        granted_by=staff,
    )
    assert [r.public_run_id for r in grade_private_split()] == [theirs.pk]
    assert lab_private_progress(cartpole).due == 1  # the extended student is not due yet
    Extension.objects.filter(pk=extension.pk).update(
        closes_at=timezone.now() - timedelta(seconds=1)
    )
    assert [r.public_run_id for r in grade_private_split()] == [mine.pk]


def test_a_private_verdict_moves_neither_the_entry_nor_its_quota_and_sends_no_email(
    enrolled, cartpole, hidden_dir, mailoutbox, django_capture_on_commit_callbacks
):
    import json

    seeds = json.loads((hidden_dir / "lab3-cartpole-v1/labels/seeds.json").read_text())
    source = misbehaves_in_private("raises", tuple(seeds["public"])).encode()
    with django_capture_on_commit_callbacks(execute=True):
        run = _graded(enrolled, cartpole, source)
        close_window(cartpole)
        (private_run,) = grade_private_split()
    assert private_run.status == Status.FAILED
    assert len(mailoutbox) == 1  # the public run's, sent while the window was open
    entry = Entry.objects.get(pk=run.entry_id)
    assert entry.status == Status.SCORED and entry.counts_toward_quota
    run.refresh_from_db()
    assert set(run.split_metrics) == {"public"}  # unscored on the private board
    assert run.private_session["status"] == "failed"
    assert "PRIVATE SPLIT SEEN" in run.private_session["logs"] + run.private_session["reason"]
    assert lab_private_progress(cartpole).complete  # a verdict is a result


def test_the_board_is_ranked_again_when_a_private_result_comes_in(enrolled, cartpole):
    run = _graded(enrolled, cartpole, CONTROLLER)
    close_window(cartpole)
    told = []

    def receiver(lab, **_):
        told.append(lab.pk)

    standings_changed.connect(receiver)
    try:
        grade_private_split()
    finally:
        standings_changed.disconnect(receiver)
    assert told == [cartpole.pk]
    board_refresh(lab=cartpole)
    row = BoardRow.objects.get(lab=cartpole, split="private", user_id=enrolled.pk)
    assert row.entry_id == run.entry_id and row.metrics["mean_return"] == 500


def test_the_reveal_waits_for_every_private_result(enrolled, other_student, cartpole, staff):
    _graded(enrolled, cartpole)
    _graded(other_student, cartpole)
    close_window(cartpole)
    with pytest.raises(LeaderboardRefused, match="0 of 2 counted entries"):
        lab_private_reveal(lab=cartpole, by=staff)
    timeline = edition_timeline(cartpole.edition)
    assert any("private evaluation 0 of 2" in b for b in timeline[0].blockers)
    grade_private_split()
    lab_private_reveal(lab=cartpole, by=staff)
    cartpole.refresh_from_db()
    assert cartpole.private_revealed


def test_refunded_private_runs_are_tried_again_then_left_to_staff(enrolled, cartpole):
    _graded(enrolled, cartpole)
    close_window(cartpole)
    for _ in range(MAX_PRIVATE_TRIES):
        assert private.private_runs_queue() == 1
        queued = GradingRun.objects.get(split="private", status=Status.QUEUED)
        assert runs.run_transition(queued.pk, Status.ERROR, note="a platform fault")
    assert private.private_runs_queue() == 0
    progress = lab_private_progress(cartpole)
    assert (progress.done, progress.due, progress.stuck) == (0, 1, 1)
    (row,) = [r for r in edition_timeline(cartpole.edition) if r.name == cartpole.title]
    assert any(f"failed on our side {MAX_PRIVATE_TRIES} times" in b for b in row.blockers)


def test_a_re_grade_after_the_window_meets_the_private_split_again(enrolled, cartpole, staff):
    first = _graded(enrolled, cartpole)
    close_window(cartpole)
    grade_private_split()
    again = runs.entry_regrade(entry=first.entry, by=staff)
    assert worker.run_execute(run_id=again.pk, worker="w1") == "scored"
    (private_run,) = grade_private_split()
    assert private_run.public_run_id == again.pk


def test_staff_entries_meet_the_private_split_at_once(staff, cartpole):
    reference = _graded(staff, cartpole)  # the lab is still open
    (private_run,) = grade_private_split()
    assert private_run.public_run_id == reference.pk
    reference.refresh_from_db()
    assert "private" in reference.split_metrics
