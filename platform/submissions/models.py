import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

from courses.models import Lab

from .splits import PRIVATE, PUBLIC


class Status(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SCORING = "scoring", "Scoring"
    SCORED = "scored", "Scored"
    FAILED = "failed", "Failed"
    TIMEOUT = "timeout", "Timed out"
    OOM = "oom", "Out of memory"
    INVALID_OUTPUT = "invalid_output", "Invalid output"
    REJECTED = "rejected", "Rejected"
    CANCELLED = "cancelled", "Cancelled"
    ERROR = "error", "Platform error"


ACTIVE = frozenset({Status.QUEUED, Status.RUNNING, Status.SCORING})
# The grader's verdicts: the entry's own doing, so they count against the quota.
ENTRY_VERDICTS = frozenset(
    {
        Status.SCORED,
        Status.FAILED,
        Status.TIMEOUT,
        Status.OOM,
        Status.INVALID_OUTPUT,
        Status.REJECTED,
    }
)
FINAL = ENTRY_VERDICTS | {Status.CANCELLED, Status.ERROR}
# Entries in flight count too, so parallel uploads cannot slip past the limit; a cancelled
# run or a platform fault is refunded.
COUNTED = ACTIVE | ENTRY_VERDICTS

# The legal moves of a grading run. Re-grading makes a new run; a final state never moves.
TRANSITIONS: dict[str, frozenset[str]] = {
    Status.QUEUED: frozenset({Status.RUNNING, Status.CANCELLED, Status.ERROR}),
    Status.RUNNING: frozenset(
        {Status.SCORING, Status.QUEUED, Status.CANCELLED, Status.ERROR} | ENTRY_VERDICTS
    ),
    Status.SCORING: frozenset({Status.QUEUED, Status.CANCELLED, Status.ERROR} | ENTRY_VERDICTS),
    **{status: frozenset() for status in FINAL},
}


def sources_of(target: str) -> list[str]:
    return [source for source, targets in TRANSITIONS.items() if target in targets]


class Participant(models.Model):
    """A student taking part in one lab competition: the row that serialises their uploads."""

    lab = models.ForeignKey(Lab, on_delete=models.CASCADE, related_name="participants")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="participations"
    )
    final_entry = models.ForeignKey(
        "Entry", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # The scored run that stands for the student on the leaderboard under the lab's selection
    # rule, kept current as runs finish, so a leaderboard reads one row per student.
    standing_run = models.ForeignKey(
        "GradingRun", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["lab", "user"], name="one_participant")]

    def __str__(self) -> str:
        return f"{self.user} in {self.lab}"


def entry_upload_path(entry: "Entry", filename: str) -> str:
    return f"entries/{entry.lab.edition.slug}/{entry.lab.spec_id}/{entry.uid}/{filename}"


class Entry(models.Model):
    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    lab = models.ForeignKey(Lab, on_delete=models.CASCADE, related_name="entries")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="entries"
    )
    participant = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="entries")
    file = models.FileField(upload_to=entry_upload_path, max_length=300)
    original_name = models.CharField(max_length=255)
    size_bytes = models.BigIntegerField()
    sha256 = models.CharField(max_length=64, db_index=True)
    kind = models.CharField(max_length=16, help_text="keras, torch or code")
    has_writeup = models.BooleanField(default=False)
    note = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    # Mirrors the latest run's status; kept in step by the services that move runs.
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    counts_toward_quota = models.BooleanField(default=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "entries"
        indexes = [models.Index(fields=["lab", "user", "created_at"])]

    def __str__(self) -> str:
        return f"#{self.pk} {self.lab.spec_id} by {self.user}"

    @property
    def is_final(self) -> bool:
        return self.participant.final_entry_id == self.pk


class GradingRun(models.Model):
    """One attempt at grading an entry on one test split.

    A student's upload is graded on the public split; the newest public run of an entry is
    its current result. Once the author's window has closed, the run that counts for them
    is run again, in a fresh sandbox, on the private split (a run of its own, `public_run`
    naming the run it completes), and its verdict is recorded in that public run's private
    fields: no private row ever meets the entry while its author can still act on what the
    entry printed (docs/private-split.md)."""

    entry = models.ForeignKey(Entry, on_delete=models.CASCADE, related_name="runs")
    split = models.CharField(
        max_length=8,
        choices=[(PUBLIC, "Public split"), (PRIVATE, "Private split")],
        default=PUBLIC,
    )
    public_run = models.ForeignKey(
        "self",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="private_runs",
        help_text="A private-split run: the public run whose private fields it fills.",
    )
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True
    )
    queue = models.CharField(max_length=16, default="cpu")
    # Each delivery that claims the run gets a fresh token; only its holder may record.
    claim = models.UUIDField(null=True, blank=True)
    deliveries = models.PositiveSmallIntegerField(default=0)
    worker = models.CharField(max_length=255, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    queued_at = models.DateTimeField(default=timezone.now)
    enqueued_at = models.DateTimeField(null=True, blank=True, help_text="Last sent to the broker.")
    started_at = models.DateTimeField(null=True, blank=True)
    scoring_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    reason = models.TextField(blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    split_metrics = models.JSONField(default=dict, blank=True)
    details = models.JSONField(default=dict, blank=True)
    # Each split's 95 % interval of each metric ({split: {metric: [low, high]}}), computed
    # once by the grader, seeded from the run's outputs (a re-grade reproduces it).
    split_intervals = models.JSONField(default=dict, blank=True)
    # Each split's per-unit outcomes, packed ({split: {dtype, n, b64}}; grader/intervals.py):
    # the paired test of statistical ties reads them. Never shown to students.
    outcomes = models.JSONField(default=dict, blank=True)
    receipt = models.JSONField(default=dict, blank=True)
    logs = models.TextField(blank=True)
    # How the private split's own run went (status, reason, logs, wall_time_s,
    # peak_memory_mb, run), filled when it ends with a verdict. Its log and status can carry
    # private-split scores, so students see it only once the private split is revealed to
    # them (selectors.visible_private_session).
    private_session = models.JSONField(default=dict, blank=True)
    pinned_image = models.CharField(
        max_length=200, blank=True, help_text="Sandbox image digest a re-grade must use."
    )

    class Meta:
        ordering = ["-queued_at", "-pk"]
        indexes = [models.Index(fields=["status", "queue", "queued_at"])]

    def __str__(self) -> str:
        split = " (private split)" if self.split == PRIVATE else ""
        return f"run {self.pk} of entry {self.entry_id}{split}: {self.status}"

    @property
    def is_final(self) -> bool:
        return self.status in FINAL

    def can_move_to(self, target: str) -> bool:
        return target in TRANSITIONS[self.status]

    def is_silent(self, now: datetime, stale: timedelta) -> bool:
        """Running or scoring, but its worker has not reported for `stale` (the reaper's cue)."""
        return self.status in (Status.RUNNING, Status.SCORING) and (
            self.heartbeat_at is None or now - self.heartbeat_at > stale
        )


class RunEvent(models.Model):
    """Every state change of a run, for staff and for the student's timeline."""

    run = models.ForeignKey(GradingRun, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(default=timezone.now)
    from_status = models.CharField(max_length=16, blank=True)
    to_status = models.CharField(max_length=16)
    note = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["pk"]  # the order they happened in, whatever clock stamped them

    def __str__(self) -> str:
        return f"{self.from_status or '∅'} → {self.to_status}"


def hidden_set_path(hidden_set: "HiddenSet", filename: str) -> str:
    return f"hidden-sets/{hidden_set.spec_id}/{hidden_set.bundle_sha256}.zip"


class HiddenSet(models.Model):
    """A lab's hidden set, uploaded by staff as a zip bundle; the newest one per lab grades.

    Workers on other machines fetch the bundle from the site by `bundle_sha256` and verify
    the unpacked files against `checksum` before every grade (submissions.blobs).
    """

    spec_id = models.CharField(max_length=64, db_index=True)
    name = models.CharField(max_length=100, help_text="The lab spec's [data] name.")
    checksum = models.CharField(max_length=71, help_text="sha256:<hex> of the set's files.")
    bundle = models.FileField(upload_to=hidden_set_path, max_length=300)
    bundle_sha256 = models.CharField(max_length=64, unique=True)
    size_bytes = models.BigIntegerField()
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    uploaded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-uploaded_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.spec_id} {self.checksum[:19]}"
