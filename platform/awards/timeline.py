"""The staff timeline: every lab's and the final projects' phase, what blocks the next step,
and the next dates (in the edition's zone, named). It reads the phase modules; it decides
nothing itself."""

from dataclasses import dataclass, field
from datetime import datetime

from django.utils import timezone

from courses import phases as lab_phases
from courses.models import Edition, Extension
from judging.models import EntryScore, JudgeAssignment
from judging.selectors import finalist_entry_id, finalists_of
from projects import phases as project_phases
from projects.selectors import groups_without_judges, project_settings_for
from submissions.selectors import MAX_PRIVATE_TRIES, lab_private_progress

from .phases import awards_blockers, awards_phase


@dataclass
class TimelineRow:
    name: str
    phase: str
    blockers: list[str] = field(default_factory=list)
    dates: list[tuple[str, str]] = field(default_factory=list)  # (what, when in the zone)


def _lab_judging_blocker(lab) -> str | None:
    judges = JudgeAssignment.objects.filter(lab=lab).count()
    if not judges:
        return None
    entries = [finalist_entry_id(f) for f in finalists_of(lab)]
    complete: dict[int, int] = {}
    for score in EntryScore.objects.filter(entry_id__in=entries):
        if score.is_complete:
            complete[score.entry_id] = complete.get(score.entry_id, 0) + 1
    done = sum(1 for entry_id in entries if complete.get(entry_id, 0) >= judges)
    return (
        f"{lab.title} judging: {done} of {len(entries)} finalists scored by "
        f"{judges} judge{'s' if judges != 1 else ''}."
    )


def _lab_private_blocker(lab, now: datetime) -> str | None:
    """How far the private split is evaluated, while it is not complete."""
    progress = lab_private_progress(lab, now)
    if progress.complete:
        return None
    text = f"{lab.title}: private evaluation {progress.done} of {progress.due}."
    if progress.stuck:
        text += (
            f" {progress.stuck} failed on our side {MAX_PRIVATE_TRIES} times: re-grade "
            "those entries (Queue)."
        )
    return text


def edition_timeline(edition: Edition, now: datetime | None = None) -> list[TimelineRow]:
    now = now or timezone.now()
    fmt = edition.format_time
    rows = []
    for lab in edition.labs.order_by("position", "spec_id"):
        phase = lab_phases.lab_phase(lab, now)
        row = TimelineRow(name=lab.title, phase=phase)
        if phase != lab_phases.Phase.FINAL:
            row.blockers.append(lab_phases.lab_phase_reason(lab, now))
        private = _lab_private_blocker(lab, now)
        if private:
            row.blockers.append(private)
        if phase in (lab_phases.Phase.CLOSED, lab_phases.Phase.JUDGING):
            judging = _lab_judging_blocker(lab)
            if judging:
                row.blockers.append(judging)
        if now < lab.opens_at:
            row.dates.append(("opens", fmt(lab.opens_at)))
        row.dates.append(("closes", fmt(lab.closes_at)))
        extensions = Extension.objects.filter(lab=lab, closes_at__gt=lab.closes_at).count()
        if extensions:
            row.dates.append(
                (
                    f"{extensions} extension{'s' if extensions != 1 else ''} until",
                    fmt(lab_phases.last_deadline(lab)),
                )
            )
        rows.append(row)
    config = project_settings_for(edition)
    if config is not None:
        row = TimelineRow(name="Final projects", phase=project_phases.project_phase(edition, now))
        if row.phase != project_phases.ProjectPhase.FINAL:
            row.blockers.append(project_phases.project_phase_reason(edition, now))
        for group in groups_without_judges(edition):
            row.blockers.append(f"Group {group.name}: every judge is conflicted.")
        row.dates.append(("pitch sign-up closes", fmt(config.signup_deadline)))
        row.dates.append(("slides due", fmt(config.slides_deadline)))
        if config.pitches_start_at:
            row.dates.append(("pitches start", fmt(config.pitches_start_at)))
        rows.append(row)
    rows.append(
        TimelineRow(
            name="Prizes", phase=awards_phase(edition), blockers=awards_blockers(edition, now)
        )
    )
    return rows
