"""Staff moves on a lab's timeline (moving its deadline, granting a student an extension),
and a student who signed up themselves joining an edition."""

from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from core.errors import Refused
from core.permissions import require_staff

from . import phases
from .models import Edition, Enrollment, Extension, Lab


class TimelineRefused(Refused):
    """A timeline change the rules do not allow, with the reason."""


class EnrollmentRefused(Refused):
    """A join the rules do not allow, with the reason."""


def enrollment_join(*, user: User, edition: Edition) -> Enrollment:
    """A student enrols themselves, as someone who signed up does (the roster enrols the
    others). Joining verifies nothing: a self-declared affiliation competes but never wins a
    prize (accounts.models). With sign-up closed the roster alone enrols."""
    if not user.is_student:
        raise EnrollmentRefused("Only students enrol in an edition.")
    if not settings.ACCOUNT_SIGNUP_OPEN:
        raise EnrollmentRefused(
            f"{edition.name} enrols from the course roster only: ask course staff to add you."
        )
    enrollment, _ = Enrollment.objects.get_or_create(edition=edition, user=user)
    return enrollment


def lab_deadline_move(*, lab: Lab, closes_at: datetime, by: User) -> Lab:
    """Move a lab's deadline. Moving it into the future reopens the lab: the reveal is
    dropped (Lab.save) and the counted-entry choice reopens (courses.phases)."""
    require_staff(by, "Only staff move deadlines.", TimelineRefused)
    phases.lab_require(lab, phases.MOVE_DEADLINE, TimelineRefused)
    if timezone.is_naive(closes_at):
        raise TimelineRefused("A deadline needs its time zone.")
    if closes_at <= lab.opens_at:
        raise TimelineRefused(f"{lab.title} must close after it opens.")
    with transaction.atomic():
        lab = Lab.objects.select_for_update(of=("self",)).get(pk=lab.pk)
        lab.closes_at = closes_at
        lab.save(update_fields=["closes_at"])
    return lab


def extension_grant(
    *, lab: Lab, user: User, closes_at: datetime, reason: str, by: User
) -> Extension:
    """Give one student a later deadline for a lab (an accommodation), with a reason."""
    require_staff(by, "Only staff grant extensions.", TimelineRefused)
    # Not after the winners were announced, nor to a student who has seen the private split.
    phases.lab_require(lab, phases.GRANT_EXTENSION, TimelineRefused, user=user)
    if not user.is_student:
        raise TimelineRefused(f"{user} is not a student.")
    if not reason.strip():
        raise TimelineRefused("Give the reason for the extension.")
    if timezone.is_naive(closes_at):
        raise TimelineRefused("A deadline needs its time zone.")
    if closes_at <= lab.closes_at:
        raise TimelineRefused(
            f"An extension must end after the lab's deadline ({lab.closes_at_display})."
        )
    extension, _ = Extension.objects.update_or_create(
        lab=lab,
        step=Extension.Step.LAB,
        user=user,
        defaults={
            "edition": lab.edition,
            "closes_at": closes_at,
            "reason": reason.strip()[:300],
            "granted_by": by,
            "granted_at": timezone.now(),
        },
    )
    return extension


def project_extension_grant(
    *, edition: Edition, user: User, step: str, closes_at: datetime, reason: str, by: User
) -> Extension:
    """Give one student a later deadline for a final-project step (sign-up, slides, review)."""
    require_staff(by, "Only staff grant extensions.", TimelineRefused)
    locked = phases.project_results_lock(edition)
    if locked:
        raise TimelineRefused(locked)
    if step not in (Extension.Step.SIGNUP, Extension.Step.SLIDES, Extension.Step.REVIEW):
        raise TimelineRefused("Choose a final-project step: sign-up, slides or review.")
    if not reason.strip():
        raise TimelineRefused("Give the reason for the extension.")
    if timezone.is_naive(closes_at):
        raise TimelineRefused("A deadline needs its time zone.")
    extension, _ = Extension.objects.update_or_create(
        edition=edition,
        lab=None,
        step=step,
        user=user,
        defaults={
            "closes_at": closes_at,
            "reason": reason.strip()[:300],
            "granted_by": by,
            "granted_at": timezone.now(),
        },
    )
    return extension
