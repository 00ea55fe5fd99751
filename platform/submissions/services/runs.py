"""Moving runs through their states, and the staff actions that start or stop them.

Every state change goes through run_transition: one conditional UPDATE, so racing workers,
the reaper and staff cannot both win, and the entry's status and standing follow.
"""

import uuid
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from courses.models import Lab
from grader.specs import load_spec

from ..models import ACTIVE, COUNTED, Entry, GradingRun, RunEvent, Status, sources_of
from ..standing import participant_standing_refresh

MAX_DELIVERIES = 3  # a run whose worker vanished this often is a platform fault


def run_transition(
    run_id: int,
    to: str,
    *,
    if_claim: uuid.UUID | None = None,
    note: str = "",
    now: datetime | None = None,
    **fields,
) -> bool:
    """Move a run to `to` if that is legal from its current state (and, when given, the
    claim still holds). One conditional UPDATE, so racing workers and staff cannot both win."""
    now = now or timezone.now()
    stamps: dict[str, str] = {
        Status.QUEUED: "queued_at",
        Status.RUNNING: "started_at",
        Status.SCORING: "scoring_at",
    }
    stamp = stamps.get(to, "finished_at")
    with transaction.atomic():
        current = GradingRun.objects.filter(pk=run_id).values_list("status", flat=True).first()
        if current is None:
            return False
        runs = GradingRun.objects.filter(pk=run_id, status__in=sources_of(to))
        if if_claim is not None:
            runs = runs.filter(claim=if_claim)
        if not runs.update(status=to, **{stamp: now}, **fields):
            return False
        RunEvent.objects.create(
            run_id=run_id, at=now, from_status=current, to_status=to, note=note[:300]
        )
        run = GradingRun.objects.select_related("entry__participant__lab").get(pk=run_id)
        if run.entry.runs.order_by("-pk").values_list("pk", flat=True).first() == run_id:
            Entry.objects.filter(pk=run.entry_id).update(
                status=to, counts_toward_quota=to in COUNTED
            )
            participant_standing_refresh(run.entry.participant)
    return True


def run_enqueue(run: GradingRun) -> None:
    """Ring the broker's doorbell once the run is committed."""
    from ..tasks import grade_run

    run_id, queue = run.pk, run.queue
    GradingRun.objects.filter(pk=run_id).update(enqueued_at=timezone.now())
    transaction.on_commit(lambda: grade_run.apply_async(args=(run_id,), queue=queue))


def run_cancel(*, run: GradingRun, by: User) -> bool:
    return run_transition(run.pk, Status.CANCELLED, note=f"cancelled by {by.username}")


def entry_regrade(*, entry: Entry, by: User) -> GradingRun:
    """A new run for the entry against the image its last run used (pinned by digest)."""
    with transaction.atomic():
        last = entry.runs.order_by("-pk").first()
        if last is not None and last.status in ACTIVE:
            run_transition(
                last.pk, Status.CANCELLED, note=f"superseded by a re-grade ({by.username})"
            )
        pinned = ((last.receipt or {}).get("image_digest") or "") if last else ""
        run = GradingRun.objects.create(
            entry=entry,
            queue="gpu" if load_spec(entry.lab.spec_id).limits.gpu else "cpu",
            requested_by=by,
            pinned_image=pinned,
        )
        RunEvent.objects.create(run=run, to_status=Status.QUEUED, note=f"re-grade by {by.username}")
        Entry.objects.filter(pk=entry.pk).update(status=Status.QUEUED, counts_toward_quota=True)
        participant_standing_refresh(entry.participant)
        run_enqueue(run)
    return run


def lab_regrade_all(*, lab: Lab, by: User) -> int:
    entries = list(lab.entries.all())
    for entry in entries:
        entry_regrade(entry=entry, by=by)
    return len(entries)
