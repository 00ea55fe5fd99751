import zoneinfo
from datetime import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

EASTERN = "America/New_York"


def validate_time_zone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not a known IANA time zone (e.g. {EASTERN}).")


def format_in_zone(moment: datetime, zone_name: str) -> str:
    """'January 26, 2027, 11:59 pm EST': the course's way of writing deadlines."""
    local = timezone.localtime(moment, zoneinfo.ZoneInfo(zone_name))
    hour = local.strftime("%I").lstrip("0")
    ampm = local.strftime("%p").lower()
    return f"{local:%B} {local.day}, {local.year}, {hour}:{local:%M} {ampm} {local.tzname()}"


def zone_label(zone_name: str, moment: datetime | None = None) -> str:
    """'America/New_York (EST)': how a time zone is named next to times a person types or
    reads (the abbreviation is the one in force at `moment`, by default now)."""
    local = timezone.localtime(moment or timezone.now(), zoneinfo.ZoneInfo(zone_name))
    return f"{zone_name} ({local.tzname()})"


class Edition(models.Model):
    """One offering of the course, e.g. IAP 2027; several live on one site."""

    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(unique=True)
    time_zone = models.CharField(max_length=64, default=EASTERN, validators=[validate_time_zone])
    is_current = models.BooleanField(default=False, help_text="The edition shown on the home page.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_current"],
                condition=models.Q(is_current=True),
                name="one_current_edition",
            )
        ]

    def __str__(self) -> str:
        return self.name

    def format_time(self, moment: datetime) -> str:
        return format_in_zone(moment, self.time_zone)


class Enrollment(models.Model):
    edition = models.ForeignKey(Edition, on_delete=models.CASCADE, related_name="enrollments")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="enrollments"
    )
    enrolled_at = models.DateTimeField(default=timezone.now)
    attended = models.BooleanField(
        default=False, help_text="Met the course's attendance requirement (staff mark it)."
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["edition", "user"], name="one_enrollment_per_edition")
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.edition}"


class Completion(models.TextChoices):
    SCORED = "scored", "An entry was scored"
    SUBMITTED = "submitted", "An entry was submitted (any result)"


class EntrySelection(models.TextChoices):
    BEST = "best", "Best scored entry"
    LATEST = "latest", "Latest scored entry"
    FINAL = "final", "Entry marked final (else best)"


class Lab(models.Model):
    """A lab competition in an edition, graded by the lab spec named by `spec_id`."""

    edition = models.ForeignKey(Edition, on_delete=models.CASCADE, related_name="labs")
    spec_id = models.CharField(max_length=64, help_text="Lab id in lab_specs/, e.g. lab2-debias.")
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    position = models.PositiveSmallIntegerField(default=0)
    opens_at = models.DateTimeField()
    closes_at = models.DateTimeField()
    max_entries_per_day = models.PositiveSmallIntegerField(default=5)
    max_entries_total = models.PositiveSmallIntegerField(default=30)
    max_upload_mb = models.PositiveSmallIntegerField(default=50)
    needs_writeup = models.BooleanField(default=True)
    selection = models.CharField(
        max_length=8, choices=EntrySelection.choices, default=EntrySelection.BEST
    )
    completion = models.CharField(
        max_length=10,
        choices=Completion.choices,
        default=Completion.SCORED,
        help_text="What completes this lab for the pass report.",
    )
    private_revealed = models.BooleanField(
        default=False, help_text="Show private-split scores to students (after the deadline)."
    )

    class Meta:
        ordering = ["edition", "position", "spec_id"]
        constraints = [
            models.UniqueConstraint(fields=["edition", "spec_id"], name="one_lab_per_spec"),
            models.CheckConstraint(
                condition=models.Q(closes_at__gt=models.F("opens_at")), name="lab_closes_after_open"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.title} ({self.edition})"

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None:
            # Whom the reveal reached stays written down whatever this change reopens
            # (courses.phases imports this module, hence the import here).
            from .phases import reveal_reach_keep

            reveal_reach_keep(self)
        # Moving the deadline moves the phase: a reveal does not survive a deadline moved
        # back into the future (students could upload again while seeing private scores).
        if self.private_revealed and self.closes_at > timezone.now():
            self.private_revealed = False
            if kwargs.get("update_fields") is not None:
                kwargs["update_fields"] = {*kwargs["update_fields"], "private_revealed"}
        super().save(*args, **kwargs)

    def is_open(self, now: datetime | None = None) -> bool:
        now = now or timezone.now()
        return self.opens_at <= now < self.closes_at

    @property
    def prize_names(self) -> str:
        """From the prize catalog (awards), e.g. 'Headphones' or '2 × Monitor'."""
        return ", ".join(
            p.name if p.quantity == 1 else f"{p.quantity} × {p.name}"
            for p in self.prize_lines.all()
        )

    @property
    def closes_at_display(self) -> str:
        return self.edition.format_time(self.closes_at)

    @property
    def opens_at_display(self) -> str:
        return self.edition.format_time(self.opens_at)


class Extension(models.Model):
    """An accommodation: one student's later deadline for one lab (or one final-project
    step), with the reason staff gave. That student's window, counted entry and view of
    the private split all follow it (courses.phases)."""

    class Step(models.TextChoices):
        LAB = "lab", "A lab's deadline"
        SIGNUP = "signup", "Final project: group changes and pitch sign-up"
        SLIDES = "slides", "Final project: slides"
        REVIEW = "review", "Final project: paper review"

    edition = models.ForeignKey(Edition, on_delete=models.CASCADE, related_name="extensions")
    lab = models.ForeignKey(
        Lab, on_delete=models.CASCADE, null=True, blank=True, related_name="extensions"
    )
    step = models.CharField(max_length=8, choices=Step.choices, default=Step.LAB)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="extensions"
    )
    closes_at = models.DateTimeField(help_text="The student's own deadline.")
    reason = models.CharField(max_length=300)
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    granted_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["edition", "lab", "user"]
        constraints = [
            models.UniqueConstraint(fields=["lab", "step", "user"], name="one_extension_per_step"),
            models.CheckConstraint(
                condition=(
                    models.Q(step="lab", lab__isnull=False)
                    | (~models.Q(step="lab") & models.Q(lab__isnull=True))
                ),
                name="lab_extensions_name_their_lab",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user}: {self.get_step_display()} until {self.closes_at:%Y-%m-%d %H:%M}"

    def clean(self) -> None:
        # The admin form's check; the services (courses.services) check the same.
        if self.step == self.Step.LAB and self.lab_id is None:
            raise ValidationError("A lab extension names its lab.")
        if self.step != self.Step.LAB and self.lab_id is not None:
            raise ValidationError("A final-project extension names no lab.")
        lab = self.lab if self.lab_id is not None else None
        if lab is not None and self.closes_at and self.closes_at <= lab.closes_at:
            raise ValidationError(
                f"An extension must end after the lab's deadline ({lab.closes_at_display})."
            )
        if not (self.reason or "").strip():
            raise ValidationError("Give the reason for the extension.")


class RevealReach(models.Model):
    """A student the reveal of a lab's private split reached: their own window had closed
    while the reveal was in force, so they could read their private scores. While the reveal
    stands this is computed (courses.phases.reveal_reached); a row keeps it once something ends
    the reveal (staff hide it, the deadline moves later), so that no reopened window and no
    extension lets that student change their counted entry after seeing the private split."""

    lab = models.ForeignKey(Lab, on_delete=models.CASCADE, related_name="reveal_reaches")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["lab", "user"], name="one_reveal_reach_per_student")
        ]

    def __str__(self) -> str:
        return f"{self.user} saw the private split of {self.lab}"
