from datetime import datetime

from django import template

from courses.models import EASTERN, format_in_zone

register = template.Library()


@register.filter
def in_zone(moment: datetime | None, zone_name: str = EASTERN) -> str:
    """Show an aware datetime in a course edition's zone, with the zone named."""
    if moment is None:
        return ""
    return format_in_zone(moment, zone_name or EASTERN)
