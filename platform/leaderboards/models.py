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
