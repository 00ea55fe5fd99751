"""Final projects: pitch groups, sign-up and slides, paper reviews, conflicts of interest.
The judges' pitch ballots live in judging (judging.models.PitchBallot)."""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

from courses.models import Edition

MAX_GROUP_SIZE = 5


class ProjectSettings(models.Model):
    """An edition's final-project deadlines and judging rules."""

    edition = models.OneToOneField(
        Edition, on_delete=models.CASCADE, related_name="project_settings"
    )
    signup_deadline = models.DateTimeField(help_text="Pitch sign-up and group changes close.")
    slides_deadline = models.DateTimeField()
    review_deadline = models.DateTimeField(help_text="Paper reviews are due.")
    min_judges_per_group = models.PositiveSmallIntegerField(
        default=2, help_text="Complete ballots a group needs to be ranked."
    )
    pitch_minutes = models.PositiveSmallIntegerField(default=3)
    pitches_start_at = models.DateTimeField(
        null=True, blank=True, help_text="When the first pitch slot starts."
    )
    prizes = models.TextField(
        blank=True, help_text="One prize per line, in rank order (e.g. 1 GPU, 4 smart speakers)."
    )
    scoring_closed_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Staff closed pitch scoring: the final projects are final (projects.phases).",
    )

    class Meta:
        verbose_name = "final-project settings"
        verbose_name_plural = "final-project settings"

    def __str__(self) -> str:
        return f"Final-project settings for {self.edition}"

    def signup_open(self, now: datetime) -> bool:
        return now < self.signup_deadline

    def slides_open(self, now: datetime) -> bool:
        return now < self.slides_deadline

    def review_open(self, now: datetime) -> bool:
        return now < self.review_deadline

    def slot_starts_at(self, position: int) -> datetime | None:
        if self.pitches_start_at is None:
            return None
        return self.pitches_start_at + timedelta(minutes=self.pitch_minutes * (position - 1))


class ProjectGroup(models.Model):
    edition = models.ForeignKey(Edition, on_delete=models.CASCADE, related_name="project_groups")
    name = models.CharField(max_length=120)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    title = models.CharField(max_length=200, blank=True, help_text="The pitch's title.")
    signed_up_at = models.DateTimeField(null=True, blank=True)
    slides_file = models.FileField(upload_to="project_slides/%Y/", blank=True)
    slides_url = models.URLField(blank=True)
    slides_updated_at = models.DateTimeField(null=True, blank=True)
    slot = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Position in the pitch schedule (1 = first)."
    )
    presented_at = models.DateTimeField(
        null=True, blank=True, help_text="Staff marked the group present at the pitch session."
    )

    class Meta:
        ordering = ["edition", "slot", "name"]
        constraints = [
            models.UniqueConstraint(fields=["edition", "name"], name="unique_group_name"),
            models.UniqueConstraint(fields=["edition", "slot"], name="unique_pitch_slot"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_signed_up(self) -> bool:
        return self.signed_up_at is not None

    @property
    def has_slides(self) -> bool:
        return bool(self.slides_file) or bool(self.slides_url)

    def member_users(self) -> list:
        return [m.user for m in self.memberships.all()]

    @property
    def is_prize_eligible(self) -> bool:
        """Course rule: a group needs at least one registered MIT student to win a prize."""
        return any(user.is_registered_mit_student for user in self.member_users())


class Membership(models.Model):
    # The edition is repeated here so the database itself keeps one group per person.
    edition = models.ForeignKey(Edition, on_delete=models.CASCADE, related_name="+")
    group = models.ForeignKey(ProjectGroup, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="project_memberships"
    )
    joined_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["joined_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["edition", "user"], name="one_group_per_person"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.group}"


class InvitationStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    ACCEPTED = "accepted", "Accepted"
    DECLINED = "declined", "Declined"
    CANCELLED = "cancelled", "Cancelled"


class Invitation(models.Model):
    group = models.ForeignKey(ProjectGroup, on_delete=models.CASCADE, related_name="invitations")
    invitee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="project_invitations"
    )
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    status = models.CharField(
        max_length=12, choices=InvitationStatus.choices, default=InvitationStatus.PENDING
    )
    created_at = models.DateTimeField(default=timezone.now)
    responded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["group", "invitee"],
                condition=models.Q(status="pending"),
                name="one_pending_invitation",
            )
        ]

    def __str__(self) -> str:
        return f"{self.invitee} to {self.group} ({self.status})"

    @property
    def is_pending(self) -> bool:
        return self.status == InvitationStatus.PENDING

    def close(self, status: str) -> None:
        self.status = status
        self.responded_at = timezone.now()
        self.save(update_fields=["status", "responded_at"])


class ReviewStatus(models.TextChoices):
    SUBMITTED = "submitted", "Awaiting staff"
    PASS = "pass", "Pass"
    FAIL = "fail", "Fail"


class PaperReview(models.Model):
    """The alternative to a pitch: passes the course, never eligible for grand prizes."""

    edition = models.ForeignKey(Edition, on_delete=models.CASCADE, related_name="paper_reviews")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="paper_reviews"
    )
    paper_title = models.CharField(max_length=300)
    file = models.FileField(upload_to="paper_reviews/%Y/")
    submitted_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(
        max_length=12, choices=ReviewStatus.choices, default=ReviewStatus.SUBMITTED
    )
    marked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    marked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["edition", "submitted_at"]
        constraints = [
            models.UniqueConstraint(fields=["edition", "user"], name="one_review_per_person"),
        ]

    def __str__(self) -> str:
        return f"Review by {self.user}: {self.paper_title}"

    @property
    def satisfies_requirement(self) -> bool:
        return self.status == ReviewStatus.PASS


class ConflictSource(models.TextChoices):
    DECLARED = "declared", "Declared by the judge"
    STAFF = "staff", "Added by staff"


class Conflict(models.Model):
    """A judge who must not open, score or see a group's scores."""

    judge = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="project_conflicts"
    )
    group = models.ForeignKey(ProjectGroup, on_delete=models.CASCADE, related_name="conflicts")
    source = models.CharField(max_length=10, choices=ConflictSource.choices)
    reason = models.CharField(max_length=300, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["group", "judge"]
        constraints = [
            models.UniqueConstraint(fields=["judge", "group"], name="one_conflict_per_pair"),
        ]

    def __str__(self) -> str:
        return f"{self.judge} ↔ {self.group}"
