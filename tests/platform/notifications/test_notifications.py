"""Email people expect: reminders once per person per deadline, unsubscribe, invitations,
pitch sign-up confirmations."""

from datetime import timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from courses.models import Extension
from factories import (
    EnrollmentFactory,
    LabFactory,
    ProjectGroupFactory,
    ProjectSettingsFactory,
    scored_entry,
)
from notifications.models import ReminderOptOut, SentEmail
from notifications.services import reminders_send, unsubscribe_token
from projects import services as projects

pytestmark = pytest.mark.django_db


@pytest.fixture
def lab_due_tomorrow(edition, student, other_student):
    EnrollmentFactory(edition=edition, user=student)
    EnrollmentFactory(edition=edition, user=other_student)
    now = timezone.now()
    return LabFactory(
        edition=edition,
        spec_id="lab2-mnist",  # a real spec: entries can be scored in it
        opens_at=now - timedelta(days=3),
        closes_at=now + timedelta(hours=20),
    )


def test_reminder_goes_once_per_person_per_deadline(lab_due_tomorrow, student):
    assert reminders_send() == 2
    assert reminders_send() == 0  # the beat runs again: nobody is reminded twice
    assert {m.to[0] for m in mail.outbox} == {"stu@example.edu", "stu2@example.edu"}
    message = mail.outbox[0]
    assert "Due tomorrow" in message.subject and lab_due_tomorrow.title in message.body
    assert message.extra_headers["List-Unsubscribe"].startswith("<http")
    # Moving the deadline is a new deadline: one new reminder each.
    lab_due_tomorrow.closes_at += timedelta(hours=2)
    lab_due_tomorrow.save()
    assert reminders_send() == 2
    assert SentEmail.objects.filter(user=student, kind="reminder").count() == 2


def test_no_reminder_outside_the_last_day(lab_due_tomorrow):
    lab_due_tomorrow.closes_at = timezone.now() + timedelta(days=2)
    lab_due_tomorrow.save()
    assert reminders_send() == 0
    assert reminders_send(now=timezone.now() + timedelta(days=1, hours=1)) == 2
    assert reminders_send(now=timezone.now() + timedelta(days=3)) == 0  # past: nothing


def test_project_deadlines_are_reminded(edition, student):
    EnrollmentFactory(edition=edition, user=student)
    ProjectSettingsFactory(edition=edition, signup_deadline=timezone.now() + timedelta(hours=5))
    assert reminders_send() == 1
    assert "pitch sign-up" in mail.outbox[0].subject


def test_a_failed_send_is_retried_by_the_next_run(lab_due_tomorrow, settings, monkeypatch):
    from django.core.mail import EmailMessage

    def broken(self, fail_silently=False):
        raise ConnectionRefusedError("smtp down")

    monkeypatch.setattr(EmailMessage, "send", broken)
    assert reminders_send() == 0
    assert not SentEmail.objects.exists()
    monkeypatch.undo()
    assert reminders_send() == 2


def test_unsubscribe_link_stops_reminders_only_after_confirming(client, lab_due_tomorrow, student):
    url = reverse("reminders-unsubscribe", args=[unsubscribe_token(student)])
    assert client.get(url).status_code == 200
    assert not ReminderOptOut.objects.exists()  # a link scanner's GET changes nothing
    response = client.post(url)
    assert b"no more deadline reminders" in response.content
    assert reminders_send() == 1
    assert mail.outbox[0].to == ["stu2@example.edu"]
    forged = reverse("reminders-unsubscribe", args=[unsubscribe_token(student)[:-2] + "xx"])
    assert client.post(forged).status_code == 404


def test_group_invitation_and_pitch_signup_are_emailed(
    edition, student, other_student, django_capture_on_commit_callbacks
):
    ProjectSettingsFactory(edition=edition)
    with django_capture_on_commit_callbacks(execute=True):
        group = projects.group_create(edition=edition, user=student, name="Neural Nets")
        invitation = projects.invitation_create(group=group, inviter=student, username="stu2")
    [invite] = mail.outbox
    assert invite.to == ["stu2@example.edu"] and "Neural Nets" in invite.subject
    with django_capture_on_commit_callbacks(execute=True):
        projects.invitation_accept(invitation=invitation, user=other_student)
        projects.pitch_signup(group=group, user=student, title="Tiny transformers")
    confirmations = [m for m in mail.outbox if "signed up to pitch" in m.subject]
    assert sorted(m.to[0] for m in confirmations) == ["stu2@example.edu", "stu@example.edu"]
    # Changing the title re-saves the sign-up; nobody is told twice.
    with django_capture_on_commit_callbacks(execute=True):
        projects.pitch_signup(group=group, user=student, title="Tinier transformers")
    assert len([m for m in mail.outbox if "signed up to pitch" in m.subject]) == 2


def test_a_student_with_a_scored_entry_is_not_reminded(lab_due_tomorrow, student):
    scored_entry(student, lab_due_tomorrow, {"accuracy": 0.5})
    assert reminders_send() == 1
    assert mail.outbox[0].to == ["stu2@example.edu"]


def test_an_extension_moves_the_reminder_to_the_students_own_deadline(
    lab_due_tomorrow, student, staff
):
    own = lab_due_tomorrow.closes_at + timedelta(days=3)
    Extension.objects.create(
        edition=lab_due_tomorrow.edition,
        lab=lab_due_tomorrow,
        user=student,
        closes_at=own,
        reason="illness",
        granted_by=staff,
    )
    assert reminders_send() == 1  # the others' deadline is tomorrow; not this student's
    assert mail.outbox[0].to == ["stu2@example.edu"]
    assert reminders_send(now=own - timedelta(hours=3)) == 1
    assert mail.outbox[1].to == ["stu@example.edu"]
    assert lab_due_tomorrow.edition.format_time(own) in mail.outbox[1].body


def test_project_reminders_skip_who_has_signed_up_or_sent_slides(edition, student, other_student):
    for user in (student, other_student):
        EnrollmentFactory(edition=edition, user=user)
    soon = timezone.now() + timedelta(hours=5)
    ProjectSettingsFactory(edition=edition, signup_deadline=soon, slides_deadline=soon)
    ProjectGroupFactory(edition=edition, members=[student], slides_url="https://example.edu/s")
    ProjectGroupFactory(edition=edition, members=[other_student])
    loner = EnrollmentFactory(edition=edition).user  # in no group yet
    assert reminders_send() == 2
    sent = sorted((m.to[0], m.subject.removeprefix("[6.S191] Due tomorrow: ")) for m in mail.outbox)
    # In a signed-up group with slides: reminded of nothing; signed up without slides: of
    # the slides only; in no group: of the sign-up only.
    assert sent == sorted(
        [(loner.email, "Final project pitch sign-up"), ("stu2@example.edu", "Final project slides")]
    )
