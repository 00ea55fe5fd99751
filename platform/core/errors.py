"""The one family of application errors: a refusal.

A service raises a `Refused` (or its app's subclass) when the rules do not allow an action;
the message is written for the person who asked. Pages show it as a message on the next
page (`attempt`), the API answers {"detail": message} with the refusal's status
(`api_exception_handler`), and one that a view lets through gets the refusal page
(`RefusalMiddleware`) instead of a server error.

The same page serves every error a person can meet (403, 404, 405, 429, 500, 503): the site's
navigation, what happened and why, and a way on. `RefusalMiddleware` also replaces the bare
responses Django makes itself (a view's `HttpResponseNotAllowed`, the debug 404 page while
DEBUG is on, as in the demo), and `config.urls` points Django's handler403/404/500 here, so
production and the demo show the same pages.
"""

import logging
import sys
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from rest_framework.response import Response
from rest_framework.views import exception_handler

logger = logging.getLogger(__name__)


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


# What each error page says when the error itself carries no reason.
ERROR_PAGES: dict[int, tuple[str, str]] = {
    400: ("That request was not understood", "The request could not be read."),
    403: ("That is not allowed", "Your account does not have access to this page."),
    404: ("Page not found", "There is no page at this address, or it is not shown to you."),
    405: (
        "That page is for sending a form",
        "This address only accepts a form sent from its page (a button), not a visit.",
    ),
    429: (
        "Too many tries from your address",
        "Too many sign-ups, logins or password changes came from your network in the last "
        "minute: wait a minute and try again.",
    ),
    500: ("Something went wrong on our side", "The error was logged; please try again later."),
    503: (
        "Try again in a moment",
        "The database could not answer just now (it may be restarting): try again in a "
        "few seconds.",
    ),
}
# Seconds a client is told to wait when the database is away (a restart takes a few).
DATABASE_RETRY_AFTER_S = 5


def error_page(request: HttpRequest, status: int, message: str = "") -> HttpResponse:
    """The one error page: the site's navigation, a title for the status and the reason."""
    title, default = ERROR_PAGES.get(status, ERROR_PAGES[400])
    context = {"title": title, "message": message or default, "status": status}
    try:
        response = render(request, "refused.html", context, status=status)
    except Exception:  # noqa: BLE001 - a failing page (database down) must not hide the error
        if status not in (500, 503):
            raise
        response = HttpResponse(f"<h1>{title}</h1><p>{default}</p>", status=status)
    response.friendly_error = True  # type: ignore[attr-defined]
    return response


def _reason(exception: Exception | None) -> str:
    # Django's own 404s ("No Lab matches the given query.") name models, not reasons.
    if isinstance(exception, PermissionDenied) and exception.args:
        return str(exception)
    return ""


def handler403(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return error_page(request, 403, _reason(exception))


def _is_api(request: HttpRequest) -> bool:
    """The JSON API answers its errors as JSON, like every other API answer."""
    return request.path.startswith("/api/")


def handler404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_api(request):
        return JsonResponse({"detail": "Not found."}, status=404)
    return error_page(request, 404)


def handler429(request: HttpRequest) -> HttpResponse:
    """allauth's limits per address (sign-ups, logins, passwords from an emailed link) call
    this (config.urls): the site's page, not allauth's bare one."""
    response = error_page(request, 429)
    response["Retry-After"] = "60"
    return response


def handler500(request: HttpRequest) -> HttpResponse:
    """Django calls this inside its `except`: a database that could not answer (PostgreSQL
    restarting, a dropped connection, a transaction it chose to abort) is a 503 with
    Retry-After, which clients and people retry; the request's transaction was rolled back.
    The log keeps the cause: an abort outside a restart is a defect to look at."""
    if isinstance(sys.exc_info()[1], OperationalError | InterfaceError):
        logger.warning("database unavailable: %s", sys.exc_info()[1])
        if _is_api(request):
            response: HttpResponse = JsonResponse({"detail": ERROR_PAGES[503][1]}, status=503)
        else:
            response = error_page(request, 503)
        response["Retry-After"] = str(DATABASE_RETRY_AFTER_S)
        return response
    if _is_api(request):
        return JsonResponse({"detail": "Server error."}, status=500)
    return error_page(request, 500)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """settings.CSRF_FAILURE_VIEW: a form sent from a stale page (or another site)."""
    return error_page(
        request,
        403,
        "The form was sent from a page that is out of date (or from another site). "
        "Go back, reload the page and send it again.",
    )


NUL_REFUSED = "A NUL character is not allowed in an address or its parameters."


def _has_nul(data) -> bool:
    return any("\x00" in key or any("\x00" in v for v in values) for key, values in data.lists())


class NulRefusalMiddleware:
    """A NUL byte anywhere a request's text reaches the database is refused before anything
    reads it: PostgreSQL takes none in a text field, so a lookup or a save with one was a
    server error (`?edition=a%00`, a login name, a token name sent as JSON, a session
    cookie). The path, query, form fields and JSON bodies (where NUL can only be the escape
    \\u0000) get a 400 with the reason; a cookie with one is dropped (no browser sends one).
    Uploaded files are not looked at: they may hold any byte. Early in MIDDLEWARE: after
    the size ceiling, before the session is read."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        for name in [n for n, v in request.COOKIES.items() if "\x00" in n or "\x00" in v]:
            del request.COOKIES[name]
        form = request.method == "POST" and request.content_type in (
            "application/x-www-form-urlencoded",
            "multipart/form-data",
        )
        json = request.content_type == "application/json"
        if (
            "\x00" in request.path
            or _has_nul(request.GET)
            or (form and _has_nul(request.POST))
            or (json and b"\\u0000" in request.body.lower())
        ):
            if _is_api(request):
                return JsonResponse({"detail": NUL_REFUSED}, status=400)
            return error_page(request, 400, NUL_REFUSED)
        return self.get_response(request)


class RefusalMiddleware:
    """A refusal no view caught: the refusal page with its message, not a server error.

    It also gives a page to Django's bare error responses: the empty 405 of a POST-only view
    visited by GET, and the 403/404 responses (the debug 404 page included) of anything that
    is not the JSON API or a file download."""

    FRIENDLY_STATUSES = (403, 404, 405)

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            response.status_code in self.FRIENDLY_STATUSES
            and not getattr(response, "friendly_error", False)
            and not response.streaming
            and response.get("Content-Type", "").startswith("text/html")
        ):
            friendly = error_page(request, response.status_code)
            if response.has_header("Allow"):
                friendly["Allow"] = response["Allow"]
            return friendly
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, Refused):
            return render(
                request, "refused.html", {"message": str(exception)}, status=exception.status
            )
        if isinstance(exception, PermissionDenied):
            return error_page(request, 403, _reason(exception))
        if isinstance(exception, Http404):
            return error_page(request, 404)
        return None
