"""Staff type and read times in the edition's zone, in the admin as on the site.

Django's admin forms and lists show and parse datetimes in the *current* time zone (UTC by
default: entering 23:59 for a lab's close meant 6:59 pm EST). The middleware makes the
current edition's zone current for every admin page; `EditionZoneAdmin` makes an
edition-scoped object's own edition's zone current in its change form and names the zone
beside each date-time field. The admin header names the zone in force on every page
(templates/admin/base_site.html).
"""

from collections.abc import Callable
from zoneinfo import ZoneInfo

from django.contrib import admin
from django.db import models
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone

from .models import EASTERN, Edition, zone_label
from .selectors import edition_current


def edition_zone(edition: Edition | None) -> ZoneInfo:
    return ZoneInfo(edition.time_zone if edition else EASTERN)


class AdminEditionZoneMiddleware:
    """Admin pages run in the current edition's zone (an object's own edition: below)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith(reverse("admin:index")):
            return self.get_response(request)
        # The response (a TemplateResponse included) is rendered before this returns.
        with timezone.override(edition_zone(edition_current())):
            return self.get_response(request)


class EditionZoneAdmin(admin.ModelAdmin):
    """Admin of an object that belongs to an edition: its change form is in that edition's
    zone, and each date-time field says which zone it is in."""

    def edition_of(self, obj: models.Model) -> Edition | None:
        return getattr(obj, "edition", None)

    def _edition(self, request: HttpRequest, object_id: str | None) -> Edition | None:
        # Times sent with a form belong to the edition chosen in it (a new lab of another
        # edition); otherwise to the object's edition, or the current one for a new object.
        chosen = request.POST.get("edition", "") if request.method == "POST" else ""
        if chosen.isdigit() and (edition := Edition.objects.filter(pk=chosen).first()):
            return edition
        obj = self.get_object(request, object_id) if object_id else None
        return (self.edition_of(obj) if obj is not None else None) or edition_current()

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict | None = None,
    ) -> HttpResponse:
        with timezone.override(edition_zone(self._edition(request, object_id))):
            response = super().changeform_view(request, object_id, form_url, extra_context)
            render = getattr(response, "render", None)
            if render is not None:
                render()  # while the zone is in force
        return response

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if field is not None and isinstance(db_field, models.DateTimeField):
            zone = timezone.get_current_timezone_name()
            note = f"Time in {zone_label(zone)}."
            field.help_text = f"{field.help_text} {note}".strip() if field.help_text else note
        return field
