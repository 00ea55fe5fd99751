from django import forms
from django.contrib import admin, messages

from . import phases
from .admin_zone import EditionZoneAdmin
from .models import Edition, Enrollment, Extension, Lab
from .signals import lab_selection_changed


class LabForm(forms.ModelForm):
    """The admin edits a lab's deadline as the timeline service does: refused, with the
    reason, once nothing may reopen the lab (courses.phases)."""

    def clean(self):
        data = super().clean()
        lab = self.instance
        asks = {"closes_at": phases.MOVE_DEADLINE, "private_revealed": phases.HIDE_PRIVATE}
        for field, action in asks.items():
            if lab.pk and field in self.changed_data:
                verdict = phases.lab_allows(lab, action)
                if not verdict:
                    self.add_error(field, verdict.reason)
        return data


class ExtensionForm(forms.ModelForm):
    """A lab extension made or changed in the admin asks the same question as the service."""

    def clean(self):
        data = super().clean() or {}
        lab, edition = data.get("lab"), data.get("edition")
        if not self.changed_data:
            return data
        if lab is not None:
            verdict = phases.lab_allows(lab, phases.GRANT_EXTENSION, user=data.get("user"))
            if not verdict:
                raise forms.ValidationError(verdict.reason)
        elif edition is not None and (locked := phases.project_results_lock(edition)):
            raise forms.ValidationError(locked)
        return data


class LabInline(admin.TabularInline):
    model = Lab
    form = LabForm
    extra = 0
    fields = ("position", "spec_id", "title", "opens_at", "closes_at")


@admin.register(Edition)
class EditionAdmin(EditionZoneAdmin):
    list_display = ("name", "slug", "time_zone", "is_current", "created_at")
    list_filter = ("is_current", "time_zone")
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    inlines = [LabInline]

    def edition_of(self, obj: Edition) -> Edition:  # type: ignore[override]
        return obj


@admin.register(Lab)
class LabAdmin(EditionZoneAdmin):
    form = LabForm
    list_display = ("title", "spec_id", "edition", "opens_at", "closes_at", "selection")
    list_filter = ("edition", "spec_id", "selection", "needs_writeup")
    search_fields = ("title", "spec_id", "edition__name")

    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        if change and "selection" in form.changed_data:
            # Which entry stands for each student follows the lab's selection rule.
            lab_selection_changed.send(sender=Lab, lab=obj)


@admin.register(Enrollment)
class EnrollmentAdmin(admin.ModelAdmin):
    list_display = ("user", "edition", "enrolled_at", "attended")
    list_filter = ("edition", "attended", "user__affiliation")
    search_fields = ("user__username", "user__email", "user__first_name", "user__last_name")
    autocomplete_fields = ("user",)
    actions = ("mark_attended", "mark_not_attended")

    # A course's attendance is taken for hundreds at once: tick the rows, choose the action.
    @admin.action(description="Mark the selected enrollments attended", permissions=["change"])
    def mark_attended(self, request, queryset):
        count = queryset.update(attended=True)
        self.message_user(request, f"{count} marked attended.", messages.SUCCESS)

    @admin.action(description="Mark the selected enrollments not attended", permissions=["change"])
    def mark_not_attended(self, request, queryset):
        count = queryset.update(attended=False)
        self.message_user(request, f"{count} marked not attended.", messages.SUCCESS)


@admin.register(Extension)
class ExtensionAdmin(admin.ModelAdmin):
    form = ExtensionForm
    list_display = ("user", "lab", "step", "closes_at", "reason", "granted_by")
    list_filter = ("edition", "step")
    raw_id_fields = ("user", "granted_by")
