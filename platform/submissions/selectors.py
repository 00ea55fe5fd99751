from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404

from accounts.models import User
from courses.models import Lab
from grader.specs import load_spec

from .models import ACTIVE, Entry, GradingRun, Status
from .splits import sees_private, visible_splits


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
    return entry.runs.order_by("-pk").first()


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
