from fractions import Fraction

from django.conf import settings
from django.db import models
from django.utils import timezone

from core.scoring import COMPLETE, SCORE_CHOICES, ballot_state, exact_mean
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


class JudgeBallot(models.Model):
    """What both kinds of ballot share: one judge's 1-5 scores on the criteria, saved as the
    judge goes (so possibly partial). Only a complete ballot counts."""

    CRITERIA: tuple[str, ...] = ()

    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        abstract = True

    def scores(self) -> dict[str, int | None]:
        return {c: getattr(self, c) for c in self.CRITERIA}

    @property
    def state(self) -> str:
        return ballot_state(list(self.scores().values()))

    @property
    def is_complete(self) -> bool:
        return self.state == COMPLETE

    @property
    def score(self) -> Fraction | None:
        """The mean of the criteria, exactly; None until the ballot is complete."""
        if not self.is_complete:
            return None
        # Complete: every criterion has a score (the filter only tells the type checker).
        return exact_mean(s for s in self.scores().values() if s is not None)


class EntryScore(JudgeBallot):
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

    CRITERIA = ("soundness", "descriptions")

    class Meta:
        ordering = ["entry", "judge__username"]
        constraints = [
            models.UniqueConstraint(fields=["entry", "judge"], name="one_score_per_judge"),
            models.CheckConstraint(condition=SCORE_RANGE, name="soundness_1_to_5"),
            models.CheckConstraint(condition=DESCRIPTIONS_RANGE, name="descriptions_1_to_5"),
        ]

    def __str__(self) -> str:
        return f"{self.judge} on entry {self.entry_id}"


class PitchCriterion(models.TextChoices):
    NOVELTY = "novelty", "Novelty and impact"
    SOUNDNESS = "soundness", "Technical soundness, feasibility and organization"
    CLARITY = "clarity", "Clarity and presentation"


PITCH_CRITERIA = tuple(c.value for c in PitchCriterion)


def _pitch_score_field():
    return models.PositiveSmallIntegerField(null=True, blank=True, choices=SCORE_CHOICES)


class PitchBallot(JudgeBallot):
    """One judge's scores for one final-project pitch (the course rule: the mean of the three
    criteria, only a complete ballot counts).

    The group is named by string: judging sits below projects in the import order, so it
    refers to the group's table without importing the projects app."""

    CRITERIA = PITCH_CRITERIA

    group = models.ForeignKey(
        "projects.ProjectGroup", on_delete=models.CASCADE, related_name="ballots"
    )
    judge = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="pitch_ballots"
    )
    novelty = _pitch_score_field()
    soundness = _pitch_score_field()
    clarity = _pitch_score_field()
    comment = models.TextField(blank=True, max_length=4000)

    class Meta:
        db_table = "projects_ballot"  # where the ballots were first stored: kept, not copied
        ordering = ["group", "judge"]
        constraints = [
            models.UniqueConstraint(fields=["group", "judge"], name="one_ballot_per_judge"),
            *[
                models.CheckConstraint(
                    condition=models.Q(**{f"{c}__isnull": True})
                    | models.Q(**{f"{c}__gte": 1, f"{c}__lte": 5}),
                    name=f"ballot_{c}_1_to_5",
                )
                for c in PITCH_CRITERIA
            ],
        ]

    def __str__(self) -> str:
        return f"{self.judge} on {self.group}"
