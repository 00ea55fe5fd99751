"""The two test splits a run is scored on, and the one rule for who sees which.

Students see the public split as they go; the private split is a held-out test, shown to
each student once staff reveal it and that student's own window has closed. Staff always
see it, and judges from the deadline on (they judge finished entries on their full report).
"""

from datetime import datetime

from django.utils import timezone

from accounts.models import User
from courses import phases
from courses.models import Lab

PUBLIC, PRIVATE = "public", "private"
SPLITS = (PUBLIC, PRIVATE)


def sees_private(user: User, lab: Lab, now: datetime | None = None) -> bool:
    """Staff always; judges from the lab's deadline on; anyone else once the reveal is in
    force and their own window (the lab's deadline, or their extension) has closed: the
    reveal never reaches someone who can still upload."""
    if user.is_course_staff:
        return True
    now = now or timezone.now()
    if user.is_judge and now >= lab.closes_at:
        return True
    return phases.reveal_in_force(lab, now) and now >= phases.student_deadline(lab, user)


def visible_splits(user: User, lab: Lab, now: datetime | None = None) -> tuple[str, ...]:
    return SPLITS if sees_private(user, lab, now) else (PUBLIC,)
