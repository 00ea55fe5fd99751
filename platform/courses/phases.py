"""A lab's place on the course timeline, and the one question every action asks it.

    draft ──► open ──► closed ──► judging ──► final
              ▲  (deadline moved later, or a student's extension still running)
              └──────────┴──────────┘

- draft: before `opens_at`; nothing is allowed to students.
- open: someone's window is still open: the lab's deadline, or a student's own (an
  extension) is in the future. A student may upload and choose their counted entry only
  while *their own* window is open.
- closed: every window is over; the counted entries are fixed and meet the private split,
  each in a run of its own after its author's window; once every result is in, staff may
  reveal the private split, and judges score the finalists.
- judging: the private split is revealed; judges' scoring is still open.
- final: revealed and the judges' scoring closed (a lab without judges needs only the
  reveal). Prizes that depend on the lab may be confirmed only now.

The phase is computed from the dates and flags, never stored, so moving a deadline moves
the phase: a lab whose deadline is moved into the future is open again, its reveal is
dropped (`Lab.save`) and the counted-entry choice reopens.

Judging lives in a later app; it tells this module about a lab's scoring through
`register_judging_state`, and awards whether its winners were announced through
`register_results_lock` (courses imports no later app). Once they were, nothing may reopen
the lab: no deadline moved, no extension, no judging reopened, no reveal withdrawn.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Max
from django.utils import timezone

from accounts.models import User

from .models import Edition, Extension, Lab


class Phase:
    DRAFT, OPEN, CLOSED, JUDGING, FINAL = "draft", "open", "closed", "judging", "final"
    ORDER = (DRAFT, OPEN, CLOSED, JUDGING, FINAL)


# The actions that ask the phase, and who makes them.
UPLOAD = "upload"  # a student (their own window)
CHOOSE_FINAL = "choose_final"  # a student (their own window)
REVEAL = "reveal"  # staff, after the lab's deadline
JUDGING_CLOSE = "judging_close"  # staff, after every window
JUDGING_OPEN = "judging_open"  # staff (re-opening), until the lab's prizes are announced
MOVE_DEADLINE = "move_deadline"  # staff, until the lab's prizes are announced
GRANT_EXTENSION = "grant_extension"  # staff, until the lab's prizes are announced
HIDE_PRIVATE = "hide_private"  # staff, until the lab's prizes are announced
# Each of these could reopen a competition whose winners were told (see results_lock).
_REOPENING = (JUDGING_OPEN, MOVE_DEADLINE, GRANT_EXTENSION, HIDE_PRIVATE)

# judging state of a lab: None (the lab has no judges), "open" or "closed".
JudgingState = Callable[[Lab], str | None]
_judging_states: list[JudgingState] = []


def register_judging_state(hook: JudgingState) -> None:
    """Called by the judging app at start-up: how to tell whether a lab's scoring is closed."""
    if hook not in _judging_states:
        _judging_states.append(hook)


def _judging_state(lab: Lab) -> str | None:
    for hook in _judging_states:
        state = hook(lab)
        if state is not None:
            return state
    return None


# Why a competition's results may no longer change (its winners were announced), or None:
# asked with (edition, lab) for a lab, (edition, None) for the final projects.
ResultsLock = Callable[[Edition, Lab | None], str | None]
_results_locks: list[ResultsLock] = []


def register_results_lock(hook: ResultsLock) -> None:
    """Called by the awards app at start-up: whether a competition's winners were announced."""
    if hook not in _results_locks:
        _results_locks.append(hook)


def results_lock(lab: Lab) -> str | None:
    return _locked(lab.edition, lab)


def project_results_lock(edition: Edition) -> str | None:
    return _locked(edition, None)


def _locked(edition: Edition, lab: Lab | None) -> str | None:
    for hook in _results_locks:
        reason = hook(edition, lab)
        if reason:
            return reason
    return None


# How far a lab's private split is evaluated, as (done, due) over the students whose window
# has closed: an entry meets the private split only after its author's window, in a run of
# its own (submissions, a later app, tells through register_private_progress).
PrivateProgress = Callable[[Lab, datetime], tuple[int, int]]
_private_progress: list[PrivateProgress] = []


def register_private_progress(hook: PrivateProgress) -> None:
    """Called by the submissions app at start-up: how many private results are in."""
    if hook not in _private_progress:
        _private_progress.append(hook)


def private_progress(lab: Lab, now: datetime | None = None) -> tuple[int, int]:
    done = due = 0
    for hook in _private_progress:
        d, n = hook(lab, _now(now))
        done, due = done + d, due + n
    return done, due


def _now(now: datetime | None) -> datetime:
    return now or timezone.now()


def student_deadline(lab: Lab, user: User | None) -> datetime:
    """The deadline that applies to this student: the lab's, or a later extension's."""
    if user is None or not user.is_authenticated:
        return lab.closes_at
    extension = Extension.objects.filter(lab=lab, step=Extension.Step.LAB, user=user).first()
    if extension is not None and extension.closes_at > lab.closes_at:
        return extension.closes_at
    return lab.closes_at


def extended_deadlines(
    edition, lab: Lab | None, step: str, deadline: datetime
) -> dict[int, datetime]:
    """Every student with a later deadline than `deadline` for this lab (step LAB) or final
    project step (lab None): their own, by user id. One query, for messages to many people;
    student_deadline and step_deadline answer for one."""
    extensions = Extension.objects.filter(edition=edition, lab=lab, step=step)
    return {e.user_id: e.closes_at for e in extensions if e.closes_at > deadline}


def step_deadline(edition, user: User | None, step: str, deadline: datetime) -> datetime:
    """A final-project step's deadline for this student: the edition's, or their extension's
    (Extension.Step.SIGNUP, SLIDES or REVIEW) when later."""
    if user is None or not user.is_authenticated:
        return deadline
    extension = Extension.objects.filter(
        edition=edition, lab__isnull=True, step=step, user=user
    ).first()
    return max(deadline, extension.closes_at) if extension else deadline


def last_deadline(lab: Lab) -> datetime:
    """When the last window closes: the lab's deadline or its latest extension."""
    latest = Extension.objects.filter(lab=lab, step=Extension.Step.LAB).aggregate(
        m=Max("closes_at")
    )["m"]
    return max(lab.closes_at, latest) if latest else lab.closes_at


def reveal_in_force(lab: Lab, now: datetime | None = None) -> bool:
    """Staff revealed the private split, and the lab's deadline has passed since (a reveal
    never holds while the lab's own deadline is in the future)."""
    return lab.private_revealed and _now(now) >= lab.closes_at


def lab_phase(lab: Lab, now: datetime | None = None) -> str:
    now = _now(now)
    if now < lab.opens_at:
        return Phase.DRAFT
    if now < last_deadline(lab):
        return Phase.OPEN
    if not reveal_in_force(lab, now):
        return Phase.CLOSED
    # Scoring reopened by any path after the winners were announced changes nothing.
    if _judging_state(lab) == "open" and not results_lock(lab):
        return Phase.JUDGING
    return Phase.FINAL


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    reason: str = ""

    def __bool__(self) -> bool:
        return self.allowed


def lab_allows(
    lab: Lab, action: str, *, user: User | None = None, now: datetime | None = None
) -> Verdict:
    """The one question every lab action asks: may `user` do `action` now, and if not, why
    (a sentence to show on the page)."""
    now = _now(now)
    zone = lab.edition
    if action in (UPLOAD, CHOOSE_FINAL):
        if now < lab.opens_at:
            return Verdict(False, f"{lab.title} opens on {zone.format_time(lab.opens_at)}.")
        deadline = student_deadline(lab, user)
        if now >= deadline:
            if action == UPLOAD:
                return Verdict(
                    False,
                    f"The deadline for {lab.title} was {zone.format_time(deadline)}; "
                    "late entries are not accepted.",
                )
            return Verdict(
                False,
                f"{lab.title} closed {zone.format_time(deadline)}: your counted entry is fixed.",
            )
        return Verdict(True, f"{lab.title} closes {zone.format_time(deadline)}.")
    if action == REVEAL:
        if now < lab.closes_at:
            return Verdict(
                False,
                f"{lab.title} closes {zone.format_time(lab.closes_at)}: the private split "
                "can be revealed only after the deadline.",
            )
        done, due = private_progress(lab, now)
        if done < due:
            return Verdict(
                False,
                f"{lab.title}: the private split is being evaluated ({done} of {due} counted "
                "entries so far); the reveal waits for every result.",
            )
        return Verdict(True)
    if action == JUDGING_CLOSE:
        last = last_deadline(lab)
        if now < last:
            return Verdict(False, f"{lab.title}: the last window closes {zone.format_time(last)}.")
        return Verdict(True)
    if action in _REOPENING:
        locked = results_lock(lab)
        return Verdict(False, locked) if locked else Verdict(True)
    raise ValueError(f"unknown lab action {action!r}")


def lab_require(
    lab: Lab,
    action: str,
    refusal: type[Exception],
    *,
    user: User | None = None,
    now: datetime | None = None,
) -> None:
    verdict = lab_allows(lab, action, user=user, now=now)
    if not verdict:
        raise refusal(verdict.reason)


def lab_phase_reason(lab: Lab, now: datetime | None = None) -> str:
    """Why the lab is not final yet, e.g. 'Lab 1 closes January 26, 2027, 11:59 pm EST'."""
    now = _now(now)
    phase = lab_phase(lab, now)
    fmt = lab.edition.format_time
    if phase == Phase.DRAFT:
        return f"{lab.title} opens {fmt(lab.opens_at)}."
    if phase == Phase.OPEN:
        if now < lab.closes_at:
            return f"{lab.title} closes {fmt(lab.closes_at)}."
        return f"{lab.title}: an extension runs until {fmt(last_deadline(lab))}."
    if phase == Phase.CLOSED:
        return f"{lab.title} is closed; its private split is not revealed yet."
    if phase == Phase.JUDGING:
        return f"{lab.title}: judges' scoring is still open."
    return f"{lab.title} is final."
