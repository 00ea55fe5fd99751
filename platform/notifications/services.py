"""Email people expect: group invitations, pitch sign-up confirmations, deadline reminders.

Each email that must go out once is claimed in SentEmail first (unique per person and
subject), so a re-run beat, a retried task or two workers never send it twice; a failed send
gives the claim back so the next beat tries again.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core import signing
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from accounts.models import Role, User
from courses.models import Edition, Enrollment, Extension, Lab
from courses.phases import extended_deadlines
from projects.models import Membership, PaperReview, ProjectSettings
from submissions.models import Participant

from .models import ReminderOptOut, SentEmail

log = logging.getLogger(__name__)
REMIND_BEFORE = timedelta(days=1)
UNSUBSCRIBE_SALT = "notifications.reminders.unsubscribe"


def unsubscribe_token(user: User) -> str:
    return signing.dumps(user.pk, salt=UNSUBSCRIBE_SALT)


def unsubscribe_user(token: str) -> User | None:
    try:
        pk = signing.loads(token, salt=UNSUBSCRIBE_SALT)
    except signing.BadSignature:
        return None
    return User.objects.filter(pk=pk).first()


def unsubscribe_url(user: User) -> str:
    return settings.SITE_URL + reverse("reminders-unsubscribe", args=[unsubscribe_token(user)])


def send_once(user: User, kind: str, key: str, subject: str, body: str, headers=None) -> bool:
    """Send unless already sent; True when this call sent it."""
    if not user.email:
        return False
    try:
        with transaction.atomic():
            claim = SentEmail.objects.create(user=user, kind=kind, key=key)
    except IntegrityError:
        return False
    try:
        EmailMessage(f"[6.S191] {subject}", body, None, [user.email], headers=headers).send()
    except Exception:
        claim.delete()  # not sent: the next run tries again
        log.exception("email %s %s to user %s failed", kind, key, user.pk)
        return False
    return True


# --- deadline reminders ------------------------------------------------------------------


@dataclass
class Deadline:
    key: str  # what the reminder is about, e.g. "lab:7"
    what: str
    edition: Edition
    step: str  # the Extension.Step that can move it for one student
    lab: Lab | None
    when: datetime  # the deadline everybody without an extension has
    people: list[User]  # those it applies to who still have something to do


def _deadlines(now: datetime) -> list[Deadline]:
    """Every deadline of a lab or a final-project step that falls within REMIND_BEFORE for
    someone (theirs or an extension's), with the people who still have something to do:
    students without a scored entry in the lab, those not in a signed-up group, groups
    without slides."""
    window = {"closes_at__gt": now, "closes_at__lte": now + REMIND_BEFORE}
    extended = Extension.objects.filter(**window)
    labs = Lab.objects.filter(**window) | Lab.objects.filter(
        pk__in=extended.filter(step=Extension.Step.LAB).values("lab")
    )
    found = []
    for lab in labs.select_related("edition").distinct():
        scored = Participant.objects.filter(lab=lab, standing_run__isnull=False)
        done = set(scored.values_list("user_id", flat=True))
        people = [u for u in _enrolled_students(lab.edition) if u.pk not in done]
        found.append(
            Deadline(
                f"lab:{lab.pk}",
                f"{lab.title}: entries",
                lab.edition,
                Extension.Step.LAB,
                lab,
                lab.closes_at,
                people,
            )
        )
    for ps in ProjectSettings.objects.select_related("edition"):
        edition = ps.edition
        steps = set(extended.filter(edition=edition).values_list("step", flat=True))
        signed_up = Membership.objects.filter(
            group__edition=edition, group__signed_up_at__isnull=False
        )
        if now < ps.signup_deadline <= now + REMIND_BEFORE or Extension.Step.SIGNUP in steps:
            # A paper review is the alternative to a pitch: its author joins no group.
            reviewers = PaperReview.objects.filter(edition=edition).values_list(
                "user_id", flat=True
            )
            done = set(signed_up.values_list("user_id", flat=True)) | set(reviewers)
            people = [u for u in _enrolled_students(edition) if u.pk not in done]
            found.append(
                Deadline(
                    f"signup:{edition.pk}",
                    "Final project pitch sign-up",
                    edition,
                    Extension.Step.SIGNUP,
                    None,
                    ps.signup_deadline,
                    people,
                )
            )
        if now < ps.slides_deadline <= now + REMIND_BEFORE or Extension.Step.SLIDES in steps:
            without_slides = signed_up.filter(group__slides_file="", group__slides_url="")
            people = [m.user for m in without_slides.select_related("user") if m.user.is_active]
            found.append(
                Deadline(
                    f"slides:{edition.pk}",
                    "Final project slides",
                    edition,
                    Extension.Step.SLIDES,
                    None,
                    ps.slides_deadline,
                    people,
                )
            )
    return found


def _enrolled_students(edition: Edition) -> list[User]:
    rows = Enrollment.objects.filter(
        edition=edition, user__role=Role.STUDENT, user__is_active=True
    ).select_related("user")
    return [row.user for row in rows]


def reminders_send(now: datetime | None = None) -> int:
    """Email each person once per deadline due within a day; returns how many were sent."""
    now = now or timezone.now()
    opted_out = set(ReminderOptOut.objects.values_list("user_id", flat=True))
    sent = 0
    for d in _deadlines(now):
        extended = extended_deadlines(d.edition, d.lab, d.step, d.when)
        for user in d.people:
            # Each person's own deadline: an extension moves their reminder with it.
            when = extended.get(user.pk, d.when)
            if user.pk in opted_out or not now < when <= now + REMIND_BEFORE:
                continue
            # The deadline itself is part of the key: a moved deadline earns a new reminder.
            key = f"{d.key}:{when.isoformat()}"
            due = d.edition.format_time(when)
            what = d.what
            link = unsubscribe_url(user)
            body = (
                f"Hello {user},\n\n{what} are due {due}.\n\n{settings.SITE_URL}/\n\n"
                f"--\nNo more deadline reminders: {link}\n"
            )
            headers = {"List-Unsubscribe": f"<{link}>"}
            sent += send_once(user, "reminder", key, f"Due tomorrow: {what}", body, headers)
    return sent
