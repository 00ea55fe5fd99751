from django.contrib import admin

from .models import WorkerHeartbeat


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(admin.ModelAdmin):
    list_display = ("hostname", "queues", "backend", "gpus", "last_seen", "stopped_at")
    list_filter = ("backend",)
    search_fields = ("hostname",)
