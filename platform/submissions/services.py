"""Use cases of the submission pipeline: upload, grade, record, cancel, re-grade, reap.

The database is the source of truth for every run; the broker only rings the doorbell.
A lost or duplicated Celery message therefore loses or double-records nothing: a run is
claimed by exactly one delivery (a fresh claim token), and only that claim may record.
"""

import hashlib
import json
import logging
import os
import tempfile
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone
from django.utils.text import get_valid_filename

from accounts.models import User
from courses.models import Lab
from grader.entry import inspect_entry
from grader.errors import EntryRejected, GradingCancelled, PlatformError
from grader.specs import load_spec
from leaderboards.services import participant_standing_refresh

from . import blobs
from .models import (
    ACTIVE,
    COUNTED,
    Entry,
    GradingRun,
    HiddenSet,
    Participant,
    RunEvent,
    Status,
    entry_upload_path,
    hidden_set_path,
    sources_of,
)

logger = logging.getLogger(__name__)

MAX_DELIVERIES = 3  # a run whose worker vanished this often is a platform fault
REDELIVER_QUEUED_AFTER = timedelta(minutes=5)
HEARTBEAT_STALE = timedelta(seconds=90)
RUN_GRACE = timedelta(minutes=5)  # beyond the lab's wall-time limit
LOG_CAP_BYTES = 64 * 1024
ALLOWED_SUFFIXES = (".zip", ".keras", ".h5", ".pt2", ".pt", ".py")
WRITEUP_NAMES = {"writeup.md", "writeup.pdf"}


class SubmissionRefused(Exception):
    """An upload refused before anything was queued; the message is for the student."""


# --- uploading -----------------------------------------------------------------------------


def _safe_name(original: str) -> str:
    name = Path(original.replace("\\", "/")).name
    suffix = Path(name).suffix.lower()
    stem = get_valid_filename(Path(name).stem)[:80] or "entry"
    return f"{stem}{suffix}"


def _stage_upload(
    upload: UploadedFile, limit_bytes: int, staging_dir: Path
) -> tuple[Path, str, int]:
    """Stream the upload to a staging file, hashing as it goes and stopping at the limit."""
    staging_dir.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    fd, tmp = tempfile.mkstemp(dir=staging_dir, suffix=Path(_safe_name(upload.name)).suffix)
    path = Path(tmp)
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in upload.chunks(1024 * 1024):
                size += len(chunk)
                if size > limit_bytes:
                    raise SubmissionRefused(
                        f"The file is larger than this lab's limit of {limit_bytes // 2**20} MB."
                    )
                digest.update(chunk)
                out.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path, digest.hexdigest(), size


def _day_start(now: datetime, zone_name: str) -> datetime:
    local = timezone.localtime(now, ZoneInfo(zone_name))
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def lab_check_open(lab: Lab, now: datetime) -> None:
    if now < lab.opens_at:
        raise SubmissionRefused(f"{lab.title} opens on {lab.opens_at_display}.")
    if now >= lab.closes_at:
        raise SubmissionRefused(
            f"The deadline for {lab.title} was {lab.closes_at_display}; "
            "late entries are not accepted."
        )


def entry_submit(
    *, user: User, lab: Lab, upload: UploadedFile, note: str = "", now: datetime | None = None
) -> Entry:
    """Check an upload, store it with its SHA-256 and queue it, or refuse it with a reason."""
    now = now or timezone.now()
    if not (user.is_student or user.is_course_staff):
        raise SubmissionRefused("Only students can submit entries.")
    if user.is_student and not lab.edition.enrollments.filter(user=user).exists():
        raise SubmissionRefused(f"You are not enrolled in {lab.edition.name}.")
    lab_check_open(lab, now)
    if not upload.name or not upload.name.lower().endswith(ALLOWED_SUFFIXES):
        raise SubmissionRefused(
            "Upload a model file (.keras, .h5, .pt2, .pt), a submission.py, or a .zip of them."
        )
    if len(note) > 200:
        raise SubmissionRefused("The note is at most 200 characters.")
    spec = load_spec(lab.spec_id)
    staging = Path(settings.MEDIA_ROOT) / "staging"
    staged, sha256, size = _stage_upload(upload, lab.max_upload_mb * 2**20, staging)
    try:
        try:
            info = inspect_entry(staged, spec)
        except EntryRejected as rejected:
            raise SubmissionRefused(rejected.reason) from None
        has_writeup = any(Path(f).name.lower() in WRITEUP_NAMES for f in info.files)
        if lab.needs_writeup and not has_writeup:
            raise SubmissionRefused(
                f"{lab.title} needs a write-up: upload a .zip holding your entry and "
                "writeup.md or writeup.pdf."
            )
        uid = uuid.uuid4()
        name = _safe_name(upload.name)
        relative = entry_upload_path(Entry(uid=uid, lab=lab), name)
        target = Path(settings.MEDIA_ROOT) / relative
        try:
            with transaction.atomic():
                participant = _participant_lock_within_quota(user=user, lab=lab, now=now)
                entry = Entry.objects.create(
                    uid=uid,
                    lab=lab,
                    user=user,
                    participant=participant,
                    file=relative,
                    original_name=name,
                    size_bytes=size,
                    sha256=sha256,
                    kind=info.kind,
                    has_writeup=has_writeup,
                    note=note.strip(),
                    created_at=now,
                )
                run = GradingRun.objects.create(
                    entry=entry, queue="gpu" if spec.limits.gpu else "cpu", queued_at=now
                )
                RunEvent.objects.create(run=run, to_status=Status.QUEUED, note="uploaded")
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(staged, target)
                run_enqueue(run)
        except BaseException:
            # The stored file must not outlive a rolled-back entry.
            target.unlink(missing_ok=True)
            raise
    finally:
        staged.unlink(missing_ok=True)
    return entry


def _participant_lock_within_quota(*, user: User, lab: Lab, now: datetime) -> Participant:
    participant, _ = Participant.objects.get_or_create(lab=lab, user=user)
    # The row lock serialises one student's uploads to one lab, so N parallel uploads
    # cannot all see room under the limit (PostgreSQL; SQLite serialises writers anyway).
    participant = Participant.objects.select_for_update().get(pk=participant.pk)
    counted = Entry.objects.filter(participant=participant, counts_toward_quota=True)
    if counted.count() >= lab.max_entries_total:
        raise SubmissionRefused(
            f"You have used all {lab.max_entries_total} entries for {lab.title}."
        )
    day_start = _day_start(now, lab.edition.time_zone)
    if counted.filter(created_at__gte=day_start).count() >= lab.max_entries_per_day:
        raise SubmissionRefused(
            f"You have used today's {lab.max_entries_per_day} entries for {lab.title}; "
            f"the count restarts at midnight {day_start.tzname()}. Entries that fail "
            "through a platform problem are not counted."
        )
    return participant


# --- moving runs through their states ------------------------------------------------------


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
    stamp = {
        Status.QUEUED: "queued_at",
        Status.RUNNING: "started_at",
        Status.SCORING: "scoring_at",
    }.get(to, "finished_at")
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
    from .tasks import grade_run

    run_id, queue = run.pk, run.queue
    GradingRun.objects.filter(pk=run_id).update(enqueued_at=timezone.now())
    transaction.on_commit(lambda: grade_run.apply_async(args=[run_id], queue=queue))


def run_claim(*, run_id: int, worker: str) -> uuid.UUID | None:
    """Claim a queued run for this delivery; None when another delivery has it or it ended."""
    claim = uuid.uuid4()
    now = timezone.now()
    with transaction.atomic():
        run = GradingRun.objects.select_for_update().filter(pk=run_id).first()
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
    recorded = run_transition(
        run_id,
        data["status"],
        if_claim=claim,
        note=data.get("reason", "")[:300],
        reason=data.get("reason", ""),
        metrics=data.get("metrics") or {},
        split_metrics=data.get("split_metrics") or {},
        details=data.get("details") or {},
        receipt=data.get("receipt") or {},
        logs=_cap_logs(data.get("logs") or ""),
    )
    if not recorded:
        return "stale"
    transaction.on_commit(lambda: entry_notify(run_id))
    return data["status"]


def _worker_scratch() -> Path:
    path = Path(settings.GRADER_CACHE_DIR) / "scratch"
    path.mkdir(parents=True, exist_ok=True)
    return path


class HiddenSetRefused(Exception):
    """The uploaded bundle is not a usable hidden set; the message says why."""


def hidden_set_upload(*, user: User, spec_id: str, upload: UploadedFile) -> HiddenSet:
    """Check a staff-uploaded set bundle against its lab spec and store it as the new version.

    The bundle is a zip of a set folder as `python -m grader dataset build` writes it
    (manifest.json, inputs/, labels/). Every file must match the manifest; the checksum
    recorded is the one recomputed from the files.
    """
    from grader.datasets import verify_set

    if not user.is_course_staff:
        raise HiddenSetRefused("Only staff can upload hidden sets.")
    try:
        spec = load_spec(spec_id)
    except PlatformError as error:
        raise HiddenSetRefused(str(error)) from None
    limit = settings.HIDDEN_SET_MAX_MB * 2**20
    staging = Path(settings.MEDIA_ROOT) / "staging"
    try:
        staged, sha256, size = _stage_upload(upload, limit, staging)
    except SubmissionRefused as refused:
        raise HiddenSetRefused(str(refused)) from None
    try:
        if HiddenSet.objects.filter(bundle_sha256=sha256).exists():
            raise HiddenSetRefused("This bundle was uploaded already.")
        with tempfile.TemporaryDirectory(dir=staging) as tmp:
            set_dir = Path(tmp) / spec.data.name
            try:
                blobs.unpack_bundle(staged, set_dir, limit)
            except blobs.BundleRefused as refused:
                raise HiddenSetRefused(f"Not a set bundle: {refused}") from None
            checksum, problems = verify_set(set_dir)
            if problems or checksum is None:
                why = "; ".join(problems)
                raise HiddenSetRefused(f"The set does not match its manifest: {why}")
            lab = json.loads((set_dir / "manifest.json").read_text(encoding="utf-8")).get("lab")
            if lab != spec.id:
                raise HiddenSetRefused(f"The manifest is for lab {lab!r}, not {spec.id}.")
        hidden_set = HiddenSet(
            spec_id=spec.id,
            name=spec.data.name,
            checksum=checksum,
            bundle_sha256=sha256,
            size_bytes=size,
            uploaded_by=user,
        )
        relative = hidden_set_path(hidden_set, "bundle.zip")
        target = Path(settings.MEDIA_ROOT) / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staged, target)
        hidden_set.bundle = relative
        try:
            hidden_set.save()
        except BaseException:
            target.unlink(missing_ok=True)
            raise
    finally:
        staged.unlink(missing_ok=True)
    return hidden_set


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


# --- staff actions and the reaper ----------------------------------------------------------


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


def runs_reap(now: datetime | None = None) -> dict[str, int]:
    """Re-queue or fail runs whose worker went silent; re-ring for runs the broker lost."""
    now = now or timezone.now()
    counts = {"requeued": 0, "failed": 0, "reenqueued": 0}
    # Taken first, so runs this pass re-queues are not rung twice.
    stale_queued = list(
        GradingRun.objects.filter(
            status=Status.QUEUED, enqueued_at__lt=now - REDELIVER_QUEUED_AFTER
        )
    )
    for run in GradingRun.objects.select_related("entry__lab").filter(
        status__in=[Status.RUNNING, Status.SCORING]
    ):
        limit = timedelta(seconds=load_spec(run.entry.lab.spec_id).limits.wall_time_s) + RUN_GRACE
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


def entry_mark_final(*, user: User, entry: Entry) -> None:
    if entry.user_id != user.pk:
        raise SubmissionRefused("You can only choose your own entry.")
    Participant.objects.filter(pk=entry.participant_id).update(final_entry=entry)
    participant_standing_refresh(
        Participant.objects.select_related("lab").get(pk=entry.participant_id)
    )
