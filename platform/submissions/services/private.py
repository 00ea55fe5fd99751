"""The private split, evaluated after each author's window (docs/private-split.md).

An entry meets the private split only once its author can no longer act on anything it
printed there: after their own window (the lab's deadline, or their extension) has closed,
in a sandbox run of its own, and only the run that counts for them under the lab's
selection rule (their standing run). Whatever that run leaves in the kernel (the page cache
of shared library files is readable by timing, and no namespace isolates it) then reaches no
run whose log its author reads before the reveal. Staff entries (the reference rows) meet it
at once: staff see that split anyway. The beat asks every minute, so each student's run is
queued within a minute of their own deadline; the reveal waits for the results
(selectors.lab_private_progress).
"""

from datetime import datetime

from django.db import transaction
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from accounts.models import Role
from courses.models import Lab

from ..models import ACTIVE, ENTRY_VERDICTS, Entry, GradingRun, RunEvent, Status
from ..selectors import FAILED_TRIES, MAX_PRIVATE_TRIES, closed_windows, has_private_result
from ..splits import PRIVATE, PUBLIC
from ..standing import scored_current_runs
from .runs import run_enqueue


def _owed(runs: QuerySet[GradingRun]) -> QuerySet[GradingRun]:
    """Those of these public runs that still owe a private run: no verdict recorded, none in
    flight or finished, and fewer than MAX_PRIVATE_TRIES refunded."""
    live = GradingRun.objects.filter(public_run=OuterRef("pk"), status__in=ACTIVE | ENTRY_VERDICTS)
    return (
        runs.filter(split=PUBLIC, status=Status.SCORED)
        .exclude(has_private_result())
        .exclude(Exists(live))
        .annotate(refunded=Count("private_runs", filter=Q(private_runs__status__in=FAILED_TRIES)))
        .filter(refunded__lt=MAX_PRIVATE_TRIES)
    )


def private_runs_queue(now: datetime | None = None) -> int:
    """The beat's task: queue a private run for every standing run whose author's window has
    closed, and for every staff entry, that has none yet. Returns how many were queued."""
    now = now or timezone.now()
    owed: list[int] = []
    for lab in Lab.objects.select_related("edition").filter(closes_at__lte=now):
        standing = closed_windows(lab, now).values("standing_run")
        owed += _owed(GradingRun.objects.filter(pk__in=standing)).values_list("pk", flat=True)
    staff_runs = scored_current_runs(
        Entry.objects.filter(Q(user__role=Role.STAFF) | Q(user__is_superuser=True))
    )
    owed += _owed(GradingRun.objects.filter(pk__in=[r.pk for r in staff_runs])).values_list(
        "pk", flat=True
    )
    return sum(1 for pk in dict.fromkeys(owed) if private_run_queue(public_run_id=pk, now=now))


def private_run_queue(*, public_run_id: int, now: datetime | None = None) -> GradingRun | None:
    """Queue the private run of one public run, unless it no longer owes one (checked again
    under the public run's row lock, so two sweeps never queue it twice)."""
    now = now or timezone.now()
    with transaction.atomic():
        list(
            GradingRun.objects.select_for_update(of=("self",))
            .filter(pk=public_run_id)
            .values_list("pk")
        )
        public = _owed(GradingRun.objects.filter(pk=public_run_id)).first()
        if public is None:
            return None
        run = GradingRun.objects.create(
            entry_id=public.entry_id,
            split=PRIVATE,
            public_run=public,
            queue=public.queue,
            queued_at=now,
            # The private split is graded by what graded the public one.
            pinned_image=(public.receipt or {}).get("image_digest") or "",
        )
        RunEvent.objects.create(
            run=run, at=now, to_status=Status.QUEUED, note="private split, after the window"
        )
        run_enqueue(run)
    return run
