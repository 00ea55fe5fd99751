from datetime import datetime
from zoneinfo import ZoneInfo

from django import template
from django.utils import timezone

from courses.models import EASTERN, format_in_zone, zone_label

register = template.Library()


@register.filter
def in_zone(moment: datetime | None, zone_name: str = EASTERN) -> str:
    """Show an aware datetime in a course edition's zone, with the zone named."""
    if moment is None:
        return ""
    return format_in_zone(moment, zone_name or EASTERN)


@register.filter
def in_zone_short(moment: datetime | None, zone_name: str = EASTERN) -> str:
    """'Nov 23, 6:46:45 am EST': timestamps of runs and uploads, in the edition's zone."""
    if moment is None:
        return ""
    local = timezone.localtime(moment, ZoneInfo(zone_name or EASTERN))
    hour = local.strftime("%I").lstrip("0")
    ampm = local.strftime("%p").lower()
    return f"{local:%b} {local.day}, {hour}:{local:%M:%S} {ampm} {local.tzname()}"


@register.simple_tag
def current_zone_label() -> str:
    """'America/New_York (EST)': the zone the page's times are typed and shown in."""
    return zone_label(timezone.get_current_timezone_name())


@register.filter
def receipt_rows(receipt: dict, zone_name: str = EASTERN) -> list[tuple[str, str]]:
    """An evaluation receipt's (key, value) rows. Its times stay as recorded (ISO, UTC: the
    receipt is evidence), labelled UTC, with the edition's time beside them."""
    rows = []
    for key, value in receipt.items():
        text = str(value)
        if key.endswith("_at") and isinstance(value, str):
            try:
                moment = datetime.fromisoformat(value)
            except ValueError:
                moment = None
            if moment is not None and moment.tzinfo is not None:
                text = f"{value} (UTC) · {format_in_zone(moment, zone_name or EASTERN)}"
        rows.append((key, text))
    return rows


@register.filter
def in_zone_date(moment: datetime | None, zone_name: str = EASTERN) -> str:
    """'January 26, 2027': the day in the edition's zone (a UTC date can be a day off)."""
    if moment is None:
        return ""
    local = timezone.localtime(moment, ZoneInfo(zone_name or EASTERN))
    return f"{local:%B} {local.day}, {local.year}"
