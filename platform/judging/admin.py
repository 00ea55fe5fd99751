from django.contrib import admin

from .models import EntryScore, JudgeAssignment, LabJudging, PitchBallot


@admin.register(LabJudging)
class LabJudgingAdmin(admin.ModelAdmin):
    list_display = ("lab", "finalists", "judging_closed", "closed_at")


@admin.register(JudgeAssignment)
class JudgeAssignmentAdmin(admin.ModelAdmin):
    list_display = ("lab", "judge", "assigned_by", "assigned_at")
    list_filter = ("lab__edition", "lab")


@admin.register(EntryScore)
class EntryScoreAdmin(admin.ModelAdmin):
    list_display = ("entry", "judge", "soundness", "descriptions", "updated_at")
    list_filter = ("entry__lab",)
    raw_id_fields = ("entry", "judge")


@admin.register(PitchBallot)
class PitchBallotAdmin(admin.ModelAdmin):
    list_display = ("group", "judge", "novelty", "soundness", "clarity", "updated_at")
    list_filter = ("group__edition", "judge")
    search_fields = ("group__name", "judge__username", "comment")
