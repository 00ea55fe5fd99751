from django.conf import settings
from django.db import models
from django.utils import timezone

from core.scoring import COMPLETE, ballot_state
from courses.models import Lab
from submissions.models import Entry

SCORE_RANGE = models.Q(soundness__gte=1, soundness__lte=5) | models.Q(soundness__isnull=True)
DESCRIPTIONS_RANGE = models.Q(descriptions__gte=1, descriptions__lte=5) | models.Q(
    descriptions__isnull=True
)


class LabJudging(models.Model):
    """How a lab's entries are judged: how many finalists judges score, and whether scoring
    is closed (judges see each other's scores only then). A lab without one uses the defaults."""

    DEFAULT_FINALISTS = 5

    lab = models.OneToOneField(Lab, on_delete=models.CASCADE, related_name="judging")
    finalists = models.PositiveSmallIntegerField(
        default=DEFAULT_FINALISTS,
        help_text="Judges score the top N of the final (private-split) standings; ties at N "
        "are all included.",
    )
    judging_closed = models.BooleanField(default=False)
    closed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Judging of {self.lab}"


class JudgeAssignment(models.Model):
    lab = models.ForeignKey(Lab, on_delete=models.CASCADE, related_name="judge_assignments")
    judge = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="lab_assignments"
    )
    assigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    assigned_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["lab", "judge__username"]
        constraints = [
            models.UniqueConstraint(fields=["lab", "judge"], name="one_assignment_per_lab")
        ]

    def __str__(self) -> str:
        return f"{self.judge} judges {self.lab}"


class EntryScore(models.Model):
    """One judge's scores for one entry on the human criteria of the lab rubric
    (criterion 1, the results, comes from the automatic metric)."""

    entry = models.ForeignKey(Entry, on_delete=models.CASCADE, related_name="judge_scores")
    judge = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="entry_scores"
    )
    soundness = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Criterion 2: soundness of implementation and approach."
    )
    descriptions = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        help_text="Criterion 3: thoroughness and quality of descriptions and figures.",
    )
    comment = models.TextField(blank=True, max_length=2000)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["entry", "judge__username"]
        constraints = [
            models.UniqueConstraint(fields=["entry", "judge"], name="one_score_per_judge"),
            models.CheckConstraint(condition=SCORE_RANGE, name="soundness_1_to_5"),
            models.CheckConstraint(condition=DESCRIPTIONS_RANGE, name="descriptions_1_to_5"),
        ]

    def __str__(self) -> str:
        return f"{self.judge} on entry {self.entry_id}"

    @property
    def state(self) -> str:
        return ballot_state([self.soundness, self.descriptions])

    @property
    def is_complete(self) -> bool:
        return self.state == COMPLETE
