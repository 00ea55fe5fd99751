"""A lab's board is ranked again after the change that moved its standings commits, in one
task on the site queue per burst of changes: never inside the transaction that recorded a
run (the end-to-end path, with real workers, is in submissions/test_worker.py). A change
whose refresh was lost (a broker refusal, a task failing part way) is caught up by the
beat; reference rows changed in the admin reach the board too."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import redis
from django.db import OperationalError
from django.urls import reverse
from django.utils import timezone

from celery_helpers import use_broker
from config.celery import app
from factories import EntryFactory, GradingRunFactory, UserFactory, scored_entry
from leaderboards import services
from leaderboards.models import BoardRow, BoardState, LeaderboardBaseline
from leaderboards.services import (
    REFRESH_LOST_AFTER,
    baseline_mark,
    board_refresh_queued,
    board_refresh_request,
)
from leaderboards.tasks import refresh_board
from submissions.models import Status
from submissions.services.runs import run_transition
from submissions.splits import PUBLIC


def _board(lab) -> dict[str, int | None]:
    return {r.key: r.rank for r in BoardRow.objects.filter(lab=lab, split=PUBLIC)}


def _record_scored(user, lab, accuracy: float) -> None:
    """A run that a worker is scoring, recorded as the worker records it."""
    run = GradingRunFactory(entry=EntryFactory(user=user, lab=lab), status=Status.SCORING)
    scores = {"accuracy": accuracy}
    assert run_transition(
        run.pk, Status.SCORED, metrics=scores, split_metrics={"public": scores, "private": {}}
    )


def test_recording_a_run_ranks_the_board_only_after_the_commit(
    mnist, student, monkeypatch, django_capture_on_commit_callbacks
):
    scored_entry(student, mnist, {"accuracy": 50.0})
    other = UserFactory(role="student")
    with django_capture_on_commit_callbacks() as callbacks:
        _record_scored(other, mnist, 60.0)
        # Inside the recording transaction the board is as it was: nothing ranked there.
        assert _board(mnist) == {f"user:{student.pk}": 1}
    assert _board(mnist) == {f"user:{student.pk}": 1}
    assert callbacks, "the refresh must be queued when the transaction commits"

    # The committed change queues the task (run here, in this process, as a worker would).
    monkeypatch.setitem(app.conf, "task_always_eager", True)
    for callback in callbacks:
        callback()
    assert _board(mnist) == {f"user:{other.pk}": 1, f"user:{student.pk}": 2}
    state = BoardState.objects.get(lab=mnist)
    assert state.requested_at is None and state.built_at is not None


@pytest.mark.services
def test_a_burst_of_changes_queues_one_refresh_until_it_starts(mnist, shared_redis):
    queue = redis.Redis.from_url(shared_redis)
    assert [board_refresh_request(mnist.pk) for _ in range(5)] == [True] + [False] * 4
    assert queue.llen("site") == 1
    assert queue.llen("cpu") == 0  # never behind the grading runs

    # The task clears the mark before it reads: a change from then on queues another.
    board_refresh_queued(mnist.pk)
    assert BoardState.objects.get(lab=mnist).requested_at is None
    assert board_refresh_request(mnist.pk) is True
    assert queue.llen("site") == 2
    assert board_refresh_request(mnist.pk) is False


@pytest.mark.services
def test_a_refresh_queued_long_ago_and_never_started_is_queued_again(mnist, shared_redis):
    queue = redis.Redis.from_url(shared_redis)
    assert board_refresh_request(mnist.pk) is True
    queue.delete("site")  # the broker lost it (a restart without persistence)
    later = timezone.now() + REFRESH_LOST_AFTER + timedelta(seconds=1)
    assert board_refresh_request(mnist.pk, now=later) is True
    assert queue.llen("site") == 1


@pytest.mark.services
def test_a_broker_that_refuses_the_task_leaves_the_next_change_to_queue_it(mnist, shared_redis):
    use_broker("redis://127.0.0.1:1/0")  # nothing listens there
    assert board_refresh_request(mnist.pk) is False
    assert BoardState.objects.get(lab=mnist).requested_at is None
    use_broker(shared_redis)
    assert board_refresh_request(mnist.pk) is True
    assert redis.Redis.from_url(shared_redis).llen("site") == 1


def test_the_page_and_the_api_say_when_the_board_was_ranked(mnist, student, client_as, api_as):
    from django.urls import reverse

    scored_entry(student, mnist, {"accuracy": 50.0})
    built = BoardState.objects.get(lab=mnist).built_at
    data = api_as("student").get(reverse("api-leaderboard", args=["lab2-mnist"])).json()
    assert data["ranked_at"] is not None
    assert abs((datetime.fromisoformat(data["ranked_at"]) - built).total_seconds()) < 1
    page = client_as("student").get(reverse("leaderboard", args=[mnist.pk])).content.decode()
    zone = timezone.localtime(built, ZoneInfo(mnist.edition.time_zone)).tzname()
    assert f"Ranked {built.astimezone(ZoneInfo(mnist.edition.time_zone)):%b}" in page
    assert f"{zone}; a new score shows" in page


def _run_the_beat() -> None:
    """Every periodic task the deployment schedules, run once here (as the beat would)."""
    from django.conf import settings

    app.loader.import_default_modules()
    for entry in settings.CELERY_BEAT_SCHEDULE.values():
        app.tasks[entry["task"]].apply(args=entry.get("args", ()))


def test_a_change_whose_refresh_the_broker_refused_still_reaches_the_board(
    mnist, student, monkeypatch, django_capture_on_commit_callbacks
):
    scored_entry(student, mnist, {"accuracy": 50.0})
    late = UserFactory(role="student")

    def broker_down(*args, **kwargs):
        raise ConnectionError("broker restarting")

    monkeypatch.setattr(refresh_board, "apply_async", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        _record_scored(late, mnist, 60.0)  # the last run of the lab, recorded
    assert _board(mnist) == {f"user:{student.pk}": 1}  # stale, as expected for now

    # The broker is back; no student uploads again (the lab is over). The deployment's
    # periodic tasks run as they do every few minutes: the board must catch up.
    monkeypatch.undo()
    monkeypatch.setitem(app.conf, "task_always_eager", True)
    _run_the_beat()
    assert _board(mnist) == {f"user:{late.pk}": 1, f"user:{student.pk}": 2}


def test_a_refresh_that_fails_part_way_is_not_forgotten(
    mnist, student, monkeypatch, django_capture_on_commit_callbacks
):
    scored_entry(student, mnist, {"accuracy": 50.0})
    late = UserFactory(role="student")
    monkeypatch.setitem(app.conf, "task_always_eager", True)
    real = services.board_refresh
    calls = []

    def flaky(*, lab):
        calls.append(lab.pk)
        if len(calls) == 1:  # a dropped database connection, once
            raise OperationalError("server closed the connection unexpectedly")
        return real(lab=lab)

    monkeypatch.setattr(services, "board_refresh", flaky)
    with django_capture_on_commit_callbacks(execute=True):
        _record_scored(late, mnist, 60.0)
    assert calls == [mnist.pk]

    # The task cleared the lab's mark before it failed: nothing says the board is owed a
    # refresh. The periodic tasks (or a retry) must still bring it up to date.
    _run_the_beat()
    assert _board(mnist) == {f"user:{late.pk}": 1, f"user:{student.pk}": 2}


@pytest.fixture
def admin_client(client_as, staff):
    staff.is_staff = staff.is_superuser = True
    staff.save()
    return client_as("staff")


def test_a_reference_row_removed_in_the_admin_leaves_the_board(
    debias, student, staff, admin_client, monkeypatch, django_capture_on_commit_callbacks
):
    scored_entry(student, debias, {"mean_group_auc": 0.7, "worst_group_auc": 0.6})
    base = scored_entry(staff, debias, {"mean_group_auc": 0.8, "worst_group_auc": 0.7})
    baseline = baseline_mark(entry=base, label="Baseline", by=staff)
    assert BoardRow.objects.filter(lab=debias, is_reference=True).count() == 2  # both splits

    monkeypatch.setitem(app.conf, "task_always_eager", True)
    url = reverse("admin:leaderboards_leaderboardbaseline_delete", args=[baseline.pk])
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(url, {"post": "yes"})
    assert response.status_code == 302
    assert not LeaderboardBaseline.objects.exists()
    # The page and the API still show the deleted reference row.
    assert not BoardRow.objects.filter(lab=debias, is_reference=True).exists()


def test_a_reference_row_added_in_the_admin_reaches_the_board(
    debias, student, staff, admin_client, monkeypatch, django_capture_on_commit_callbacks
):
    scored_entry(student, debias, {"mean_group_auc": 0.7, "worst_group_auc": 0.6})
    base = scored_entry(staff, debias, {"mean_group_auc": 0.8, "worst_group_auc": 0.7})
    monkeypatch.setitem(app.conf, "task_always_eager", True)
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            reverse("admin:leaderboards_leaderboardbaseline_add"),
            {
                "lab": debias.pk,
                "entry": base.pk,
                "label": "Staff baseline",
                "marked_by": staff.pk,
                "marked_at_0": "2027-01-20",
                "marked_at_1": "10:00:00",
            },
        )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert LeaderboardBaseline.objects.count() == 1
    assert BoardRow.objects.filter(lab=debias, split=PUBLIC, is_reference=True).count() == 1
