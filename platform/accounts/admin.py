from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from .models import ApiToken, User
from .services import login_unlock


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = (
        "username",
        "email",
        "first_name",
        "last_name",
        "role",
        "affiliation",
        "affiliation_status",
    )
    list_filter = ("role", "affiliation", "affiliation_source", "is_active")
    search_fields = ("username", "email", "first_name", "last_name")
    fieldsets = (
        *(BaseUserAdmin.fieldsets or ()),
        ("Course", {"fields": ("role", "affiliation", "affiliation_source")}),
    )
    add_fieldsets = (
        *BaseUserAdmin.add_fieldsets,
        ("Course", {"fields": ("role", "affiliation", "affiliation_source")}),
    )
    actions = ["unlock_login"]

    @admin.display(description="verified?", ordering="affiliation_source")
    def affiliation_status(self, user: User) -> str:
        return "verified" if user.affiliation_verified else "self-declared"

    @admin.action(description="Unlock login (clear failed attempts for these accounts)")
    def unlock_login(self, request, queryset) -> None:
        cleared = sum(login_unlock(by=request.user, login=user.username) for user in queryset)
        self.message_user(
            request,
            f"Cleared {cleared} lockout record(s). Locked addresses: see People (staff pages).",
            messages.SUCCESS,
        )


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
