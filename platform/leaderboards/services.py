from datetime import datetime

from django.utils import timezone

from accounts.models import User
from courses.models import Lab
from grader.specs import load_spec
from submissions.models import Entry, Participant

from .models import LeaderboardBaseline
from .selectors import run_chosen, scored_current_runs


class LeaderboardRefused(Exception):
    """A staff action on a leaderboard that the rules do not allow, with the reason."""


def lab_private_reveal(*, lab: Lab, by: User, now: datetime | None = None) -> None:
    now = now or timezone.now()
    if not by.is_course_staff:
        raise LeaderboardRefused("Only staff can reveal the private standings.")
    if now < lab.closes_at:
        raise LeaderboardRefused(
            f"The private standings of {lab.title} can be revealed only after the deadline "
            f"({lab.closes_at_display})."
        )
    Lab.objects.filter(pk=lab.pk).update(private_revealed=True)
    lab.private_revealed = True


def lab_private_hide(*, lab: Lab, by: User) -> None:
    if not by.is_course_staff:
        raise LeaderboardRefused("Only staff can hide the private standings.")
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


def baselines_mark_staff_entries(*, lab: Lab, label: str = "") -> int:
    """Mark every entry that staff uploaded to `lab` as a reference row (for the demo seed).
    Each is labelled `label`, else its note, else "Baseline"; already marked ones are kept."""
    entries = Entry.objects.filter(lab=lab, baseline__isnull=True).select_related("user")
    marked = 0
    for entry in entries:
        if entry.user.is_course_staff:
            baseline_mark(entry=entry, label=label or entry.note or "Baseline")
            marked += 1
    return marked


def participant_standing_refresh(participant: Participant) -> None:
    """Choose again the run that stands for a student (their runs changed, or the rule)."""
    lab = participant.lab
    runs = scored_current_runs(Entry.objects.filter(participant=participant))
    chosen = run_chosen(runs, lab.selection, participant.final_entry_id, load_spec(lab.spec_id))
    Participant.objects.filter(pk=participant.pk).update(standing_run=chosen)


def lab_standings_refresh(*, lab: Lab) -> int:
    """Every student's standing run in a lab, e.g. after staff change its selection rule."""
    participants = list(Participant.objects.filter(lab=lab).select_related("lab"))
    for participant in participants:
        participant_standing_refresh(participant)
    return len(participants)
