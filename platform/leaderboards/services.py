from datetime import datetime

from django.utils import timezone

from accounts.models import User
from core.errors import Refused
from core.permissions import require_staff
from courses import phases
from courses.models import Lab
from submissions.models import Entry

from .models import LeaderboardBaseline


class LeaderboardRefused(Refused):
    """A staff action on a leaderboard that the rules do not allow, with the reason."""


def lab_private_reveal(*, lab: Lab, by: User, now: datetime | None = None) -> None:
    now = now or timezone.now()
    require_staff(by, "Only staff can reveal the private standings.", LeaderboardRefused)
    phases.lab_require(lab, phases.REVEAL, LeaderboardRefused, now=now)
    Lab.objects.filter(pk=lab.pk).update(private_revealed=True)
    lab.private_revealed = True


def lab_private_hide(*, lab: Lab, by: User) -> None:
    require_staff(by, "Only staff can hide the private standings.", LeaderboardRefused)
    Lab.objects.filter(pk=lab.pk).update(private_revealed=False)
    lab.private_revealed = False


def baseline_mark(*, entry: Entry, label: str = "Baseline", by: User | None = None):
    """Show a staff entry as a reference row of its lab's leaderboard."""
    if not entry.user.is_course_staff:
        raise LeaderboardRefused("Only entries uploaded by staff can be reference rows.")
    baseline, _ = LeaderboardBaseline.objects.update_or_create(
        entry=entry, defaults={"lab_id": entry.lab_id, "label": label[:100], "marked_by": by}
    )
    return baseline
