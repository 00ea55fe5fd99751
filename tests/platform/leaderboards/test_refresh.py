"""A lab's board is ranked again after the change that moved its standings commits, in one
task on the site queue per burst of changes: never inside the transaction that recorded a
run (the end-to-end path, with real workers, is in submissions/test_worker.py)."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import redis
from django.utils import timezone

from celery_helpers import use_broker
from config.celery import app
from factories import EntryFactory, GradingRunFactory, UserFactory, scored_entry
from leaderboards.models import BoardRow, BoardState
from leaderboards.services import REFRESH_LOST_AFTER, board_refresh_queued, board_refresh_request
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
