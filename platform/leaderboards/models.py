from django.conf import settings
from django.db import models
from django.utils import timezone

from courses.models import Lab
from submissions.models import Entry


class LeaderboardBaseline(models.Model):
    """A reference row on a lab's leaderboard (e.g. the staff baseline). It is shown where
    its score falls but takes no rank, so students are ranked only against each other."""

    lab = models.ForeignKey(Lab, on_delete=models.CASCADE, related_name="baselines")
    entry = models.OneToOneField(Entry, on_delete=models.CASCADE, related_name="baseline")
    label = models.CharField(max_length=100, help_text="Shown instead of a name, e.g. Baseline.")
    marked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    marked_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["lab", "label"]

    def __str__(self) -> str:
        return f"{self.label} ({self.lab})"


class BoardRow(models.Model):
    """A leaderboard row as last ranked, with its rank, statistical tie and intervals. The
    board is ranked again whenever the lab's standings change (services.board_refresh), so a
    request reads one page of rows instead of ranking every student."""

    lab = models.ForeignKey(Lab, on_delete=models.CASCADE, related_name="board_rows")
    split = models.CharField(max_length=8)
    position = models.PositiveIntegerField()  # 0-based order on the board
    key = models.CharField(max_length=40)
    rank = models.PositiveIntegerField(null=True, blank=True)
    tied = models.BooleanField(default=False)
    tie_leader = models.PositiveIntegerField(null=True, blank=True)
    # Private rows: the same student's public rank, for the public-to-private change.
    public_rank = models.PositiveIntegerField(null=True, blank=True)
    # ... and whether that public rank was far better (ranking.far_better_in_public).
    far_drop = models.BooleanField(default=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    entry = models.ForeignKey(
        Entry, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    name = models.CharField(max_length=300)
    eligible = models.BooleanField(default=False)
    verified = models.BooleanField(default=False)  # the affiliation is verified (roster, SSO)
    is_reference = models.BooleanField(default=False)
    metrics = models.JSONField(default=dict, blank=True)
    intervals = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["lab", "split", "position"]
        constraints = [
            models.UniqueConstraint(fields=["lab", "split", "position"], name="one_board_position")
        ]
        indexes = [models.Index(fields=["lab", "split", "user"])]

    def __str__(self) -> str:
        return f"{self.lab} {self.split} #{self.position}: {self.name}"


class BoardState(models.Model):
    """When a lab's board was last ranked, and whether a refresh is already queued. Kept in
    the database so that every site and worker process sees the same answer: a change that
    finds a refresh queued (and not yet started) leaves it to that one."""

    lab = models.OneToOneField(
        Lab, on_delete=models.CASCADE, primary_key=True, related_name="board_state"
    )
    requested_at = models.DateTimeField(null=True, blank=True)  # None: no refresh queued
    built_at = models.DateTimeField(null=True, blank=True)
    # The last change of the lab's standings, and the last one a finished refresh saw: the
    # board is owed a refresh while the first is later (services.boards_stale_refresh).
    changed_at = models.DateTimeField(null=True, blank=True)
    built_through = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.lab}: built {self.built_at}, requested {self.requested_at}"
