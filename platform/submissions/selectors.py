from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q, QuerySet
from django.http import Http404
from django.utils import timezone

from accounts.models import Role, User
from courses import phases
from courses.models import Extension, Lab
from grader.specs import load_spec

from .models import ACTIVE, Entry, GradingRun, Participant, Status
from .splits import PRIVATE, PUBLIC, sees_private, visible_splits


def entry_find(entry_id: int) -> Entry | None:
    """An entry with what its pages show about it; the access gates build on this."""
    return (
        Entry.objects.select_related("lab__edition", "user", "participant")
        .filter(pk=entry_id)
        .first()
    )


def access_entry(user: User, entry_id: int) -> Entry:
    """The one gate for reading an entry, its file, logs and scores: its owner and staff.

    Anyone else gets a 404, so entry ids reveal nothing about other students."""
    if not user.is_authenticated:
        raise PermissionDenied("Log in to see entries.")
    entry = entry_find(entry_id)
    if entry is None or not (entry.user_id == user.pk or user.is_course_staff):
        raise Http404("No such entry.")
    return entry


def entry_latest_run(entry: Entry) -> GradingRun | None:
    """The entry's current result: its newest public-split run (its private runs are
    recorded in the public run they complete)."""
    return entry.runs.filter(split=PUBLIC).order_by("-pk").first()


def entries_of(user: User, lab: Lab | None = None) -> QuerySet[Entry]:
    entries = Entry.objects.filter(user=user).select_related("lab__edition", "participant")
    return entries.filter(lab=lab) if lab else entries


def run_queue_position(run: GradingRun) -> int | None:
    """1 for the next run its queue will grade; None once the run has left the queue."""
    if run.status != Status.QUEUED:
        return None
    ahead = GradingRun.objects.filter(
        status=Status.QUEUED, queue=run.queue, queued_at__lt=run.queued_at
    ).count()
    return ahead + 1


def visible_metrics(entry: Entry, run: GradingRun | None, user: User) -> dict:
    """The run's metrics on each split `user` may see."""
    if run is None or run.status != Status.SCORED:
        return {}
    split = run.split_metrics or {}
    return {name: split.get(name, {}) for name in visible_splits(user, entry.lab)}


# Per-split figure data of a run's details (grader.scoring): ROC points, sample images.
FIGURES = ("roc_curve", "cam_samples")


def figures_split(user: User, lab: Lab, details: dict) -> str:
    """The split whose figures the entry page shows `user`: the most private split they may
    see (submissions.splits) that has any; the public one otherwise."""
    for split in reversed(visible_splits(user, lab)):
        if any(isinstance(details.get(k), dict) and split in details[k] for k in FIGURES):
            return split
    return PUBLIC


def visible_private_session(entry: Entry, run: GradingRun | None, user: User) -> dict | None:
    """How the run's private episodes went (status, reason, log), for whom may see it; None
    when there is none or it is withheld. Until the reveal a student learns nothing of it,
    not even whether it failed: their run shows the public session's status and log."""
    if run is None or not run.private_session or not sees_private(user, entry.lab):
        return None
    return run.private_session


def metric_rows(entry: Entry, shown: dict, run: GradingRun | None) -> dict[str, list[dict]]:
    """Each split's metrics in the lab spec's order, with their labels, units and the 95 %
    interval the run stored (only for the splits in `shown`: those the reader may see)."""
    spec = load_spec(entry.lab.spec_id)
    intervals = (run.split_intervals or {}) if run else {}
    return {
        split: [
            {
                "name": m.name,
                "label": m.label,
                "unit": m.unit,
                "value": values[m.name],
                "ci": (intervals.get(split) or {}).get(m.name) or [],
                "metric": m,
            }
            for m in spec.metrics
            if m.name in values
        ]
        for split, values in shown.items()
    }


def runs_in_flight() -> QuerySet[GradingRun]:
    return (
        GradingRun.objects.filter(status__in=ACTIVE)
        .select_related("entry__lab__edition", "entry__user")
        .order_by("queued_at")
    )


# Private runs of one public run that may end refunded (a platform fault, a cancel) before
# the sweep stops trying and the timeline asks staff to re-grade the entry.
MAX_PRIVATE_TRIES = 3
FAILED_TRIES = (Status.CANCELLED, Status.ERROR)


def has_private_result(prefix: str = "") -> Q:
    """A public run whose private split has a verdict recorded (selectors and sweep agree)."""
    return Q(**{f"{prefix}split_metrics__has_key": PRIVATE}) | ~Q(
        **{f"{prefix}private_session": {}}
    )


def closed_windows(lab: Lab, now: datetime) -> QuerySet[Participant]:
    """The lab's non-staff participants whose own window has closed by `now`."""
    if now < lab.closes_at:
        return Participant.objects.none()
    extended = phases.extended_deadlines(lab.edition, lab, Extension.Step.LAB, lab.closes_at)
    still_open = [user_id for user_id, until in extended.items() if until > now]
    return (
        Participant.objects.filter(lab=lab)
        .exclude(user__role=Role.STAFF)
        .exclude(user__is_superuser=True)
        .exclude(user_id__in=still_open)
    )


@dataclass(frozen=True)
class PrivateProgress:
    """How far a lab's private split is evaluated, over the students whose window has closed
    and who have a counted (standing) run."""

    done: int  # their private run ended with a verdict, recorded
    due: int
    stuck: int  # refunded MAX_PRIVATE_TRIES times: staff must re-grade the entry

    @property
    def complete(self) -> bool:
        return self.done >= self.due


def lab_private_progress(lab: Lab, now: datetime | None = None) -> PrivateProgress:
    now = now or timezone.now()
    counted = closed_windows(lab, now).filter(standing_run__isnull=False)
    done = counted.filter(has_private_result("standing_run__")).count()
    stuck = (
        counted.exclude(has_private_result("standing_run__"))
        .annotate(
            refunded=Count(
                "standing_run__private_runs",
                filter=Q(standing_run__private_runs__status__in=FAILED_TRIES),
            )
        )
        .filter(refunded__gte=MAX_PRIVATE_TRIES)
        .count()
    )
    return PrivateProgress(done=done, due=counted.count(), stuck=stuck)
