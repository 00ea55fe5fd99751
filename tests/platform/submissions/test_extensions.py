"""Per-student deadlines (extensions) and the counted entry after the deadline (issue 12,
item 4): uploads, the final-entry choice and the private split follow the student's own
window."""

from datetime import timedelta

import pytest
from django.utils import timezone

from courses.models import EntrySelection
from courses.services import extension_grant, lab_deadline_move
from factories import scored_entry
from leaderboards.services import lab_private_reveal
from submissions.models import Participant
from submissions.services import intake
from submissions.services.intake import SubmissionRefused
from submissions.splits import sees_private
from uploads import upload

pytestmark = pytest.mark.django_db


def _close(lab, staff, ago=timedelta(minutes=1)):
    return lab_deadline_move(lab=lab, closes_at=timezone.now() - ago, by=staff)


def test_a_student_with_an_extension_may_upload_after_the_deadline(
    enrolled, other_student, cartpole, staff
):
    lab = _close(cartpole, staff)
    extension_grant(
        lab=lab, user=enrolled, closes_at=timezone.now() + timedelta(days=1), reason="flu", by=staff
    )
    assert intake.entry_submit(user=enrolled, lab=lab, upload=upload()).pk
    with pytest.raises(SubmissionRefused, match="late entries are not accepted"):
        intake.entry_submit(user=other_student, lab=lab, upload=upload())


def test_the_counted_entry_cannot_change_after_the_deadline(enrolled, cartpole, staff):
    """Item 4: after the lab closes (and after the reveal) 'make this my final entry' is
    refused with the date, and the standing does not move."""
    cartpole.selection = EntrySelection.FINAL
    cartpole.save()
    first = scored_entry(enrolled, cartpole, {"mean_return": 10.0}, {"mean_return": 5.0})
    second = scored_entry(enrolled, cartpole, {"mean_return": 9.0}, {"mean_return": 50.0})
    intake.entry_mark_final(user=enrolled, entry=first)
    lab = _close(cartpole, staff)
    lab_private_reveal(lab=lab, by=staff)
    with pytest.raises(SubmissionRefused, match="counted entry is fixed"):
        intake.entry_mark_final(user=enrolled, entry=second)
    participant = Participant.objects.get(lab=lab, user=enrolled)
    assert participant.final_entry_id == first.pk
    assert participant.standing_run.entry_id == first.pk


def test_extending_the_deadline_reopens_the_choice(enrolled, cartpole, staff):
    first = scored_entry(enrolled, cartpole, {"mean_return": 10.0})
    lab = _close(cartpole, staff)
    with pytest.raises(SubmissionRefused):
        intake.entry_mark_final(user=enrolled, entry=first)
    lab_deadline_move(lab=lab, closes_at=timezone.now() + timedelta(hours=1), by=staff)
    first.lab.refresh_from_db()
    intake.entry_mark_final(user=enrolled, entry=first)


def test_the_private_split_waits_for_each_students_own_window(
    enrolled, other_student, cartpole, staff
):
    lab = _close(cartpole, staff)
    until = timezone.now() + timedelta(days=1)
    extension_grant(lab=lab, user=enrolled, closes_at=until, reason="flu", by=staff)
    lab_private_reveal(lab=lab, by=staff)
    assert sees_private(other_student, lab)  # their window has closed
    assert not sees_private(enrolled, lab)  # can still upload: no private scores
    assert sees_private(enrolled, lab, until)


def test_the_lab_page_follows_the_students_own_window(client_as, enrolled, cartpole, staff):
    from django.urls import reverse

    lab = _close(cartpole, staff)
    page = client_as("student").get(reverse("lab-detail", args=[lab.pk])).content.decode()
    assert 'id="upload-form"' not in page and "late entries are not accepted" in page
    extension_grant(
        lab=lab, user=enrolled, closes_at=timezone.now() + timedelta(days=1), reason="flu", by=staff
    )
    page = client_as("student").get(reverse("lab-detail", args=[lab.pk])).content.decode()
    assert 'id="upload-form"' in page
