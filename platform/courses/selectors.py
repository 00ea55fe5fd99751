from django.db.models import QuerySet

from .models import Edition, Lab


def edition_current() -> Edition | None:
    return Edition.objects.filter(is_current=True).first() or Edition.objects.first()


def lab_list(edition: Edition) -> QuerySet[Lab]:
    return (
        edition.labs.select_related("edition")
        .prefetch_related("prize_lines")
        .order_by("position", "spec_id")
    )
