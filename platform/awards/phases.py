"""The awards on the course timeline: draft ──► confirmed ──► announced.

- draft: nothing confirmed (or the latest confirmed version was revised away).
- confirmed: the latest version is frozen, not yet announced.
- announced: the latest version is public and its winners were emailed.

Confirming and announcing need every competition a prize depends on to be final: each lab
with a prize line (courses.phases) and, for project prizes, the final projects
(projects.phases). `awards_blockers` says what is still running, in words.
"""

from datetime import datetime

from django.utils import timezone

from courses.models import Edition, Lab
from courses.phases import Phase, lab_phase, lab_phase_reason
from projects.phases import ProjectPhase, project_phase, project_phase_reason

from .models import Category

DRAFT, CONFIRMED, ANNOUNCED = "draft", "confirmed", "announced"


def awards_phase(edition: Edition) -> str:
    latest = edition.award_snapshots.order_by("-version").first()
    if latest is None:
        return DRAFT
    return ANNOUNCED if latest.announced_at else CONFIRMED


def awards_blockers(edition: Edition, now: datetime | None = None) -> list[str]:
    """Why prizes cannot be confirmed or announced yet: one sentence per competition a prize
    depends on that is not final (empty when every one is)."""
    now = now or timezone.now()
    blockers = []
    prizes = edition.prizes.all()
    lab_ids = {p.lab_id for p in prizes if p.category == Category.LAB and p.lab_id is not None}
    for lab in edition.labs.filter(pk__in=lab_ids).order_by("position", "spec_id"):
        if lab_phase(lab, now) != Phase.FINAL:
            blockers.append(lab_phase_reason(lab, now))
    if any(p.category == Category.PROJECT for p in prizes):
        if project_phase(edition, now) != ProjectPhase.FINAL:
            blockers.append(project_phase_reason(edition, now))
    return blockers


def results_lock(edition: Edition, lab: Lab | None) -> str | None:
    """Why nothing may reopen this lab, or the final projects when `lab` is None
    (courses.phases asks, through register_results_lock): an announced version of the awards
    has a category for it. Read from what was announced, not from today's prize catalog."""
    scope = f"lab:{lab.pk}" if lab is not None else "project"
    announced = edition.award_snapshots.filter(announced_at__isnull=False).order_by("version")
    for snapshot in announced:
        if snapshot.announced_at is not None and any(
            c.get("scope") == scope for c in snapshot.data.get("categories", [])
        ):
            what = lab.title if lab is not None else "the final projects"
            when = edition.format_time(snapshot.announced_at)
            return (
                f"The winners of {what} were announced on {when}: nothing may reopen "
                f"{'the lab' if lab is not None else 'them'} now. To correct a result, "
                "confirm a revised version of the awards, with its reason."
            )
    return None
