from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from .models import ApiToken, User


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ("username", "email", "first_name", "last_name", "role", "affiliation")
    list_filter = ("role", "affiliation", "is_active")
    search_fields = ("username", "email", "first_name", "last_name")
    fieldsets = (*(BaseUserAdmin.fieldsets or ()), ("Course", {"fields": ("role", "affiliation")}))
    add_fieldsets = BaseUserAdmin.add_fieldsets + (("Course", {"fields": ("role", "affiliation")}),)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "user", "prefix", "created_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("name", "prefix", "user__username", "user__email")
    readonly_fields = ("prefix", "key_hash", "created_at", "last_used_at")
    actions = ["revoke"]

    def has_add_permission(self, request) -> bool:
        return False  # keys are shown once to their owner; staff never mint them

    @admin.action(description="Revoke selected tokens")
    def revoke(self, request, queryset) -> None:
        for token in queryset:
            token.revoke()
