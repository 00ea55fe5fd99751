"""Which run stands for each student in a lab: submissions stores it (Participant.standing_run)
and keeps it up to date; the leaderboards only read it."""

from django.db.models import OuterRef, QuerySet, Subquery
from django.dispatch import Signal

from courses.models import EntrySelection, Lab
from grader.specs import LabSpec, load_spec

from .models import ENTRY_VERDICTS, Entry, GradingRun, Participant, Status
from .splits import PUBLIC

# Sent with `lab=` after a lab's standing runs may have changed; the leaderboards rank the
# lab again (they sit after submissions, so submissions announces instead of calling them).
standings_changed = Signal()


def scored_current_runs(entries: QuerySet) -> list[GradingRun]:
    """The current run of each of these entries, where it is scored: the newest public run
    with the grader's verdict (its private run's verdict is recorded in it). A re-grade still
    in flight, cancelled, or ended by a platform fault (refunded: not the entry's doing)
    leaves the earlier verdict standing."""
    public = GradingRun.objects.filter(split=PUBLIC)
    newest = (
        public.filter(entry=OuterRef("entry"), status__in=ENTRY_VERDICTS)
        .order_by("-pk")
        .values("pk")[:1]
    )
    return list(
        public.filter(entry__in=entries, status=Status.SCORED, pk=Subquery(newest)).select_related(
            "entry"
        )
    )


def run_chosen(
    runs: list[GradingRun], selection: str, final_entry_id: int | None, spec: LabSpec
) -> GradingRun | None:
    """The run that stands for a student on the leaderboard, per the lab's selection rule."""
    if not runs:
        return None
    if selection == EntrySelection.FINAL:
        for run in runs:
            if run.entry_id == final_entry_id:
                return run
        # No scored final entry: fall back to the best, so a student is never dropped.
    if selection == EntrySelection.LATEST:
        return max(runs, key=lambda r: (r.entry.created_at, r.entry_id))
    # "Best" is judged on the public split, the scores the student could see; the private
    # split then stays a fair held-out test of the entry they would have picked themselves.
    return min(
        runs,
        key=lambda r: (
            spec.sort_key((r.split_metrics or {}).get(PUBLIC) or r.metrics),
            r.entry.created_at,
            r.entry_id,
        ),
    )


def participant_standing_refresh(participant: Participant, announce: bool = True) -> None:
    """Choose again the run that stands for a student (their runs changed, or the rule)."""
    lab = participant.lab
    runs = scored_current_runs(Entry.objects.filter(participant=participant))
    chosen = run_chosen(runs, lab.selection, participant.final_entry_id, load_spec(lab.spec_id))
    # Announced only when the standing run changes (a run's scores never change once final),
    # not on each of a run's moves through the queue.
    changed = (
        Participant.objects.filter(pk=participant.pk)
        .exclude(standing_run=chosen)
        .update(standing_run=chosen)
    )
    if changed and announce:
        standings_changed.send(sender=Participant, lab=lab)


def lab_standings_refresh(*, lab: Lab, **_signal) -> int:
    """Every student's standing run in a lab, e.g. after staff change its selection rule.
    Also the receiver of courses' `lab_selection_changed` (hence the signal's keywords)."""
    participants = list(Participant.objects.filter(lab=lab).select_related("lab"))
    for participant in participants:
        participant_standing_refresh(participant, announce=False)
    standings_changed.send(sender=Participant, lab=lab)
    return len(participants)


def entry_removed(*, instance: Entry, **_signal) -> None:
    """The receiver of an entry's deletion: its runs went with it (the standing run set to
    NULL by the database), so the student's standing is chosen again from what is left."""
    participant = Participant.objects.select_related("lab").filter(pk=instance.participant_id)
    found = participant.first()
    if found is not None:
        # The database already emptied the standing: announce even when nothing else stands.
        participant_standing_refresh(found, announce=False)
        standings_changed.send(sender=Participant, lab=found.lab)
