"""Email people expect: group invitations, pitch sign-up confirmations, deadline reminders.

Each email that must go out once is claimed in SentEmail first (unique per person and
subject), so a re-run beat, a retried task or two workers never send it twice; a failed send
gives the claim back so the next beat tries again.
"""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.core import signing
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from accounts.models import Role, User
from courses.models import Edition, Enrollment, Lab
from projects.models import Membership, ProjectGroup, ProjectSettings

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


def _deadlines(now: datetime) -> list[tuple[str, str, datetime, Edition, list[User]]]:
    """(key, what, when, edition, people) for every deadline in the next REMIND_BEFORE."""
    soon = now + REMIND_BEFORE
    found = []
    for lab in Lab.objects.select_related("edition").filter(closes_at__gt=now, closes_at__lte=soon):
        people = _enrolled_students(lab.edition)
        found.append((f"lab:{lab.pk}", f"{lab.title}: entries", lab.closes_at, lab.edition, people))
    for ps in ProjectSettings.objects.select_related("edition"):
        edition = ps.edition
        if now < ps.signup_deadline <= soon:
            people = _enrolled_students(edition)
            found.append(
                (
                    f"signup:{edition.pk}",
                    "Final project pitch sign-up",
                    ps.signup_deadline,
                    edition,
                    people,
                )
            )
        if now < ps.slides_deadline <= soon:
            groups = ProjectGroup.objects.filter(edition=edition, signed_up_at__isnull=False)
            members = Membership.objects.filter(group__in=groups).select_related("user")
            people = [m.user for m in members if m.user.is_active]
            found.append(
                (
                    f"slides:{edition.pk}",
                    "Final project slides",
                    ps.slides_deadline,
                    edition,
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
    for key, what, when, edition, people in _deadlines(now):
        # The deadline itself is part of the key: a moved deadline earns a new reminder.
        key = f"{key}:{when.isoformat()}"
        due = edition.format_time(when)
        for user in people:
            if user.pk in opted_out:
                continue
            link = unsubscribe_url(user)
            body = (
                f"Hello {user},\n\n{what} are due {due}.\n\n{settings.SITE_URL}/\n\n"
                f"--\nNo more deadline reminders: {link}\n"
            )
            headers = {"List-Unsubscribe": f"<{link}>"}
            sent += send_once(user, "reminder", key, f"Due tomorrow: {what}", body, headers)
    return sent
