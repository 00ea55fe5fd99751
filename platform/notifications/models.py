from django.conf import settings
from django.db import models
from django.utils import timezone


class SentEmail(models.Model):
    """One row per email that must go out at most once (a reminder per person per deadline)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=32)
    key = models.CharField(max_length=200, help_text="What it was about, e.g. lab:3:<deadline>.")
    sent_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "kind", "key"], name="one_email_per_subject")
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.key} to {self.user}"


class ReminderOptOut(models.Model):
    """People who unsubscribed from deadline reminders (other mail is about their own actions)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reminder_opt_out"
    )
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.user} (no reminders)"
