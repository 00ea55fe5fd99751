"""The one staff check. Pages and services call it; what a refusal raises is the caller's
choice (a 403 by default, or the app's refusal so the message shows on the page)."""

from django.core.exceptions import PermissionDenied


def require_staff(
    user, message: str = "Only course staff can do this.", error: type[Exception] = PermissionDenied
) -> None:
    if not (user.is_authenticated and user.is_course_staff):
        raise error(message)
