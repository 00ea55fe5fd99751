"""Request-rate limits beyond DRF's per-user and per-address API throttles.

Uploads are expensive (a sandbox run each), so each person also has an upload rate
(`UPLOAD_RATE`, e.g. "30/hour") shared by the API and the browser form. The grading quotas
per day and in total stay the course's rule; this only stops floods.
"""

from math import ceil

from rest_framework.throttling import SimpleRateThrottle

UPLOAD_SCOPE = "uploads"


class UploadRateThrottle(SimpleRateThrottle):
    """Counts POSTs to views whose `throttle_scope` is "uploads", per person."""

    scope = UPLOAD_SCOPE

    def allow_request(self, request, view) -> bool:
        if request.method != "POST":
            return True
        if view is not None and getattr(view, "throttle_scope", None) != UPLOAD_SCOPE:
            return True
        return super().allow_request(request, view)

    def get_cache_key(self, request, view) -> str | None:
        if not request.user.is_authenticated:
            return None  # anonymous uploads are refused by authentication anyway
        return self.cache_format % {"scope": self.scope, "ident": request.user.pk}


def upload_refusal(request) -> str | None:
    """For the browser form: None when the upload may go ahead, else why not (and for how long)."""
    throttle = UploadRateThrottle()
    if throttle.allow_request(request, None):
        return None
    wait = ceil(throttle.wait() or 1)
    return f"Too many uploads in a short time: try again in {wait} seconds."
