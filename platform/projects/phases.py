"""The edition's final projects on the course timeline, and the one question actions ask.

    groups ──► pitch sign-up ──► pitches ──► scoring ──► final

- groups: before the sign-up deadline: groups form, invite, sign up for a pitch.
- pitch sign-up: the groups are fixed; staff make the schedule, groups hand in slides.
- pitches: the pitch session is under way (from `pitches_start_at` to its last slot's end);
  judges score (never before: a ballot is about a pitch heard).
- scoring: the session is over; judges finish their ballots.
- final: staff closed scoring (`scoring_closed_at`); prizes may be confirmed.

Computed from the dates and the one flag, never stored; moving a date moves the phase.
"""

from datetime import datetime, timedelta

from django.utils import timezone

from courses.models import Edition
from courses.phases import Verdict  # one answer type for every phase question

from .models import ProjectGroup, ProjectSettings


class ProjectPhase:
    GROUPS, SIGNUP, PITCHES, SCORING, FINAL = (
        "groups",
        "pitch sign-up",
        "pitches",
        "scoring",
        "final",
    )
    ORDER = (GROUPS, SIGNUP, PITCHES, SCORING, FINAL)


def pitches_end(config: ProjectSettings) -> datetime | None:
    """When the last scheduled pitch ends (None without a session date)."""
    if config.pitches_start_at is None:
        return None
    slots = ProjectGroup.objects.filter(edition_id=config.edition_id, slot__isnull=False).count()
    return config.pitches_start_at + timedelta(minutes=config.pitch_minutes * max(slots, 1))


def project_phase(edition: Edition, now: datetime | None = None) -> str:
    now = now or timezone.now()
    config = ProjectSettings.objects.filter(edition=edition).first()
    if config is None or now < config.signup_deadline:
        return ProjectPhase.GROUPS
    if config.scoring_closed_at is not None:
        return ProjectPhase.FINAL
    start, end = config.pitches_start_at, pitches_end(config)
    if start is None or end is None:
        return ProjectPhase.SIGNUP if now < config.slides_deadline else ProjectPhase.SCORING
    if now < start:
        return ProjectPhase.SIGNUP
    if now < end:
        return ProjectPhase.PITCHES
    return ProjectPhase.SCORING


CLOSE_SCORING = "close_scoring"
SCORE = "score"
MARK_ATTENDANCE = "mark_attendance"  # staff, from the pitch session on


def project_allows(edition: Edition, action: str, now: datetime | None = None) -> Verdict:
    now = now or timezone.now()
    phase = project_phase(edition, now)
    if action in (SCORE, MARK_ATTENDANCE):
        # A ballot, or a mark of presence, is about a pitch heard: only from the session on.
        if action == SCORE and phase == ProjectPhase.FINAL:
            return Verdict(False, "Pitch scoring is closed: the final projects are final.")
        if phase in (ProjectPhase.GROUPS, ProjectPhase.SIGNUP):
            what = "Pitch scoring opens" if action == SCORE else "Attendance is marked from"
            config = ProjectSettings.objects.filter(edition=edition).first()
            if config is None:
                return Verdict(False, "Final projects are not open in this edition yet.")
            if config.pitches_start_at is not None:
                when = edition.format_time(config.pitches_start_at)
                return Verdict(False, f"{what} when the pitches start, {when}.")
            when = edition.format_time(config.slides_deadline)
            return Verdict(False, f"{what} after the slides deadline, {when}.")
        return Verdict(True)
    if action == CLOSE_SCORING:
        if phase in (ProjectPhase.SCORING,):
            return Verdict(True)
        if phase == ProjectPhase.FINAL:
            return Verdict(False, "Pitch scoring is already closed.")
        config = ProjectSettings.objects.filter(edition=edition).first()
        end = pitches_end(config) if config else None
        when = f" (the pitches end {edition.format_time(end)})" if end else ""
        return Verdict(False, f"Pitch scoring can close only after the pitches{when}.")
    raise ValueError(f"unknown project action {action!r}")


def project_phase_reason(edition: Edition, now: datetime | None = None) -> str:
    """What the final projects wait for, e.g. 'Final projects: pitch sign-up closes ...'."""
    now = now or timezone.now()
    phase = project_phase(edition, now)
    config = ProjectSettings.objects.filter(edition=edition).first()
    if config is None:
        return "Final projects: no final-project settings yet."
    fmt = edition.format_time
    if phase == ProjectPhase.GROUPS:
        return f"Final projects: pitch sign-up closes {fmt(config.signup_deadline)}."
    if phase == ProjectPhase.SIGNUP:
        when = config.pitches_start_at or config.slides_deadline
        return f"Final projects: the pitches start {fmt(when)}."
    if phase == ProjectPhase.PITCHES:
        return "Final projects: the pitch session is under way."
    if phase == ProjectPhase.SCORING:
        return "Final projects: pitch scoring is still open (staff close it)."
    return "Final projects are final."
