"""Per-student deadlines (extensions) and the counted entry after the deadline (issue 12,
item 4): uploads, the final-entry choice and the private split follow the student's own
window."""

from datetime import timedelta

import pytest
from django.utils import timezone

from courses.models import EntrySelection
from courses.services import extension_grant, lab_deadline_move
from factories import EnrollmentFactory, UserFactory, scored_entry
from leaderboards.services import lab_private_hide, lab_private_reveal
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


# --- no counted-entry change after the author could see the private split (issue 23) -----


def _revealed(cartpole, staff, enrolled, other_student):
    """A closed, revealed lab (selection: the entry marked final) where both students have
    two scored entries and chose the first; both have read their private scores."""
    cartpole.selection = EntrySelection.FINAL
    cartpole.save()
    entries = {}
    for student in (enrolled, other_student):
        first = scored_entry(student, cartpole, {"mean_return": 10.0}, {"mean_return": 5.0})
        second = scored_entry(student, cartpole, {"mean_return": 9.0}, {"mean_return": 50.0})
        intake.entry_mark_final(user=student, entry=first)
        entries[student.pk] = (first, second)
    lab = _close(cartpole, staff)
    lab_private_reveal(lab=lab, by=staff)
    assert sees_private(enrolled, lab) and sees_private(other_student, lab)
    return lab, entries


def test_no_extension_for_a_student_who_has_seen_the_private_split(
    enrolled, other_student, cartpole, staff
):
    """Before: staff granted it (accepted, 'until the prizes are announced') and the student
    chose their counted entry again, knowing the private scores."""
    from django.forms import modelform_factory

    from courses.admin import ExtensionForm
    from courses.models import Extension
    from courses.services import TimelineRefused

    lab, entries = _revealed(cartpole, staff, enrolled, other_student)
    until = timezone.now() + timedelta(days=1)
    with pytest.raises(TimelineRefused, match="already seen the private split of Lab 3"):
        extension_grant(lab=lab, user=enrolled, closes_at=until, reason="flu", by=staff)
    form = modelform_factory(Extension, form=ExtensionForm, fields="__all__")(
        data={
            "edition": lab.edition_id,
            "lab": lab.pk,
            "step": "lab",
            "user": enrolled.pk,
            "closes_at": until,
            "reason": "flu",
            "granted_by": staff.pk,
            "granted_at": timezone.now(),
        }
    )
    assert not form.is_valid() and "already seen the private split" in str(form.errors)
    with pytest.raises(SubmissionRefused, match="counted entry is fixed"):
        intake.entry_mark_final(user=enrolled, entry=entries[enrolled.pk][1])
    assert (
        Participant.objects.get(lab=lab, user=enrolled).final_entry_id == entries[enrolled.pk][0].pk
    )


def test_a_deadline_moved_later_after_the_reveal_stays_closed_to_whom_it_reached(
    enrolled, other_student, cartpole, staff
):
    lab, entries = _revealed(cartpole, staff, enrolled, other_student)
    # The reveal reached both students; staff move the deadline later: the lab reopens.
    lab = lab_deadline_move(lab=lab, closes_at=timezone.now() + timedelta(days=1), by=staff)
    assert not sees_private(enrolled, lab)
    for student in (enrolled, other_student):
        with pytest.raises(SubmissionRefused, match="seen the private split of Lab 3"):
            intake.entry_submit(user=student, lab=lab, upload=upload())
        with pytest.raises(SubmissionRefused, match="seen the private split of Lab 3"):
            intake.entry_mark_final(user=student, entry=entries[student.pk][1])
        participant = Participant.objects.get(lab=lab, user=student)
        assert participant.standing_run.entry_id == entries[student.pk][0].pk
    # Someone enrolled after the reveal ended never saw it: the reopened lab is theirs.
    newcomer = UserFactory(username="late")
    EnrollmentFactory(edition=lab.edition, user=newcomer)
    assert intake.entry_submit(user=newcomer, lab=lab, upload=upload()).pk


def test_a_reveal_withdrawn_is_not_unseen(enrolled, other_student, cartpole, staff):
    from courses.services import TimelineRefused

    lab, _ = _revealed(cartpole, staff, enrolled, other_student)
    lab_private_hide(lab=lab, by=staff)
    assert not sees_private(enrolled, lab)
    with pytest.raises(TimelineRefused, match="already seen the private split"):
        extension_grant(
            lab=lab,
            user=enrolled,
            closes_at=timezone.now() + timedelta(days=1),
            reason="flu",
            by=staff,
        )


def test_a_student_whose_extension_ran_through_the_reveal_keeps_their_window(
    enrolled, other_student, cartpole, staff
):
    lab = _close(cartpole, staff)
    until = timezone.now() + timedelta(days=1)
    extension_grant(lab=lab, user=enrolled, closes_at=until, reason="flu", by=staff)
    lab_private_reveal(lab=lab, by=staff)
    lab_private_hide(lab=lab, by=staff)
    # They never could see the private split: their extension may still move, and they upload.
    extension_grant(
        lab=lab, user=enrolled, closes_at=until + timedelta(days=1), reason="flu", by=staff
    )
    assert intake.entry_submit(user=enrolled, lab=lab, upload=upload()).pk
