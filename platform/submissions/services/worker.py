"""What a grading worker does with a delivery: claim the run, grade it, record the report
once (only the claim that holds may record), and tell the student.
"""

import logging
import tempfile
import uuid
from pathlib import Path

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from grader.errors import GradingCancelled, PlatformError

from .. import blobs
from ..models import ACTIVE, GradingRun, Status
from ..splits import PUBLIC
from .runs import MAX_DELIVERIES, run_enqueue, run_transition

logger = logging.getLogger(__name__)

LOG_CAP_BYTES = 64 * 1024


def run_claim(*, run_id: int, worker: str) -> uuid.UUID | None:
    """Claim a queued run for this delivery; None when another delivery has it or it ended."""
    claim = uuid.uuid4()
    now = timezone.now()
    with transaction.atomic():
        run = GradingRun.objects.select_for_update(of=("self",)).filter(pk=run_id).first()
        if run is None or run.status != Status.QUEUED:
            return None
        moved = run_transition(
            run_id,
            Status.RUNNING,
            note=f"picked up by {worker}",
            now=now,
            claim=claim,
            worker=worker[:255],
            heartbeat_at=now,
            deliveries=run.deliveries + 1,
        )
    return claim if moved else None


def run_heartbeat(*, run_id: int, claim: uuid.UUID) -> bool:
    """Refresh the heartbeat; False when the run is no longer ours (cancelled or reaped)."""
    return bool(
        GradingRun.objects.filter(pk=run_id, claim=claim, status__in=ACTIVE).update(
            heartbeat_at=timezone.now()
        )
    )


def _cap_logs(text: str) -> str:
    data = text.encode("utf-8", errors="replace")
    if len(data) <= LOG_CAP_BYTES:
        return text
    return "[… earlier output cut …]\n" + data[-LOG_CAP_BYTES:].decode("utf-8", errors="replace")


def _private_session(private: dict | None) -> dict:
    """The private split's session as stored: its log capped like the run's own."""
    if not private:
        return {}
    return {**private, "logs": _cap_logs(private.get("logs") or "")}


def run_execute(*, run_id: int, worker: str) -> str:
    """What a Celery delivery does: claim the run, grade it, record the report once."""
    from grader.pipeline import GradeRequest, grade

    claim = run_claim(run_id=run_id, worker=worker)
    if claim is None:
        return "skipped"
    run = GradingRun.objects.select_related("entry__lab").get(pk=run_id)
    last_check = [0.0]
    still_ours = [True]

    def on_event(kind: str, data: dict) -> None:
        if kind == "scoring":
            run_transition(run_id, Status.SCORING, if_claim=claim, heartbeat_at=timezone.now())
        else:
            still_ours[0] = run_heartbeat(run_id=run_id, claim=claim)

    def cancelled() -> bool:
        # A cheap query at most once a second: has staff cancelled, or the reaper taken it?
        now = timezone.now().timestamp()
        if now - last_check[0] >= 1.0:
            last_check[0] = now
            still_ours[0] = run_heartbeat(run_id=run_id, claim=claim)
        return not still_ours[0]

    try:
        # Uploads and uploaded hidden sets come by digest, verified, from the site's storage
        # (fetched over the network when the worker is on another machine).
        with tempfile.TemporaryDirectory(prefix="entry-", dir=_worker_scratch()) as scratch:
            hidden_set = blobs.current_hidden_set(run.entry.lab.spec_id)
            request = GradeRequest(
                lab_id=run.entry.lab.spec_id,
                entry_path=blobs.entry_copy(run.entry, Path(scratch)),
                hidden_dir=(
                    blobs.hidden_set_dir(hidden_set) if hidden_set else settings.GRADER_HIDDEN_DIR
                ),
                expected_checksum=hidden_set.checksum if hidden_set else None,
                backend=settings.GRADER_BACKEND,
                cancel=cancelled,
                # The database, the broker's folder, every upload and the worker's cache stay
                # out of the sandbox's sight.
                private_paths=(
                    settings.VAR_DIR,
                    Path(settings.MEDIA_ROOT),
                    Path(settings.GRADER_CACHE_DIR),
                ),
                image=run.pinned_image or None,
                splits=(run.split,),
            )
            report = grade(request, on_event=on_event)
    except GradingCancelled:
        return "cancelled"
    except (PlatformError, blobs.BlobUnavailable, blobs.BundleRefused) as error:
        return _run_platform_fault(run_id, claim, str(error))
    except Exception as error:  # noqa: BLE001  (a grader bug is ours, never the student's)
        logger.exception("grading run %s crashed", run_id)
        return _run_platform_fault(run_id, claim, f"internal error: {type(error).__name__}")
    data = report.to_dict()
    details = data.get("details") or {}
    # Intervals and per-example outcomes have their own fields: the outcomes of the private
    # split must not show wherever details do.
    split_intervals = details.pop("intervals", None) or {}
    outcomes = details.pop("outcomes", None) or {}
    recorded = run_transition(
        run_id,
        data["status"],
        if_claim=claim,
        note=data.get("reason", "")[:300],
        reason=data.get("reason", ""),
        metrics=data.get("metrics") or {},
        split_metrics=data.get("split_metrics") or {},
        details=details,
        split_intervals=split_intervals,
        outcomes=outcomes,
        receipt=data.get("receipt") or {},
        logs=_cap_logs(data.get("logs") or ""),
        private_session=_private_session(data.get("private_session")),
    )
    if not recorded:
        return "stale"
    if run.split == PUBLIC:
        # A private run's outcome reaches its author only with the reveal (the entry page).
        transaction.on_commit(lambda: entry_notify(run_id))
    return data["status"]


def _worker_scratch() -> Path:
    path = Path(settings.GRADER_CACHE_DIR) / "scratch"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _run_platform_fault(run_id: int, claim: uuid.UUID, reason: str) -> str:
    run = GradingRun.objects.get(pk=run_id)
    if run.deliveries < MAX_DELIVERIES and run_transition(
        run_id,
        Status.QUEUED,
        if_claim=claim,
        claim=None,
        note=f"platform problem, retrying: {reason}",
    ):
        run_enqueue(run)
        return "retrying"
    run_transition(
        run_id,
        Status.ERROR,
        if_claim=claim,
        note=reason,
        reason=(
            "Grading could not finish because of a problem on our side "
            f"({reason}). This entry does not count against your limits."
        ),
    )
    return "error"


def entry_notify(run_id: int) -> None:
    run = GradingRun.objects.select_related("entry__lab", "entry__user").get(pk=run_id)
    entry = run.entry
    if not entry.user.email:
        return
    if run.status == Status.SCORED:
        summary = ", ".join(
            f"{k} = {v:.4g}" for k, v in (run.split_metrics.get("public") or {}).items()
        )
        body = f"Your entry was scored on the public test split: {summary or 'no metrics'}."
    else:
        body = f"Your entry ended with status '{run.get_status_display()}': {run.reason}"
    try:
        send_mail(
            subject=f"[6.S191] {entry.lab.title}: entry #{entry.pk} {run.get_status_display()}",
            message=f"{body}\n\nDetails: {settings.SITE_URL}/entries/{entry.pk}/\n",
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=[entry.user.email],
        )
    except Exception:  # noqa: BLE001  (a mail outage must not undo a recorded grade)
        logger.exception("could not email the result of run %s", run_id)
