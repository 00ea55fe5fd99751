from django.db.models import QuerySet

from .models import Edition, Extension, Lab


def edition_current() -> Edition | None:
    return Edition.objects.filter(is_current=True).first() or Edition.objects.first()


def enrolled(user, edition: Edition) -> bool:
    return user.is_authenticated and edition.enrollments.filter(user=user).exists()


def lab_list(edition: Edition) -> QuerySet[Lab]:
    return (
        edition.labs.select_related("edition")
        .prefetch_related("prize_lines")
        .order_by("position", "spec_id")
    )


def extension_list(edition: Edition) -> QuerySet[Extension]:
    """Every extension of the edition, lab by lab then the final-project steps (staff)."""
    return (
        Extension.objects.filter(edition=edition)
        .select_related("lab", "user", "granted_by")
        .order_by("lab__position", "lab__spec_id", "step", "user__username")
    )
