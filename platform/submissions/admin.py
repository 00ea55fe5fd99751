from django.contrib import admin

from .models import Entry, GradingRun, Participant, RunEvent


class RunEventInline(admin.TabularInline):
    model = RunEvent
    extra = 0
    readonly_fields = ("at", "from_status", "to_status", "note")
    can_delete = False


@admin.register(Entry)
class EntryAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "lab",
        "user",
        "original_name",
        "status",
        "counts_toward_quota",
        "created_at",
    )
    list_filter = ("status", "lab__edition", "lab__spec_id", "kind", "counts_toward_quota")
    search_fields = ("user__username", "user__email", "original_name", "sha256")
    readonly_fields = ("uid", "sha256", "size_bytes", "created_at", "status", "counts_toward_quota")
    raw_id_fields = ("user", "participant")


@admin.register(GradingRun)
class GradingRunAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "entry",
        "split",
        "status",
        "queue",
        "worker",
        "deliveries",
        "queued_at",
        "finished_at",
    )
    list_filter = ("status", "split", "queue", "entry__lab__spec_id")
    search_fields = ("entry__user__username", "worker", "reason")
    readonly_fields = [f.name for f in GradingRun._meta.fields]
    inlines = [RunEventInline]

    def has_add_permission(self, request) -> bool:
        return False  # runs are made by uploads and re-grades, which keep the state machine


@admin.register(Participant)
class ParticipantAdmin(admin.ModelAdmin):
    list_display = ("user", "lab", "final_entry")
    list_filter = ("lab__edition", "lab__spec_id")
    search_fields = ("user__username", "user__email")
    raw_id_fields = ("user",)
    # Chosen by the student (within their window) and by the lab's rule, never typed here:
    # the services check the phase and the board follows.
    readonly_fields = ("final_entry", "standing_run")
