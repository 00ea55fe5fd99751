from datetime import datetime

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from core.errors import Refused
from core.permissions import require_staff
from core.scoring import ScoreInvalid, parse_score
from courses import phases
from courses.models import Lab
from submissions.models import Entry

from .models import EntryScore, JudgeAssignment, LabJudging
from .selectors import finalists_of, is_assigned

MAX_FINALISTS = 100
STAFF_ONLY = "Only staff can change how a lab is judged."


class JudgingRefused(Refused):
    """A judging action the rules do not allow, with the reason to show."""


def _settings_for_update(lab: Lab) -> LabJudging:
    """The lab's judging settings, row-locked until the transaction ends: closing updates
    this row, so a score saved under the lock is in before the close or refused after it."""
    LabJudging.objects.get_or_create(lab=lab)
    return LabJudging.objects.select_for_update(of=("self",)).get(lab=lab)


def lab_judging_configure(*, lab: Lab, finalists: int, by: User) -> LabJudging:
    require_staff(by, STAFF_ONLY, JudgingRefused)
    if not 1 <= finalists <= MAX_FINALISTS:
        raise JudgingRefused(f"Finalists must be between 1 and {MAX_FINALISTS}.")
    with transaction.atomic():
        settings = _settings_for_update(lab)
        settings.finalists = finalists
        settings.save(update_fields=["finalists"])
    return settings


def lab_judging_close(*, lab: Lab, by: User, now: datetime | None = None) -> None:
    require_staff(by, STAFF_ONLY, JudgingRefused)
    # Scoring closes only after every window (extensions included): the finalists are final.
    phases.lab_require(lab, phases.JUDGING_CLOSE, JudgingRefused, now=now)
    with transaction.atomic():
        settings = _settings_for_update(lab)  # a score being saved now finishes first
        settings.judging_closed = True
        settings.closed_at = now or timezone.now()
        settings.save(update_fields=["judging_closed", "closed_at"])


def lab_judging_reopen(*, lab: Lab, by: User) -> None:
    require_staff(by, STAFF_ONLY, JudgingRefused)
    phases.lab_require(lab, phases.JUDGING_OPEN, JudgingRefused)
    LabJudging.objects.filter(lab=lab).update(judging_closed=False, closed_at=None)


def judge_assign(*, lab: Lab, judge: User, by: User) -> JudgeAssignment:
    require_staff(by, STAFF_ONLY, JudgingRefused)
    phases.lab_require(lab, phases.JUDGING_OPEN, JudgingRefused)  # a lab's first judge opens it
    if not judge.is_judge:
        raise JudgingRefused(f"{judge} is not a judge.")
    assignment, _ = JudgeAssignment.objects.get_or_create(
        lab=lab, judge=judge, defaults={"assigned_by": by}
    )
    return assignment


def judge_unassign(*, lab: Lab, judge: User, by: User) -> None:
    require_staff(by, STAFF_ONLY, JudgingRefused)
    JudgeAssignment.objects.filter(lab=lab, judge=judge).delete()


def _criterion(value, name: str) -> int | None:
    try:
        return parse_score(value)
    except ScoreInvalid as invalid:
        raise JudgingRefused(f"{name}: {invalid}") from None


def entry_score_submit(
    *, judge: User, entry: Entry, soundness, descriptions, comment: str = ""
) -> EntryScore:
    """Record (or change) a judge's scores for a finalist entry while scoring is open."""
    if not (judge.is_judge and is_assigned(judge, entry.lab)):
        raise JudgingRefused(f"You are not a judge of {entry.lab.title}.")
    if not any(r.row.entry_id == entry.pk for r in finalists_of(entry.lab)):
        raise JudgingRefused("This entry is not among the lab's finalists.")
    if len(comment) > 2000:
        raise JudgingRefused("The comment is at most 2000 characters.")
    values = {
        "soundness": _criterion(soundness, "Soundness of implementation and approach"),
        "descriptions": _criterion(descriptions, "Descriptions and figures"),
        "comment": comment.strip(),
        "updated_at": timezone.now(),
    }
    with transaction.atomic():
        if _settings_for_update(entry.lab).judging_closed:
            raise JudgingRefused(f"Scoring of {entry.lab.title} is closed.")
        score, _ = EntryScore.objects.update_or_create(entry=entry, judge=judge, defaults=values)
    return score
