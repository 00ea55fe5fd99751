import hashlib

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models.functions import Upper
from django.utils import timezone


class Role(models.TextChoices):
    STUDENT = "student", "Student"
    JUDGE = "judge", "Judge"
    STAFF = "staff", "Staff"


class Affiliation(models.TextChoices):
    MIT_STUDENT = "mit_student", "Registered MIT student"
    MIT_AFFILIATE = "mit_affiliate", "MIT affiliate"
    MIT_LISTENER = "mit_listener", "MIT listener"
    PUBLIC = "public", "Public"


class AffiliationSource(models.TextChoices):
    """Who says the affiliation is true. Only a verified one can make anyone prize-eligible."""

    SELF = "self", "Self-declared (unverified)"
    ROSTER = "roster", "Verified: staff roster"
    SSO = "sso", "Verified: single sign-on"
    STAFF = "staff", "Verified: set by staff"


# Lab prizes go to MIT students and affiliates, listeners included (course rules).
LAB_PRIZE_AFFILIATIONS = {
    Affiliation.MIT_STUDENT,
    Affiliation.MIT_AFFILIATE,
    Affiliation.MIT_LISTENER,
}


def affiliation_verified(source: str) -> bool:
    return source != AffiliationSource.SELF


# The one home of the prize-eligibility rules; rows read as plain values call these too.
def lab_prize_eligible(affiliation: str, source: str) -> bool:
    return affiliation_verified(source) and affiliation in LAB_PRIZE_AFFILIATIONS


def registered_mit_student(affiliation: str, source: str) -> bool:
    return affiliation_verified(source) and affiliation == Affiliation.MIT_STUDENT


class User(AbstractUser):
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.STUDENT)
    affiliation = models.CharField(
        max_length=16, choices=Affiliation.choices, default=Affiliation.PUBLIC
    )
    affiliation_source = models.CharField(
        "affiliation verified by",
        max_length=8,
        choices=AffiliationSource.choices,
        default=AffiliationSource.SELF,
        help_text="Self-declared affiliations never make anyone prize-eligible.",
    )

    class Meta(AbstractUser.Meta):
        # Addresses and usernames are looked up ignoring case (UPPER(...) = UPPER(...)): a
        # roster import does it for every row, which without these scanned every account.
        indexes = [
            models.Index(Upper("email"), name="user_email_upper"),
            models.Index(Upper("username"), name="user_username_upper"),
        ]

    @property
    def is_student(self) -> bool:
        return self.role == Role.STUDENT

    @property
    def is_judge(self) -> bool:
        return self.role == Role.JUDGE

    @property
    def is_course_staff(self) -> bool:
        return self.role == Role.STAFF or self.is_superuser

    @property
    def affiliation_verified(self) -> bool:
        return affiliation_verified(self.affiliation_source)

    @property
    def lab_prize_eligible(self) -> bool:
        return lab_prize_eligible(self.affiliation, self.affiliation_source)

    @property
    def is_registered_mit_student(self) -> bool:
        return registered_mit_student(self.affiliation, self.affiliation_source)

    # Course staff run the whole platform in the admin; judges and students never enter it.
    def has_perm(self, perm, obj=None) -> bool:
        if self.is_active and self.role == Role.STAFF:
            return True
        return super().has_perm(perm, obj)

    def has_module_perms(self, app_label) -> bool:
        if self.is_active and self.role == Role.STAFF:
            return True
        return super().has_module_perms(app_label)

    def save(self, *args, **kwargs):
        # Staff use the Django admin; nobody else gets into it.
        self.is_staff = self.role == Role.STAFF or self.is_superuser
        super().save(*args, **kwargs)

    def __str__(self) -> str:
        return self.display_name(self.first_name, self.last_name, self.username)

    @staticmethod
    def display_name(first_name: str, last_name: str, username: str) -> str:
        """How people are named on pages; also used where rows are read as plain values."""
        return f"{first_name} {last_name}".strip() or username


def hash_token(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class ApiToken(models.Model):
    """A personal token for submitting from a notebook. Only its hash is stored."""

    PREFIX_LENGTH = 8

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=PREFIX_LENGTH, db_index=True)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def revoke(self) -> None:
        if self.revoked_at is None:
            self.revoked_at = timezone.now()
            self.save(update_fields=["revoked_at"])
