"""Grading runs in the worker: the real grader on the process backend, the state machine,
idempotent recording, cancellation, platform faults and the reaper."""

import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from submissions.models import Entry, GradingRun, Status
from submissions.services import intake, reaper, runs, worker
from submissions.services.runs import MAX_DELIVERIES
from tests.grader import hostile
from uploads import CONTROLLER, LEFT, upload
from windows import close_window, grade_private_split

CRASH = b"def act(observation):\n    raise RuntimeError('my policy is broken')\n"
SLOW = b"import time\n\ndef act(observation):\n    time.sleep(0.5)\n    return 0\n"


@pytest.fixture(autouse=True)
def _grading_settings(settings, tmp_path, hidden_dir):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.GRADER_HIDDEN_DIR = hidden_dir
    settings.GRADER_BACKEND = "process"


def _submit(user, lab, content=LEFT):
    entry = intake.entry_submit(user=user, lab=lab, upload=upload(content))
    return entry, entry.runs.get()


def test_a_scored_run_stores_its_intervals_and_outcomes_apart_from_details(enrolled, cartpole):
    _entry, run = _submit(enrolled, cartpole)
    assert worker.run_execute(run_id=run.pk, worker="w1") == "scored"
    close_window(cartpole)
    assert [r.status for r in grade_private_split()] == ["scored"]
    run.refresh_from_db()
    for split in ("public", "private"):
        low, high = run.split_intervals[split]["mean_return"]
        assert low <= run.split_metrics[split]["mean_return"] <= high
        assert run.outcomes[split]["n"] >= 1
    # The private split's per-episode outcomes are not in the details students may see.
    assert "outcomes" not in run.details and "intervals" not in run.details


def test_upload_flows_to_a_scored_result_with_receipt_and_email(
    enrolled, cartpole, mailoutbox, django_capture_on_commit_callbacks
):
    entry, run = _submit(enrolled, cartpole)
    with django_capture_on_commit_callbacks(execute=True):
        assert worker.run_execute(run_id=run.pk, worker="w1") == "scored"
    run.refresh_from_db()
    entry.refresh_from_db()
    assert entry.status == Status.SCORED and entry.counts_toward_quota
    assert 8 <= run.metrics["mean_return"] <= 11
    assert set(run.split_metrics) == {"public"}  # the private split waits for the window
    assert run.receipt["dataset_name"] == "lab3-cartpole-v1"
    assert run.receipt["lab_spec_hash"].startswith("sha256:")
    assert run.receipt["backend"] == "process"
    assert run.started_at <= run.scoring_at <= run.finished_at
    assert [e.to_status for e in run.events.all()] == ["queued", "running", "scoring", "scored"]
    assert run.deliveries == 1 and run.worker == "w1"
    entry.participant.refresh_from_db()
    assert entry.participant.standing_run == run  # what the leaderboard shows for the student
    assert len(mailoutbox) == 1 and "scored" in mailoutbox[0].subject.lower()
    assert mailoutbox[0].to == [enrolled.email]


def test_balancing_controller_scores_500(enrolled, cartpole):
    _, run = _submit(enrolled, cartpole, CONTROLLER)
    worker.run_execute(run_id=run.pk, worker="w1")
    run.refresh_from_db()
    assert run.status == Status.SCORED
    assert run.metrics["mean_return"] == 500


def test_a_crashing_entry_fails_with_its_reason_and_counts(enrolled, cartpole):
    entry, run = _submit(enrolled, cartpole, CRASH)
    assert worker.run_execute(run_id=run.pk, worker="w1") == "failed"
    run.refresh_from_db()
    assert "my policy is broken" in run.reason or "my policy is broken" in run.logs
    assert run.metrics == {}
    entry.refresh_from_db()
    assert entry.counts_toward_quota


def test_a_second_delivery_never_records_twice(enrolled, cartpole):
    _, run = _submit(enrolled, cartpole)
    assert worker.run_execute(run_id=run.pk, worker="w1") == "scored"
    assert worker.run_execute(run_id=run.pk, worker="w2") == "skipped"
    run.refresh_from_db()
    assert run.deliveries == 1 and run.worker == "w1"
    assert run.events.filter(to_status=Status.SCORED).count() == 1


def test_a_stale_claim_cannot_record(enrolled, cartpole):
    _, run = _submit(enrolled, cartpole)
    old_claim = worker.run_claim(run_id=run.pk, worker="w1")
    reaper.runs_reap(now=timezone.now() + reaper.HEARTBEAT_STALE + timedelta(seconds=1))
    run.refresh_from_db()
    assert run.status == Status.QUEUED and run.claim is None
    new_claim = worker.run_claim(run_id=run.pk, worker="w2")
    assert new_claim and new_claim != old_claim
    assert not runs.run_transition(run.pk, Status.SCORED, if_claim=old_claim)
    assert not worker.run_heartbeat(run_id=run.pk, claim=old_claim)
    assert runs.run_transition(run.pk, Status.SCORED, if_claim=new_claim)


@pytest.mark.parametrize(
    ("source", "target", "legal"),
    [
        (Status.QUEUED, Status.SCORED, False),
        (Status.QUEUED, Status.RUNNING, True),
        (Status.RUNNING, Status.SCORING, True),
        (Status.SCORED, Status.QUEUED, False),
        (Status.SCORED, Status.FAILED, False),
        (Status.CANCELLED, Status.RUNNING, False),
        (Status.ERROR, Status.QUEUED, False),
        (Status.SCORING, Status.TIMEOUT, True),
    ],
)
def test_only_legal_transitions_happen(enrolled, cartpole, source, target, legal):
    _, run = _submit(enrolled, cartpole)
    GradingRun.objects.filter(pk=run.pk).update(status=source)
    assert runs.run_transition(run.pk, target) is legal
    run.refresh_from_db()
    assert run.status == (target if legal else source)


def test_platform_fault_retries_then_errors_and_is_refunded(enrolled, cartpole, settings, tmp_path):
    settings.GRADER_HIDDEN_DIR = tmp_path / "no-hidden-data-here"
    entry, run = _submit(enrolled, cartpole)
    outcomes = [worker.run_execute(run_id=run.pk, worker="w1") for _ in range(MAX_DELIVERIES)]
    assert outcomes == ["retrying"] * (MAX_DELIVERIES - 1) + ["error"]
    run.refresh_from_db()
    entry.refresh_from_db()
    assert run.status == Status.ERROR
    assert "does not count" in run.reason
    assert not entry.counts_toward_quota


@pytest.mark.parametrize("backend", ["process", "docker"])
def test_outputs_that_would_crash_the_worker_are_the_entrys_fault(
    enrolled, cartpole, settings, tmp_path, backend
):
    # 1,500 nested folders in the output folder: the worker's collection and clean-up once
    # hit Python's recursion limit, so the run was re-queued, refunded as a platform fault
    # and left its workspaces behind (issue 15).
    if backend == "docker":
        from engines import require_docker_engine

        require_docker_engine()
    settings.GRADER_BACKEND = backend
    with hostile.private_tempdir() as workspaces:
        entry, run = _submit(enrolled, cartpole, hostile.NESTED_POLICY.encode())
        assert worker.run_execute(run_id=run.pk, worker="w1") == "invalid_output"
        left = hostile.leftovers(workspaces)
    run.refresh_from_db()
    entry.refresh_from_db()
    assert run.status == Status.INVALID_OUTPUT
    assert "nested more than 16 deep" in run.reason
    assert run.deliveries == 1  # not re-queued
    assert [e.to_status for e in run.events.all()] == ["queued", "running", "invalid_output"]
    assert entry.counts_toward_quota
    assert left == []


def test_reaper_requeues_a_silent_run_then_fails_it(enrolled, cartpole):
    entry, run = _submit(enrolled, cartpole)
    later = timezone.now() + reaper.HEARTBEAT_STALE + timedelta(seconds=1)
    for delivery in range(1, MAX_DELIVERIES + 1):
        assert worker.run_claim(run_id=run.pk, worker=f"w{delivery}")
        counts = reaper.runs_reap(now=later)
        run.refresh_from_db()
        if delivery < MAX_DELIVERIES:
            assert counts["requeued"] == 1 and run.status == Status.QUEUED
        else:
            assert counts["failed"] == 1 and run.status == Status.ERROR
    assert "stopped responding" in run.reason
    entry.refresh_from_db()
    assert not entry.counts_toward_quota


def test_reaper_leaves_a_healthy_run_alone_and_rerings_a_forgotten_queue(enrolled, cartpole):
    _, running = _submit(enrolled, cartpole)
    worker.run_claim(run_id=running.pk, worker="w1")
    _, waiting = _submit(enrolled, cartpole)
    assert reaper.runs_reap() == {"requeued": 0, "failed": 0, "reenqueued": 0}
    counts = reaper.runs_reap(now=timezone.now() + reaper.REDELIVER_QUEUED_AFTER * 2)
    assert counts["reenqueued"] == 1
    running.refresh_from_db()
    # The running one went silent too by then: it is re-queued, not lost.
    assert running.status == Status.QUEUED


def test_regrade_makes_a_new_run_and_cancels_an_unfinished_one(enrolled, cartpole, staff):
    entry, first = _submit(enrolled, cartpole)
    second = runs.entry_regrade(entry=entry, by=staff)
    entry.participant.refresh_from_db()
    assert entry.participant.standing_run is None
    first.refresh_from_db()
    assert first.status == Status.CANCELLED
    assert second.status == Status.QUEUED and second.requested_by == staff
    worker.run_execute(run_id=second.pk, worker="w1")
    entry.refresh_from_db()
    assert entry.status == Status.SCORED
    entry.participant.refresh_from_db()
    assert entry.participant.standing_run == second
    assert runs.lab_regrade_all(lab=cartpole, by=staff) == 1
    assert Entry.objects.get(pk=entry.pk).status == Status.QUEUED


@pytest.mark.django_db(transaction=True)
def test_staff_cancel_stops_a_running_sandbox(enrolled, cartpole, staff):
    entry, run = _submit(enrolled, cartpole, SLOW)
    outcome = {}
    thread = threading.Thread(
        target=lambda: outcome.setdefault("r", worker.run_execute(run_id=run.pk, worker="w1"))
    )
    started = time.monotonic()
    thread.start()
    while GradingRun.objects.get(pk=run.pk).status == Status.QUEUED:
        assert time.monotonic() - started < 30
        time.sleep(0.1)
    assert runs.run_cancel(run=GradingRun.objects.get(pk=run.pk), by=staff)
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert outcome["r"] in {"cancelled", "stale"}
    # A 10-episode run of a policy sleeping 0.5 s a step would take minutes.
    assert time.monotonic() - started < 30
    run.refresh_from_db()
    entry.refresh_from_db()
    assert run.status == Status.CANCELLED and not entry.counts_toward_quota


def test_an_entry_cannot_read_the_database_or_other_uploads(
    enrolled, other_student, cartpole, settings
):
    # The process sandbox shows an entry only what it needs, or refuses to grade: no skip.
    intake.entry_submit(user=other_student, lab=cartpole, upload=upload(CONTROLLER))
    database = Path(str(connection.settings_dict["NAME"]))
    snoop = (
        "import pathlib, sys\n"
        "files = 0\n"
        f"for root in ({str(settings.MEDIA_ROOT)!r}, {str(settings.VAR_DIR)!r}):\n"
        "    try:\n"
        "        files += sum(1 for p in pathlib.Path(root).rglob('*') if p.is_file())\n"
        "    except OSError:\n"
        "        pass\n"
        "read = []\n"
        f"for name in ({str(database)!r}, {str(settings.VAR_DIR / 'db.sqlite3')!r}):\n"
        "    try:\n"
        "        read.append(len(open(name, 'rb').read(100)))\n"
        "    except OSError:\n"
        "        pass\n"
        "print('SNOOP files', files, 'read', read, file=sys.stderr)\n"
        "def act(observation):\n"
        "    return 0\n"
    ).encode()
    _, run = _submit(enrolled, cartpole, snoop)
    worker.run_execute(run_id=run.pk, worker="w1")
    run.refresh_from_db()
    assert run.status == Status.SCORED, run.reason
    assert "SNOOP files 0 read []" in run.logs


def test_the_platform_grades_through_the_docker_sandbox(enrolled, cartpole, settings):
    from engines import require_docker_engine

    require_docker_engine()
    settings.GRADER_BACKEND = "docker"
    _, run = _submit(enrolled, cartpole, CONTROLLER)
    assert worker.run_execute(run_id=run.pk, worker="w1") == "scored"
    run.refresh_from_db()
    assert run.metrics["mean_return"] == 500
    assert run.receipt["backend"] == "docker"
    assert "@sha256:" in run.receipt["image_digest"]


def test_a_regrade_runs_on_the_pinned_image(enrolled, cartpole, settings, staff, monkeypatch):
    from engines import require_docker_engine

    require_docker_engine()
    settings.GRADER_BACKEND = "docker"
    entry, run = _submit(enrolled, cartpole, CONTROLLER)
    worker.run_execute(run_id=run.pk, worker="w1")
    run.refresh_from_db()
    pinned = run.receipt["image_digest"]
    # The worker's default image changes (here: to one that does not exist)...
    monkeypatch.setenv("GRADER_DOCKER_IMAGE", "labgrader-sandbox:no-such-tag")
    regrade = runs.entry_regrade(entry=entry, by=staff)
    assert regrade.pinned_image == pinned
    # ...and the re-grade still runs on the image that graded the entry before.
    assert worker.run_execute(run_id=regrade.pk, worker="w1") == "scored"
    regrade.refresh_from_db()
    assert regrade.receipt["image_digest"] == pinned
