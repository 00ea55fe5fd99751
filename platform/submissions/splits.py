"""The two test splits a run is scored on, and the one rule for who sees which.

Students see the public split as they go; the private split is a held-out test, shown to
everyone once staff reveal it. Staff always see it, and judges from the deadline on (they
judge finished entries on their full report).
"""

from datetime import datetime

from django.utils import timezone

from accounts.models import User
from courses.models import Lab

PUBLIC, PRIVATE = "public", "private"
SPLITS = (PUBLIC, PRIVATE)


def sees_private(user: User, lab: Lab, now: datetime | None = None) -> bool:
    if user.is_course_staff or lab.private_revealed:
        return True
    return user.is_judge and (now or timezone.now()) >= lab.closes_at


def visible_splits(user: User, lab: Lab, now: datetime | None = None) -> tuple[str, ...]:
    return SPLITS if sees_private(user, lab, now) else (PUBLIC,)
