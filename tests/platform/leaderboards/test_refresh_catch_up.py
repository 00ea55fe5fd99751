"""Red team: changes that never reach a lab's stored board.

The board is ranked again only when a change's on-commit callback queues a refresh and that
task runs to the end. When the last change of a lab (e.g. the final runs graded after the
deadline) loses its refresh (the broker refuses it, or the task fails part way) nothing
queues another: the board, which judging's finalists and the prizes read, stays stale for
good. Reference rows added or removed in the admin never queue a refresh at all."""

import pytest
from django.db import OperationalError
from django.urls import reverse

from config.celery import app
from factories import EntryFactory, GradingRunFactory, UserFactory, scored_entry
from leaderboards import services
from leaderboards.models import BoardRow, LeaderboardBaseline
from leaderboards.services import baseline_mark
from leaderboards.tasks import refresh_board
from submissions.models import Status
from submissions.services.runs import run_transition
from submissions.splits import PUBLIC

pytestmark = pytest.mark.django_db


def _board(lab) -> dict[str, int | None]:
    return {r.key: r.rank for r in BoardRow.objects.filter(lab=lab, split=PUBLIC)}


def _record_scored(user, lab, accuracy: float) -> None:
    run = GradingRunFactory(entry=EntryFactory(user=user, lab=lab), status=Status.SCORING)
    scores = {"accuracy": accuracy}
    assert run_transition(
        run.pk, Status.SCORED, metrics=scores, split_metrics={"public": scores, "private": {}}
    )


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
