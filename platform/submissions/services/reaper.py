"""The reaper: re-queue or fail runs whose worker went silent or overran, and ring again for
queued runs the broker may have lost.
"""

from datetime import datetime, timedelta

from django.db.models import Q
from django.utils import timezone

from grader.pipeline import sandbox_time_budget_s
from grader.specs import load_spec

from ..models import GradingRun, Status
from .runs import MAX_DELIVERIES, run_enqueue, run_transition

REDELIVER_QUEUED_AFTER = timedelta(minutes=5)
HEARTBEAT_STALE = timedelta(seconds=90)
RUN_GRACE = timedelta(minutes=5)  # beyond the lab's wall-time limit


def runs_reap(now: datetime | None = None) -> dict[str, int]:
    """Re-queue or fail runs whose worker went silent; re-ring for runs the broker lost."""
    now = now or timezone.now()
    counts = {"requeued": 0, "failed": 0, "reenqueued": 0}
    # Taken first, so runs this pass re-queues are not rung twice.
    stale_queued = list(
        # Never sent (the broker was away when it was queued), or sent long ago and lost.
        GradingRun.objects.filter(status=Status.QUEUED).filter(
            Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=now - REDELIVER_QUEUED_AFTER)
        )
    )
    for run in GradingRun.objects.select_related("entry__lab").filter(
        status__in=[Status.RUNNING, Status.SCORING]
    ):
        budget = sandbox_time_budget_s(load_spec(run.entry.lab.spec_id))
        limit = timedelta(seconds=budget) + RUN_GRACE
        silent = run.is_silent(now, HEARTBEAT_STALE)
        overdue = run.started_at is not None and now - run.started_at > limit
        if not (silent or overdue):
            continue
        why = "its grading worker stopped responding" if silent else "it ran past its time limit"
        if run.deliveries < MAX_DELIVERIES and run_transition(
            run.pk,
            Status.QUEUED,
            if_claim=run.claim,
            claim=None,
            note=f"reaper: {why}; re-queued",
            now=now,
        ):
            run_enqueue(run)
            counts["requeued"] += 1
        elif run_transition(
            run.pk,
            Status.ERROR,
            if_claim=run.claim,
            now=now,
            note=f"reaper: {why}",
            reason=(
                f"Grading stopped because {why}, {run.deliveries} times. This is a platform "
                "problem: the entry does not count against your limits, and staff can re-grade it."
            ),
        ):
            counts["failed"] += 1
    for run in stale_queued:
        # The broker may have lost the message (a restart without persistence): ring again.
        # A duplicate delivery is harmless, since only one can claim the run.
        run_enqueue(run)
        counts["reenqueued"] += 1
    return counts
