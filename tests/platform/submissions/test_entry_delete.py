"""Red team: staff remove an entry in the admin (e.g. a copied one). Its runs go with it and
the student's standing run is set to NULL by the database, not chosen again: their other
scored entry is ignored, standings_changed is never sent, and the board keeps showing the
removed entry's score."""

import pytest
from django.urls import reverse

from config.celery import app
from factories import scored_entry
from leaderboards.models import BoardRow
from submissions.models import Participant
from submissions.splits import PUBLIC

pytestmark = pytest.mark.django_db


def test_deleting_an_entry_in_the_admin_stands_the_next_one_and_ranks_the_board(
    mnist,
    student,
    other_student,
    staff,
    client_as,
    monkeypatch,
    django_capture_on_commit_callbacks,
):
    staff.is_staff = staff.is_superuser = True
    staff.save()
    copied = scored_entry(student, mnist, {"accuracy": 95.0})
    own = scored_entry(student, mnist, {"accuracy": 60.0})
    scored_entry(other_student, mnist, {"accuracy": 80.0})
    assert BoardRow.objects.get(lab=mnist, split=PUBLIC, user=student).rank == 1

    monkeypatch.setitem(app.conf, "task_always_eager", True)
    with django_capture_on_commit_callbacks(execute=True):
        response = client_as("staff").post(
            reverse("admin:submissions_entry_delete", args=[copied.pk]), {"post": "yes"}
        )
    assert response.status_code == 302

    participant = Participant.objects.get(lab=mnist, user=student)
    assert participant.standing_run is not None, "the student's other scored entry is ignored"
    assert participant.standing_run.entry_id == own.pk
    row = BoardRow.objects.get(lab=mnist, split=PUBLIC, user=student)
    assert (row.rank, row.metrics) == (2, {"accuracy": 60.0}), "the board shows the removed score"
