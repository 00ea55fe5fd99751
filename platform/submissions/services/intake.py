"""Taking an entry in: check the upload, store it with its SHA-256, queue its first run,
or refuse it with a reason (nothing is queued or counted then).
"""

import hashlib
import logging
import os
import shutil
import tempfile
import uuid
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone
from django.utils.text import get_valid_filename

from accounts.models import User
from core.errors import Refused
from courses import phases
from courses.models import Lab
from grader.entry import inspect_entry
from grader.errors import EntryRejected, PlatformError
from grader.pipeline import check_loads
from grader.specs import load_spec

from ..models import Entry, GradingRun, Participant, RunEvent, Status, entry_upload_path
from ..standing import entry_can_count, participant_standing_refresh
from .runs import run_enqueue

# .pth and .hdf5 too: what the course's notebooks write, so that a weights-only file is
# told what to do instead (grader.entry) rather than that its name is wrong.
ALLOWED_SUFFIXES = (".zip", ".keras", ".h5", ".hdf5", ".pt2", ".pt", ".pth", ".py")
WRITEUP_NAMES = {"writeup.md", "writeup.pdf"}
logger = logging.getLogger(__name__)


class SubmissionRefused(Refused):
    """An upload refused before anything was queued; the message is for the student."""


def _safe_name(original: str) -> str:
    name = Path(original.replace("\\", "/")).name
    suffix = Path(name).suffix.lower()
    stem = get_valid_filename(Path(name).stem)[:80] or "entry"
    return f"{stem}{suffix}"


def _stage_upload(
    upload: UploadedFile, limit_bytes: int, staging_dir: Path
) -> tuple[Path, str, int]:
    """Stream the upload to a staging file, hashing as it goes and stopping at the limit.

    The file keeps its (safe) name, in a folder of its own: what intake tells the student
    names their file, and some files are told apart by name (`model.weights.h5`)."""
    staging_dir.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    # entry_submit refuses an upload without a name before staging it.
    path = Path(tempfile.mkdtemp(dir=staging_dir)) / _safe_name(upload.name or "")
    try:
        with open(path, "xb") as out:
            for chunk in upload.chunks(1024 * 1024):
                size += len(chunk)
                if size > limit_bytes:
                    raise SubmissionRefused(
                        f"The file is larger than this lab's limit of {limit_bytes // 2**20} MB."
                    )
                digest.update(chunk)
                out.write(chunk)
    except BaseException:
        shutil.rmtree(path.parent, ignore_errors=True)
        raise
    return path, digest.hexdigest(), size


def _day_start(now: datetime, zone_name: str) -> datetime:
    local = timezone.localtime(now, ZoneInfo(zone_name))
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def lab_check_open(lab: Lab, now: datetime, user: User | None = None) -> None:
    """The upload window of `user` (the lab's, or their own extension's), asked of the
    lab's phase (courses.phases)."""
    phases.lab_require(lab, phases.UPLOAD, SubmissionRefused, user=user, now=now)


def entry_submit(
    *, user: User, lab: Lab, upload: UploadedFile, note: str = "", now: datetime | None = None
) -> Entry:
    """Check an upload, store it with its SHA-256 and queue it, or refuse it with a reason."""
    now = now or timezone.now()
    if not (user.is_student or user.is_course_staff):
        raise SubmissionRefused("Only students can submit entries.")
    if user.is_student and not lab.edition.enrollments.filter(user=user).exists():
        raise SubmissionRefused(f"You are not enrolled in {lab.edition.name}.")
    lab_check_open(lab, now, user if user.is_student else None)
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
        if info.kind in ("keras", "torch") and settings.UPLOAD_LOAD_CHECK:
            # Room in the quota first: a load in the sandbox is not free, and a student
            # who may upload nothing more gets no more of them (the upload rate bounds the
            # rest).
            with transaction.atomic():
                _participant_lock_within_quota(user=user, lab=lab, now=now)
            entry_check_loads(staged, lab)
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
        shutil.rmtree(staged.parent, ignore_errors=True)
    return entry


def entry_check_loads(staged: Path, lab: Lab) -> None:
    """Load a model file in a sandbox before anything is queued (grader.pipeline.check_loads):
    a file the grader's Keras or PyTorch cannot load is refused with the fix, at no quota
    cost. Where no sandbox can run here, the upload goes on: the graded run decides."""
    try:
        check_loads(
            lab.spec_id,
            staged,
            backend=settings.GRADER_BACKEND,
            private_paths=(
                settings.VAR_DIR,
                Path(settings.MEDIA_ROOT),
                Path(settings.GRADER_CACHE_DIR),
            ),
            time_limit_s=settings.UPLOAD_LOAD_CHECK_S,
        )
    except EntryRejected as rejected:
        raise SubmissionRefused(rejected.reason) from None
    except PlatformError as error:
        logger.warning("load check skipped for a %s upload: %s", lab.spec_id, error)


def _participant_lock_within_quota(*, user: User, lab: Lab, now: datetime) -> Participant:
    participant, _ = Participant.objects.get_or_create(lab=lab, user=user)
    # The row lock serialises one student's uploads to one lab, so N parallel uploads
    # cannot all see room under the limit (PostgreSQL; SQLite serialises writers anyway).
    participant = Participant.objects.select_for_update(of=("self",)).get(pk=participant.pk)
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


NOT_COUNTABLE = "Only a scored entry can be your final entry."


def entry_mark_final(*, user: User, entry: Entry, now: datetime | None = None) -> None:
    if entry.user_id != user.pk:
        raise SubmissionRefused("You can only choose your own entry.")
    # The counted entry is fixed when the student's own window closes (else they could
    # pick their best private score after the reveal).
    lab = Lab.objects.select_related("edition").get(pk=entry.lab_id)  # today's deadline
    phases.lab_require(lab, phases.CHOOSE_FINAL, SubmissionRefused, user=user, now=now)
    if not entry_can_count(entry):
        raise SubmissionRefused(NOT_COUNTABLE)
    Participant.objects.filter(pk=entry.participant_id).update(final_entry=entry)
    participant_standing_refresh(
        Participant.objects.select_related("lab").get(pk=entry.participant_id)
    )
