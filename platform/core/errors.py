"""The one family of application errors: a refusal.

A service raises a `Refused` (or its app's subclass) when the rules do not allow an action;
the message is written for the person who asked. Pages show it as a message on the next
page (`attempt`), the API answers {"detail": message} with the refusal's status
(`api_exception_handler`), and one that a view lets through gets the refusal page
(`RefusalMiddleware`) instead of a server error.
"""

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from rest_framework.response import Response
from rest_framework.views import exception_handler


class Refused(Exception):
    """An action the rules do not allow, with the reason to show. `status`: for the API."""

    status = 400

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status


def attempt(
    request: HttpRequest, action: Callable[[], Any], success: str | None = None
) -> tuple[bool, Any]:
    """Run a service call for a page: (True, its result), or (False, None) with the refusal
    shown as an error message on the next page. `success` is shown when it went through."""
    try:
        result = action()
    except Refused as refused:
        messages.error(request, str(refused))
        return False, None
    if success:
        messages.success(request, success)
    return True, result


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF's handler, plus: a refusal answers {"detail": its message} with its status."""
    if isinstance(exc, Refused):
        return Response({"detail": str(exc)}, status=exc.status)
    return exception_handler(exc, context)


class RefusalMiddleware:
    """A refusal no view caught: the refusal page with its message, not a server error."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, Refused):
            return render(
                request, "refused.html", {"message": str(exception)}, status=exception.status
            )
        return None
