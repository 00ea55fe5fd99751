from django.contrib import admin

from .models import LeaderboardBaseline


@admin.register(LeaderboardBaseline)
class LeaderboardBaselineAdmin(admin.ModelAdmin):
    list_display = ("label", "lab", "entry", "marked_by", "marked_at")
    list_filter = ("lab__edition", "lab")
    raw_id_fields = ("entry", "marked_by")
