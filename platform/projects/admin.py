from functools import partial

from django.contrib import admin
from django.db import models

from core.errors import attempt
from courses.admin_zone import EditionZoneAdmin

from .models import (
    Conflict,
    Invitation,
    Membership,
    PaperReview,
    ProjectGroup,
    ProjectSettings,
)
from .services import pitch_attendance_mark, project_scoring_close


@admin.register(ProjectSettings)
class ProjectSettingsAdmin(EditionZoneAdmin):
    list_display = (
        "edition",
        "signup_deadline",
        "slides_deadline",
        "review_deadline",
        "min_judges_per_group",
        "pitch_minutes",
        "scoring_closed_at",
    )
    search_fields = ("edition__name",)
    actions = ["close_scoring"]

    @admin.action(description="Close pitch scoring (the final projects become final)")
    def close_scoring(self, request, queryset):
        for config in queryset.select_related("edition"):
            edition = config.edition
            attempt(
                request,
                partial(project_scoring_close, edition=edition, by=request.user),
                f"Pitch scoring of {edition} closed.",
            )


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    fields = ("user", "edition", "joined_at")
    autocomplete_fields = ("user",)


class ConflictInline(admin.TabularInline):
    model = Conflict
    extra = 0
    fields = ("judge", "source", "reason", "created_by")
    autocomplete_fields = ("judge",)
    fk_name = "group"


@admin.register(ProjectGroup)
class ProjectGroupAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "edition",
        "title",
        "slot",
        "signed_up_at",
        "slides_updated_at",
        "presented_at",
    )
    list_filter = ("edition", ("signed_up_at", admin.EmptyFieldListFilter))
    actions = ["mark_present"]

    @admin.action(description="Mark present at the pitch session (the pitch is presented)")
    def mark_present(self, request, queryset):
        for group in queryset:
            attempt(
                request,
                partial(pitch_attendance_mark, group=group, by=request.user),
                f"{group.name}: marked present.",
            )

    search_fields = ("name", "title", "memberships__user__username", "memberships__user__email")
    inlines = [MembershipInline, ConflictInline]
    # Slide links must be https (services.slides_submit); say so in the admin form too.
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("user", "group", "edition", "joined_at")
    list_filter = ("edition", "user__affiliation")
    search_fields = ("user__username", "user__email", "group__name")
    autocomplete_fields = ("user",)


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ("invitee", "group", "invited_by", "status", "created_at", "responded_at")
    list_filter = ("status", "group__edition")
    search_fields = ("invitee__username", "group__name", "invited_by__username")


@admin.register(PaperReview)
class PaperReviewAdmin(admin.ModelAdmin):
    list_display = ("user", "paper_title", "edition", "status", "submitted_at", "marked_by")
    list_filter = ("status", "edition")
    search_fields = ("user__username", "user__email", "paper_title")


@admin.register(Conflict)
class ConflictAdmin(admin.ModelAdmin):
    list_display = ("judge", "group", "source", "reason", "created_at")
    list_filter = ("source", "group__edition")
    search_fields = ("judge__username", "group__name", "reason")
