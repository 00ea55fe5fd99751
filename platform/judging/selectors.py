from dataclasses import dataclass

from django.core.exceptions import PermissionDenied
from django.http import Http404

from accounts.models import Role, User
from core.scoring import COMPLETE, TO_SCORE, exact_mean, fraction_text, judge_diagnostics
from courses import phases
from courses.models import Lab
from grader.specs import load_spec
from leaderboards.ranking import RankedRow
from leaderboards.selectors import board_top
from submissions.models import Entry
from submissions.selectors import entry_find
from submissions.splits import PRIVATE

from .models import EntryScore, JudgeAssignment, LabJudging
from .rubric import Ballot, Finalist, FinalistResult, combine


def judging_settings(lab: Lab) -> LabJudging:
    """The lab's judging settings; the defaults (unsaved) until staff change them."""
    return LabJudging.objects.filter(lab=lab).first() or LabJudging(lab=lab)


def lab_judging_state(lab: Lab) -> str | None:
    """For the lab's phase: None when the lab has no judges, else whether scoring is open."""
    if not JudgeAssignment.objects.filter(lab=lab).exists():
        return None
    closed = LabJudging.objects.filter(lab=lab, judging_closed=True).exists()
    return "closed" if closed else "open"


def is_assigned(user: User, lab: Lab) -> bool:
    return JudgeAssignment.objects.filter(lab=lab, judge=user).exists()


def finalists_wait(lab: Lab) -> str:
    """Why the lab has no finalists yet ('' once it may have them): they are the top of the
    private standings, so nobody sees them while a student's window is still open."""
    return phases.lab_allows(lab, phases.SHOW_FINALISTS).reason


def finalists_of(lab: Lab) -> list[RankedRow]:
    """The top N students of the final standings (the private split decides them); every
    student tied at rank N is in. Reference rows never are. None until every window has
    closed (finalists_wait). Read from the stored board (ranked again whenever a standing
    changes), so a judging page reads N rows, not the whole lab."""
    if not phases.lab_allows(lab, phases.SHOW_FINALISTS):
        return []
    return board_top(lab, PRIVATE, judging_settings(lab).finalists)


def finalist_entry_id(finalist: RankedRow) -> int:
    """The entry a finalist stands for: finalists_of keeps only rows with an entry."""
    assert finalist.row.entry_id is not None, "finalists always have an entry"
    return finalist.row.entry_id


def access_entry_for_judging(user: User, entry_id: int) -> Entry:
    """The gate for reading an entry as a judge: staff, or a judge assigned to the entry's
    lab while the entry stands for a finalist. Anyone else gets a 404, as with access_entry."""
    if not user.is_authenticated:
        raise PermissionDenied("Log in to judge entries.")
    entry = entry_find(entry_id)
    if entry is None:
        raise Http404("No such entry.")
    if user.is_course_staff:
        return entry
    if (
        user.is_judge
        and is_assigned(user, entry.lab)
        and any(r.row.entry_id == entry.pk for r in finalists_of(entry.lab))
    ):
        return entry
    raise Http404("No such entry.")


def scores_visible(user: User, lab: Lab) -> bool:
    """Other judges' scores: staff always; judges only once staff close the scoring, so no
    judge is swayed by another's."""
    return user.is_course_staff or judging_settings(lab).judging_closed


def entry_scores_for(user: User, entry: Entry) -> list[EntryScore]:
    scores = EntryScore.objects.filter(entry=entry).select_related("judge")
    if not scores_visible(user, entry.lab):
        scores = scores.filter(judge=user)
    return list(scores)


def score_of(judge: User, entry: Entry) -> EntryScore | None:
    return EntryScore.objects.filter(judge=judge, entry=entry).first()


@dataclass
class QueueItem:
    ranked: RankedRow
    score: EntryScore | None

    @property
    def state(self) -> str:
        return self.score.state if self.score else TO_SCORE


@dataclass
class LabQueue:
    lab: Lab
    settings: LabJudging
    items: list[QueueItem]
    waiting: str = ""  # why there are no finalists yet (finalists_wait)

    @property
    def done(self) -> int:
        return sum(1 for item in self.items if item.state == COMPLETE)


def judge_queue(judge: User) -> list[LabQueue]:
    """Each lab the judge is assigned to, with its finalists in entry order: the queue shows
    no rank, so the standings do not sway the judges."""
    queues = []
    labs = Lab.objects.filter(judge_assignments__judge=judge).select_related("edition")
    for lab in labs:
        finalists = sorted(finalists_of(lab), key=finalist_entry_id)
        scores = {
            s.entry_id: s
            for s in EntryScore.objects.filter(
                judge=judge, entry_id__in=[finalist_entry_id(r) for r in finalists]
            )
        }
        items = [QueueItem(r, scores.get(finalist_entry_id(r))) for r in finalists]
        queues.append(LabQueue(lab, judging_settings(lab), items, finalists_wait(lab)))
    return queues


def access_prize_standings(user: User, lab: Lab) -> None:
    if user.is_course_staff:
        return
    if user.is_authenticated and user.is_judge and is_assigned(user, lab):
        if judging_settings(lab).judging_closed:
            return
        raise PermissionDenied("The combined standings are shown once scoring closes.")
    raise PermissionDenied("Staff and the lab's judges only.")


def prize_standings(lab: Lab) -> list[FinalistResult]:
    """The lab's prize standings: finalists ordered by the combined rubric score."""
    finalists = finalists_of(lab)
    rubric = load_spec(lab.spec_id).rubric
    entry_ids = [finalist_entry_id(r) for r in finalists]
    ballots = [
        Ballot(s.entry_id, s.judge_id, s.soundness, s.descriptions)
        for s in EntryScore.objects.filter(entry_id__in=entry_ids)
    ]
    return combine(
        [
            Finalist(
                key=r.row.key,
                name=r.row.name,
                eligible=r.row.eligible,
                entry_id=finalist_entry_id(r),
                results=rubric.score(r.row.metrics.get(rubric.metric)),
            )
            for r in finalists
        ],
        ballots,
    )


def lab_judges(lab: Lab) -> list[JudgeAssignment]:
    return list(JudgeAssignment.objects.filter(lab=lab).select_related("judge"))


def judge_list() -> list[User]:
    return list(User.objects.filter(role=Role.JUDGE, is_active=True).order_by("username"))


def scoring_progress(lab: Lab, finalists: list[RankedRow]) -> list[dict]:
    """Per assigned judge: which finalists they have scored (for staff)."""
    scores = {
        (s.judge_id, s.entry_id): s
        for s in EntryScore.objects.filter(entry_id__in=[finalist_entry_id(r) for r in finalists])
    }
    rows = []
    for assignment in lab_judges(lab):
        cells = []
        for r in finalists:
            score = scores.get((assignment.judge_id, finalist_entry_id(r)))
            cells.append(score.state if score else TO_SCORE)
        rows.append({"assignment": assignment, "cells": cells})
    return rows


def lab_judging_diagnostics(lab: Lab, finalists: list[RankedRow]) -> dict:
    """Staff diagnostics of a lab's judging, as pitches have them (core.scoring): per judge
    mean and spread of their scores (a judge's score for an entry: the mean of its two
    criteria), per entry the judges' disagreement and mean z-score. Not used for ranking."""
    names = {finalist_entry_id(r): r.row.name for r in finalists}
    scores = []
    for s in EntryScore.objects.filter(entry_id__in=list(names)):
        if s.soundness is not None and s.descriptions is not None:
            score = exact_mean([s.soundness, s.descriptions])
            assert score is not None
            scores.append((s.entry_id, s.judge_id, score))
    judges, items = judge_diagnostics(scores)
    users = {u.pk: u for u in User.objects.filter(pk__in=list(judges))}
    return {
        "judges": [
            {
                "judge": users[j.judge_id],
                "count": j.count,
                "mean": fraction_text(j.mean),
                "spread": j.spread,
                "lowest": fraction_text(j.lowest),
                "highest": fraction_text(j.highest),
            }
            for j in sorted(judges.values(), key=lambda j: users[j.judge_id].username)
        ],
        "entries": [
            {
                "entry_id": entry_id,
                "name": names[entry_id],
                "disagreement": fraction_text(d.disagreement),
                "mean_z": d.mean_z,
            }
            for entry_id, d in sorted(items.items(), key=lambda kv: -kv[1].disagreement)
        ],
    }
