from django.conf import settings
from django.db import models
from django.utils import timezone

from courses.models import Edition, Lab


class Category(models.TextChoices):
    LAB = "lab", "Lab competition"
    PROJECT = "project", "Final project"


class Prize(models.Model):
    """A line of the prize catalog: `quantity` units, given in `position` order."""

    edition = models.ForeignKey(Edition, on_delete=models.CASCADE, related_name="prizes")
    category = models.CharField(max_length=8, choices=Category.choices)
    lab = models.ForeignKey(
        Lab, on_delete=models.CASCADE, null=True, blank=True, related_name="prize_lines"
    )
    name = models.CharField(max_length=120, help_text="e.g. Headphones, 1 GPU")
    quantity = models.PositiveSmallIntegerField(default=1)
    position = models.PositiveSmallIntegerField(default=1, help_text="1 is given first.")

    class Meta:
        ordering = ["edition", "category", "lab", "position"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(category="lab", lab__isnull=False)
                    | models.Q(category="project", lab__isnull=True)
                ),
                name="lab_prizes_name_their_lab",
            ),
            models.CheckConstraint(condition=models.Q(quantity__gte=1), name="prize_quantity_1"),
        ]

    def __str__(self) -> str:
        where = self.lab.title if self.lab else "Final project"
        return f"{where}: {self.quantity} × {self.name}"


class TieBreak(models.Model):
    """Staff's order for a set of tied entrants in one category (a lab, or the projects)."""

    edition = models.ForeignKey(Edition, on_delete=models.CASCADE, related_name="tie_breaks")
    scope = models.CharField(max_length=32, help_text="'lab:<id>' or 'project'")
    keys = models.JSONField(help_text="The tied entrants' keys, in the chosen order.")
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(default=timezone.now)
    note = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-decided_at"]

    def __str__(self) -> str:
        return f"{self.scope}: {' > '.join(self.keys)}"


class AwardSnapshot(models.Model):
    """The confirmed standings and awards, frozen. Never edited: a change after announcing
    is a new snapshot (a revision) with its reason, who made it and when."""

    edition = models.ForeignKey(Edition, on_delete=models.CASCADE, related_name="award_snapshots")
    version = models.PositiveIntegerField()
    data = models.JSONField()
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    confirmed_at = models.DateTimeField(default=timezone.now)
    revision_reason = models.TextField(blank=True)
    announced_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    announced_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["edition", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["edition", "version"], name="one_snapshot_version")
        ]

    def __str__(self) -> str:
        return f"{self.edition} awards v{self.version}"
