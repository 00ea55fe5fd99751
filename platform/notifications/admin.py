from django.contrib import admin

from .models import ReminderOptOut, SentEmail


@admin.register(SentEmail)
class SentEmailAdmin(admin.ModelAdmin):
    list_display = ("kind", "key", "user", "sent_at")
    list_filter = ("kind",)
    search_fields = ("key", "user__username", "user__email")


@admin.register(ReminderOptOut)
class ReminderOptOutAdmin(admin.ModelAdmin):
    list_display = ("user", "created_at")
    search_fields = ("user__username", "user__email")
