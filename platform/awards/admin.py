from django.contrib import admin

from .models import AwardSnapshot, Prize, TieBreak


@admin.register(Prize)
class PrizeAdmin(admin.ModelAdmin):
    list_display = ("name", "category", "lab", "quantity", "position", "edition")
    list_filter = ("edition", "category")
    search_fields = ("name", "lab__title")


@admin.register(TieBreak)
class TieBreakAdmin(admin.ModelAdmin):
    list_display = ("scope", "keys", "decided_by", "decided_at", "edition")
    list_filter = ("edition", "scope")
    search_fields = ("scope", "note")
    readonly_fields = ("edition", "scope", "keys", "decided_by", "decided_at", "note")

    def has_add_permission(self, request) -> bool:
        return False  # ties are broken on the awards page, which checks they are open


@admin.register(AwardSnapshot)
class AwardSnapshotAdmin(admin.ModelAdmin):
    """Read-only: a confirmed snapshot is the record of what was decided."""

    list_display = ("edition", "version", "confirmed_by", "confirmed_at", "announced_at")
    list_filter = ("edition",)
    search_fields = ("revision_reason",)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
