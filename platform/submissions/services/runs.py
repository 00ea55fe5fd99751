"""Moving runs through their states, and the staff actions that start or stop them.

Every state change goes through run_transition: one conditional UPDATE, so racing workers,
the reaper and staff cannot both win, and the entry's status and standing follow.
"""

import logging
import uuid
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from courses.models import Lab
from grader.specs import load_spec

from ..models import (
    ACTIVE,
    COUNTED,
    ENTRY_VERDICTS,
    Entry,
    GradingRun,
    RunEvent,
    Status,
    sources_of,
)
from ..splits import PRIVATE, PUBLIC
from ..standing import participant_standing_refresh, standings_changed

logger = logging.getLogger(__name__)

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
        if run.split == PRIVATE:
            if to in ENTRY_VERDICTS:
                _private_record(run)
        elif entry_public_runs(run.entry).values_list("pk", flat=True).first() == run_id:
            Entry.objects.filter(pk=run.entry_id).update(
                status=to, counts_toward_quota=to in COUNTED
            )
            participant_standing_refresh(run.entry.participant)
    return True


def entry_public_runs(entry: Entry):
    """The entry's runs on the public split, newest first: its own results (its private
    runs are recorded in them, and never move its status or quota)."""
    return entry.runs.filter(split=PUBLIC).order_by("-pk")


def _private_record(run: GradingRun) -> None:
    """Record a private run's verdict in the public run it completes: that split's scores,
    intervals, outcomes and chart data, and how the run went (`private_session`), which
    students see only once the private split is revealed to them. A verdict other than
    scored leaves no private scores: the private standings list the entry as unscored."""
    assert run.public_run_id is not None, "a private run completes a public run"
    public = GradingRun.objects.select_for_update(of=("self",)).get(pk=run.public_run_id)
    scored = run.status == Status.SCORED

    def with_private(field: dict, value) -> dict:
        kept = {k: v for k, v in (field or {}).items() if k != PRIVATE}
        return {**kept, PRIVATE: value} if scored and value is not None else kept

    details = dict(public.details or {})
    for key, value in (run.details or {}).items():
        if isinstance(value, dict) and PRIVATE in value and isinstance(details.get(key), dict):
            details[key] = with_private(details[key], value[PRIVATE])
    receipt = run.receipt or {}
    GradingRun.objects.filter(pk=public.pk).update(
        split_metrics=with_private(public.split_metrics, (run.split_metrics or {}).get(PRIVATE)),
        split_intervals=with_private(
            public.split_intervals, (run.split_intervals or {}).get(PRIVATE)
        ),
        outcomes=with_private(public.outcomes, (run.outcomes or {}).get(PRIVATE)),
        details=details,
        private_session={
            "status": run.status,
            "reason": run.reason,
            "logs": run.logs,
            "wall_time_s": receipt.get("wall_time_s", 0.0),
            "peak_memory_mb": receipt.get("peak_memory_mb", 0.0),
            "run": run.pk,
        },
    )
    standings_changed.send(sender=GradingRun, lab=run.entry.participant.lab)


def run_enqueue(run: GradingRun) -> None:
    """Ring the broker's doorbell once the run is committed."""
    from ..tasks import grade_run

    run_id, queue = run.pk, run.queue
    GradingRun.objects.filter(pk=run_id).update(enqueued_at=timezone.now())

    def ring() -> None:
        try:
            grade_run.apply_async(args=(run_id,), queue=queue)
        except Exception:  # noqa: BLE001 - the run is committed: never fail the upload for it
            # The broker is away (restarting): the reaper's next pass rings again.
            logger.warning("could not send run %s to the broker; the reaper will", run_id)
            GradingRun.objects.filter(pk=run_id, status=Status.QUEUED).update(enqueued_at=None)

    transaction.on_commit(ring)


def run_cancel(*, run: GradingRun, by: User) -> bool:
    return run_transition(run.pk, Status.CANCELLED, note=f"cancelled by {by.username}")


def entry_regrade(*, entry: Entry, by: User) -> GradingRun:
    """A new run for the entry against the image its last run used (pinned by digest)."""
    with transaction.atomic():
        last = entry_public_runs(entry).first()
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
