"""Uploads: deadlines, quotas, hostile files. A refused upload leaves nothing behind."""

import hashlib
import io
import stat
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile

from submissions.models import Entry, GradingRun, Status
from submissions.services import intake, runs
from submissions.services.intake import SubmissionRefused
from uploads import LEFT, upload, zip_upload


def _nothing_queued():
    assert not Entry.objects.exists()
    assert not GradingRun.objects.exists()
    stored = Path(settings.MEDIA_ROOT) / "entries"
    staging = Path(settings.MEDIA_ROOT) / "staging"
    leftovers = [p for p in stored.rglob("*") if p.is_file()] if stored.exists() else []
    assert not [p for p in leftovers if "lab-test" in str(p) or "lab3-cartpole" in str(p)]
    assert not (list(staging.iterdir()) if staging.exists() else [])


def test_upload_is_stored_with_its_sha256_and_queued(enrolled, cartpole):
    entry = intake.entry_submit(user=enrolled, lab=cartpole, upload=upload(LEFT, "my_agent.py"))
    assert entry.sha256 == hashlib.sha256(LEFT).hexdigest()
    assert entry.size_bytes == len(LEFT)
    assert entry.kind == "code"
    assert Path(entry.file.path).read_bytes() == LEFT
    run = entry.runs.get()
    assert run.status == Status.QUEUED and run.queue == "cpu"
    assert [e.to_status for e in run.events.all()] == ["queued"]


def test_late_upload_is_refused_with_the_deadline_in_eastern_time(enrolled, cartpole):
    cartpole.opens_at = datetime(2027, 1, 1, tzinfo=UTC)
    cartpole.closes_at = datetime(2027, 1, 27, 4, 59, tzinfo=UTC)
    cartpole.save()
    just_before = datetime(2027, 1, 27, 4, 58, 59, tzinfo=UTC)
    intake.entry_submit(user=enrolled, lab=cartpole, upload=upload(), now=just_before)
    with pytest.raises(SubmissionRefused) as refused:
        intake.entry_submit(
            user=enrolled,
            lab=cartpole,
            upload=upload(),
            now=datetime(2027, 1, 27, 4, 59, tzinfo=UTC),
        )
    assert "January 26, 2027, 11:59 pm EST" in str(refused.value)
    assert "late entries are not accepted" in str(refused.value)
    assert Entry.objects.count() == 1


def test_upload_before_opening_is_refused(enrolled, cartpole):
    with pytest.raises(SubmissionRefused, match="opens on"):
        intake.entry_submit(
            user=enrolled,
            lab=cartpole,
            upload=upload(),
            now=cartpole.opens_at - timedelta(seconds=1),
        )
    _nothing_queued()


def test_only_enrolled_students_submit(cartpole, other_student, judge, make_user):
    stranger = make_user()
    with pytest.raises(SubmissionRefused, match="not enrolled"):
        intake.entry_submit(user=stranger, lab=cartpole, upload=upload())
    with pytest.raises(SubmissionRefused, match="Only students"):
        intake.entry_submit(user=judge, lab=cartpole, upload=upload())
    _nothing_queued()


def _zip_with_mode(name: str, data: bytes, mode: int) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        info = zipfile.ZipInfo(name)
        info.external_attr = mode << 16
        zf.writestr(info, data)
        zf.writestr("submission.py", LEFT)
    return SimpleUploadedFile("entry.zip", buffer.getvalue())


def _zip_bomb() -> SimpleUploadedFile:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("submission.py", LEFT)
        zf.writestr("padding.bin", b"\0" * (50 * 2**20))
    return SimpleUploadedFile("bomb.zip", buffer.getvalue())


HOSTILE = {
    "dot-dot path": (lambda: zip_upload({"../evil.py": b"x", "submission.py": LEFT}), "path"),
    "absolute path": (lambda: zip_upload({"/etc/evil.py": b"x", "submission.py": LEFT}), "path"),
    "symlink member": (
        lambda: _zip_with_mode("link", b"/etc/passwd", stat.S_IFLNK | 0o777),
        "link",
    ),
    "zip bomb": (_zip_bomb, "zip bomb"),
    "not a zip": (lambda: SimpleUploadedFile("entry.zip", b"PK\x03\x04 garbage"), "zip"),
    "empty file": (lambda: SimpleUploadedFile("submission.py", b""), "empty"),
    "no entry inside": (lambda: zip_upload({"notes.txt": b"hello"}), "no entry"),
    "many members": (
        lambda: zip_upload({f"f{i}.txt": b"" for i in range(5000)} | {"submission.py": LEFT}),
        "",
    ),
    "wrong extension": (lambda: SimpleUploadedFile("model.exe", b"MZ"), "Upload a model file"),
    "duplicate names": (lambda: _duplicate_names(), "twice"),
}


def _duplicate_names() -> SimpleUploadedFile:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("submission.py", LEFT)
        zf.writestr("submission.py", b"import os\n")
    return SimpleUploadedFile("dup.zip", buffer.getvalue())


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_uploads_are_refused_clearly_and_nothing_is_queued(enrolled, cartpole, case):
    make, words = HOSTILE[case]
    with pytest.raises(SubmissionRefused) as refused:
        intake.entry_submit(user=enrolled, lab=cartpole, upload=make())
    message = str(refused.value)
    assert len(message) > 15
    assert words.lower() in message.lower()
    _nothing_queued()


def test_upload_over_the_labs_size_limit_is_refused(enrolled, cartpole):
    cartpole.max_upload_mb = 1
    cartpole.save()
    big = SimpleUploadedFile("submission.py", LEFT + b"#" * (2 * 2**20))
    with pytest.raises(SubmissionRefused, match="limit of 1 MB"):
        intake.entry_submit(user=enrolled, lab=cartpole, upload=big)
    _nothing_queued()


def test_writeup_required_where_the_lab_says_so(enrolled, cartpole):
    cartpole.needs_writeup = True
    cartpole.save()
    with pytest.raises(SubmissionRefused, match="needs a write-up"):
        intake.entry_submit(user=enrolled, lab=cartpole, upload=upload())
    entry = intake.entry_submit(
        user=enrolled,
        lab=cartpole,
        upload=zip_upload({"submission.py": LEFT, "writeup.md": b"# How I did it"}),
    )
    assert entry.has_writeup


def test_total_and_daily_quotas(enrolled, cartpole):
    cartpole.max_entries_per_day = 2
    cartpole.max_entries_total = 3
    cartpole.save()
    day1 = datetime.now(UTC).replace(hour=12, minute=0) - timedelta(hours=6)
    for _ in range(2):
        intake.entry_submit(user=enrolled, lab=cartpole, upload=upload(), now=day1)
    with pytest.raises(SubmissionRefused, match="today's 2 entries"):
        intake.entry_submit(user=enrolled, lab=cartpole, upload=upload(), now=day1)
    day2 = day1 + timedelta(days=1)
    if day2 >= cartpole.closes_at:
        cartpole.closes_at = day2 + timedelta(days=1)
        cartpole.save()
    intake.entry_submit(user=enrolled, lab=cartpole, upload=upload(), now=day2)
    with pytest.raises(SubmissionRefused, match="all 3 entries"):
        intake.entry_submit(user=enrolled, lab=cartpole, upload=upload(), now=day2)


def test_platform_faults_and_cancellations_are_refunded(enrolled, cartpole, staff):
    cartpole.max_entries_total = 2
    cartpole.save()
    first = intake.entry_submit(user=enrolled, lab=cartpole, upload=upload())
    second = intake.entry_submit(user=enrolled, lab=cartpole, upload=upload())
    with pytest.raises(SubmissionRefused):
        intake.entry_submit(user=enrolled, lab=cartpole, upload=upload())
    runs.run_transition(first.runs.get().pk, Status.ERROR, note="platform fault")
    runs.run_cancel(run=second.runs.get(), by=staff)
    first.refresh_from_db()
    assert not first.counts_toward_quota and first.status == Status.ERROR
    intake.entry_submit(user=enrolled, lab=cartpole, upload=upload())
    intake.entry_submit(user=enrolled, lab=cartpole, upload=upload())
    with pytest.raises(SubmissionRefused, match="all 2 entries"):
        intake.entry_submit(user=enrolled, lab=cartpole, upload=upload())


def test_entry_verdicts_count_against_the_quota(enrolled, cartpole):
    cartpole.max_entries_total = 1
    cartpole.save()
    entry = intake.entry_submit(user=enrolled, lab=cartpole, upload=upload())
    run = entry.runs.get()
    runs.run_transition(run.pk, Status.RUNNING)
    runs.run_transition(run.pk, Status.FAILED, reason="your code crashed")
    with pytest.raises(SubmissionRefused, match="all 1 entries"):
        intake.entry_submit(user=enrolled, lab=cartpole, upload=upload())
