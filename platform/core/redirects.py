"""The one rule for following a `next` after a POST: only to a path on this site.

A page may send people back where they came from, but a `next` is whatever the request
says, so an attacker's link could otherwise bounce a logged-in user to their own site.
"""

from urllib.parse import urlsplit

from django.http import HttpRequest, HttpResponseRedirect
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme


def next_path(request: HttpRequest) -> str | None:
    """The request's `next` (POST, else query) when it is a same-site path, else None."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    parts = urlsplit(target)
    if not target.startswith("/") or parts.scheme or parts.netloc:
        return None  # a path only: no scheme, no host ("//evil.example", "javascript:")
    # Django's check also catches what browsers read as a host ("/\\evil.example").
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return None
    return target


def redirect_next(request: HttpRequest, fallback: str, *args, **kwargs) -> HttpResponseRedirect:
    """Follow a same-site `next`, else go to `fallback` (a URL name with its arguments)."""
    target = next_path(request)
    return HttpResponseRedirect(target) if target else redirect(fallback, *args, **kwargs)
